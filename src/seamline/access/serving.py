"""Secure serving defaults: loopback unless access control is on; TLS options checked before start."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path


class InsecureBind(RuntimeError):
    """Refusing to listen beyond loopback without access control."""


def is_loopback(host: str) -> bool:
    """Whether an address (or 'localhost') only accepts connections from this machine."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_bind(host: str, auth_on: bool) -> None:
    """Serving on a non-loopback address needs tokens (secure by default)."""
    if auth_on or is_loopback(host):
        return
    raise InsecureBind(
        f"refusing to serve on {host} without access control: create an admin token first "
        "(`seamline tokens create --name admin --role admin`), then give clients tokens; or bind 127.0.0.1"
    )


def check_tls(cert: Path | None, key: Path | None) -> tuple[str, str] | None:
    """Both or neither; readable; a matching pair. Returns (cert, key) paths for uvicorn, or None."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("TLS needs both --tls-cert and --tls-key (or SEAMLINE_TLS_CERT and SEAMLINE_TLS_KEY)")
    for label, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise ValueError(f"TLS {label} file {path} does not exist")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"cannot use TLS certificate {cert} with key {key}: {exc}") from exc
    return str(cert), str(key)
