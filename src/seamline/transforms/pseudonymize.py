"""Replace raw personal identifiers with keyed HMAC pseudonyms before anything is stored.

The same raw id always maps to the same pseudonym under one key, so a user still links
across client and server records without the store ever holding who they are. IPv4
addresses are truncated to a prefix (`ip_prefix_v4`, default /24) and IPv6 to
`ip_prefix_v6` (default /48) before hashing, so the pseudonym identifies a network, not a
household. Attributes whose key names an identifier (`enduser.id`, `customer_id`,
`client.address`...) are hashed the same way, so they link to the columns.

After a key rotation (`seamline.keys`), each raw id is also hashed with the retired keys
still inside the retention window; the (old, new) pairs are queued on the context and the
pipeline rewrites the old pseudonyms in the store, so one person keeps one pseudonym.
Nothing is hashed when `store_raw_identifiers` is on.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from seamline.keys import note_relink
from seamline.transforms._context import Context

PSEUDONYM_COLUMNS = ("user_id", "anonymous_id", "device_id", "client_ip")
_PREFIX = "p_"
RELINK_MEMO = "pseudonym.relink"
_KEY_SLOT = "\x00key"  # not a possible id: marks which key a cache's pseudonyms were made with
_CACHE_LIMIT = 500_000


def pseudonym(key: bytes, value: str, purpose: str) -> str:
    """Keyed HMAC-SHA256 of a value, 24 hex digits; `purpose` keeps id kinds from colliding."""
    digest = hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return _PREFIX + digest[:24]


def _v4_int(text: str) -> int | None:
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        # Same rules as ipaddress: 1-3 digits, no leading zero, at most 255.
        if not (part.isascii() and part.isdigit()) or len(part) > 3 or (len(part) > 1 and part[0] == "0"):
            return None
        if int(part) > 255:
            return None
        value = value << 8 | int(part)
    return value


def truncate_ip(text: str, v4_prefix: int = 24, v6_prefix: int = 48) -> str:
    """The network prefix of an IP address as text; non-IP text is returned unchanged."""
    stripped = text.strip()
    v4 = _v4_int(stripped) if stripped[:1].isdigit() and "." in stripped and ":" not in stripped else None
    if v4 is not None:  # the common case, without ipaddress's parsing (a hot path: one call per distinct IP)
        v4 &= (0xFFFFFFFF << (32 - v4_prefix)) & 0xFFFFFFFF
        return f"{v4 >> 24}.{v4 >> 16 & 255}.{v4 >> 8 & 255}.{v4 & 255}"
    try:
        ip = ipaddress.ip_address(stripped)
    except ValueError:
        return text
    bits = 32 if ip.version == 4 else 128
    prefix = v4_prefix if ip.version == 4 else v6_prefix
    mask = ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)
    return str(type(ip)(int(ip) & mask))


def _hasher(ctx: Context, purpose: str) -> Callable[[str], str]:
    key, old_keys = ctx.pseudonym_key, ctx.linking_keys
    v4, v6 = ctx.settings.ip_prefix_v4, ctx.settings.ip_prefix_v6
    relink = ctx.memo(RELINK_MEMO)
    # Remembered across batches (the same users and networks come back), for the current key only.
    cache = ctx.memo(f"pseudonym.{purpose}")
    if cache.get(_KEY_SLOT) != key or len(cache) > _CACHE_LIMIT:
        cache.clear()
        cache[_KEY_SLOT] = key

    def fn(value: str) -> str:
        hit = cache.get(value)
        if hit is not None:
            return hit
        if value.startswith(_PREFIX):
            return value  # already a pseudonym (a client may send one; reingest of quarantine)
        raw = truncate_ip(value, v4, v6) if purpose == "ip" else value
        new = cache[value] = pseudonym(key, raw, purpose)
        for old_key in old_keys:
            note_relink(relink, pseudonym(old_key, raw, purpose), new)
        return new

    return fn


def ip_pseudonym(ctx: Context, value: str) -> str:
    """The pseudonym of one IP address (truncated first), as the client_ip column gets it."""
    return _hasher(ctx, "ip")(value)


def _map_unique(column: pa.ChunkedArray | pa.Array, fn: Callable[[str], str]) -> pa.Array:
    # Hash each distinct value once: a batch has far fewer users than rows.
    unique = pc.unique(column).drop_null()
    if len(unique) == 0:
        return column
    mapped = pa.array([fn(v) for v in unique.to_pylist()], type=pa.string())
    return pc.take(mapped, pc.index_in(column, value_set=unique))


def _attribute_ids(column: pa.MapArray, ctx: Context) -> pa.MapArray:
    from seamline.transforms.scrub_pii import identifier_purpose

    keys, items = column.keys, column.items
    if len(keys) == 0:
        return column
    distinct = pc.unique(keys).to_pylist()
    purposes = {k: identifier_purpose(k) for k in distinct if k is not None}
    id_keys = [k for k, p in purposes.items() if p]
    if not id_keys:
        return column
    new_items = items
    for purpose in sorted({purposes[k] for k in id_keys}):  # type: ignore[type-var]
        mask = pc.is_in(keys, value_set=pa.array([k for k in id_keys if purposes[k] == purpose], keys.type))
        picked = items.filter(mask)
        hashed = _map_unique(picked, _hasher(ctx, purpose))  # type: ignore[arg-type]
        new_items = pc.replace_with_mask(new_items, mask, hashed.cast(items.type))
    return pa.MapArray.from_arrays(column.offsets, keys, new_items, type=column.type, mask=column.is_null())


def pseudonymize(batch: pa.RecordBatch, ctx: Context) -> pa.RecordBatch:
    """Replace identity columns (and identifier attributes) with pseudonyms."""
    if ctx.settings.store_raw_identifiers or batch.num_rows == 0:
        return batch
    ctx.refresh_keys()
    columns = list(batch.columns)
    for name in PSEUDONYM_COLUMNS:
        i = batch.schema.get_field_index(name)
        col = batch.column(i)
        if col.null_count == len(col):
            continue
        columns[i] = _map_unique(col, _hasher(ctx, "ip" if name == "client_ip" else name))
    i = batch.schema.get_field_index("attributes")
    if i >= 0 and batch.column(i).null_count < batch.num_rows:
        columns[i] = _attribute_ids(batch.column(i), ctx)  # type: ignore[arg-type]
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
