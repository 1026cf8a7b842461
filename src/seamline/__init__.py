"""Seamline joins server logs and client events into end-to-end transactions.

Data flows one way through the subpackages: sources -> transforms -> store -> correlate ->
views -> detect -> playbooks, with the CLI and web UI as thin shells over `seamline.app.App`.
"""

from seamline.app import App
from seamline.dictionary import EVENTS, KINDS, Column, Privacy
from seamline.schema import EVENTS_SCHEMA, SCHEMA_VERSION
from seamline.settings import SETTINGS, Settings

__version__ = "0.1.0"

__all__ = [
    "EVENTS",
    "EVENTS_SCHEMA",
    "KINDS",
    "SCHEMA_VERSION",
    "SETTINGS",
    "App",
    "Column",
    "Privacy",
    "Settings",
    "__version__",
]
