"""`python -m seamline.demo_shop`: serve the demo shop on a loopback port."""

from __future__ import annotations

import argparse

import uvicorn

from seamline.demo_shop.app import create_shop


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m seamline.demo_shop", description=__doc__)
    parser.add_argument("--port", type=int, default=8471, help="port to serve on (default 8471)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--seamline", default="http://127.0.0.1:8470", help="base URL of `seamline serve`")
    parser.add_argument(
        "--log",
        default="demo-shop.ndjson",
        help="JSON request log: a file, '-' for stdout, or Seamline's URL to post it to /v1/json-logs",
    )
    parser.add_argument("--sample-rate", type=float, default=1.0, help="head sampling rate for SDK and server, 0..1")
    parser.add_argument("--flush-ms", type=int, default=1000, help="how long the SDK batches events before sending")
    args = parser.parse_args(argv)
    shop = create_shop(args.seamline, args.log, args.sample_rate, args.flush_ms)
    uvicorn.run(shop, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
