"""The Seamline web UI: pages over the views, their JSON twins, saved views (mounted by `seamline serve`)."""

from seamline.web.ui.routes import create_ui_router, mount_ui

__all__ = ["create_ui_router", "mount_ui"]
