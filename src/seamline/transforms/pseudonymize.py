"""Replace raw personal identifiers with keyed HMAC pseudonyms before anything is stored.

The same raw id always maps to the same pseudonym under one key, so a user still links
across client and server records without the store ever holding who they are. IPv4
addresses are truncated to a prefix (default /24) and IPv6 to /48 before hashing, so the
pseudonym identifies a network, not a household.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pyarrow as pa
import pyarrow.compute as pc

from seamline.transforms._context import Context

PSEUDONYM_COLUMNS = ("user_id", "anonymous_id", "device_id", "client_ip")
_PREFIX = "p_"


def pseudonym(key: bytes, value: str, purpose: str) -> str:
    """Keyed HMAC-SHA256 of a value, 24 hex digits; `purpose` keeps id kinds from colliding."""
    digest = hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return _PREFIX + digest[:24]


def truncate_ip(text: str, v4_prefix: int = 24, v6_prefix: int = 48) -> str:
    """The network prefix of an IP address as text; non-IP text is returned unchanged."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return text
    prefix = v4_prefix if ip.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def _map_unique(column: pa.ChunkedArray | pa.Array, fn: object) -> pa.Array:
    # Hash each distinct value once: a batch has far fewer users than rows.
    unique = pc.unique(column).drop_null()
    if len(unique) == 0:
        return column
    mapped = pa.array([fn(v) for v in unique.to_pylist()], type=pa.string())  # type: ignore[operator]
    return pc.take(mapped, pc.index_in(column, value_set=unique))


def pseudonymize(batch: pa.RecordBatch, ctx: Context) -> pa.RecordBatch:
    """Replace identity columns with pseudonyms (already-pseudonymized values pass through)."""
    if ctx.settings.store_raw_identifiers:
        return batch
    key = ctx.pseudonym_key
    v4 = ctx.settings.ip_prefix_v4
    columns = list(batch.columns)
    for name in PSEUDONYM_COLUMNS:
        i = batch.schema.get_field_index(name)
        col = batch.column(i)
        if col.null_count == len(col):
            continue
        if name == "client_ip":

            def fn(v: str, key: bytes = key) -> str:
                return v if v.startswith(_PREFIX) else pseudonym(key, truncate_ip(v, v4), "ip")
        else:

            def fn(v: str, key: bytes = key, purpose: str = name) -> str:
                return v if v.startswith(_PREFIX) else pseudonym(key, v, purpose)

        columns[i] = _map_unique(col, fn)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
