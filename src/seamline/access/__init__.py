"""Access control: API tokens with roles, enforcement for HTTP and the CLI, and the audit log.

Public surface: `roles` (what each role may do and what each route, view and command needs),
`tokens` (create, list, revoke, authenticate), `audit.record`/`audit.read`. The HTTP middleware
(`_http.install`) and the CLI guard (`_cli.GuardedGroup`) are wired in by the server and the CLI.
"""

from seamline.access import audit, roles, tokens
from seamline.access.roles import ROLE_CAPS, VIEW_CLASS, Cap, allows, view_cap
from seamline.access.tokens import AuthError, Principal, TokenError

__all__ = [
    "ROLE_CAPS",
    "VIEW_CLASS",
    "AuthError",
    "Cap",
    "Principal",
    "TokenError",
    "allows",
    "audit",
    "roles",
    "tokens",
    "view_cap",
]
