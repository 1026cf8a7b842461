"""A small demo shop instrumented with Seamline's browser SDK and ASGI middleware.

Run it with `python -m seamline.demo_shop --port 8471 --seamline http://127.0.0.1:8470 --log shop.ndjson`.
"""

from seamline.demo_shop.app import create_shop

__all__ = ["create_shop"]
