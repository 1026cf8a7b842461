"""Route templates for `route` and `page`, and secrets scrubbed out of `url` and `referrer`.

A path segment that is an identifier rather than a name becomes a placeholder, so
`/orders/8812/items/3f2a...` groups with every other order: numbers -> {id}, UUIDs -> {uuid},
long hex -> {hash}, emails -> {email}, long tokens mixing letters and digits -> {token}.
Templating is idempotent, so values a source already templated pass through unchanged.
Each distinct value is worked out once per batch (and memoised across batches).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc

from seamline.transforms._context import Context

REDACTED = "redacted"
_MEMO_LIMIT = 200_000  # distinct values remembered per kind before the memo starts over

# (placeholder, full-segment pattern), tried in order.
SEGMENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("{id}", re.compile(r"^\d+$")),
    ("{uuid}", re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")),
    ("{hash}", re.compile(r"^[0-9a-fA-F]{16,}$")),
    ("{email}", re.compile(r"^[^@/\s]+@[^@/\s]+\.[A-Za-z]{2,}$")),
)
_TOKEN = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-.~+=]{20,}$")
_EMAIL_VALUE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")

# Query (and matrix) parameter names whose values are secrets or personal data, matched
# against the name's words (`access_token`, `apiKey`, `X-Amz-Signature` all match).
SECRET_WORDS = frozenset(
    {
        "token",
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "key",
        "apikey",
        "auth",
        "authorization",
        "session",
        "sessionid",
        "sessid",
        "jsessionid",
        "phpsessid",
        "sid",
        "email",
        "mail",
        "code",
        "sig",
        "signature",
        "otp",
        "jwt",
        "credential",
        "credentials",
        "hmac",
        "nonce",
    }
)
SECRET_SUFFIXES = ("token", "password", "secret", "sessionid", "sessid", "apikey", "signature")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


def _is_slug(segment: str) -> bool:
    # "summer-sale-2024-shoes" is a name with a number in it, not a token.
    parts = segment.split("-")
    return len(parts) > 1 and 2 * sum(p.isalpha() for p in parts) >= len(parts)


def template_segment(segment: str) -> str:
    """The placeholder for an identifier-like path segment, or the segment unchanged."""
    if not segment or segment[0] == "{":
        return segment
    if segment[0].isdigit() and segment.isdigit():
        return "{id}"
    decoded = unquote(segment) if "%" in segment else segment
    for placeholder, pattern in SEGMENT_PATTERNS:
        if pattern.match(decoded):
            return placeholder
    if len(decoded) >= 20 and _TOKEN.match(decoded) and not _is_slug(decoded):
        return "{token}"
    return segment


def template_path(path: str) -> str:
    """A path with identifier segments replaced; query, fragment and ;params removed."""
    for sep in ("?", "#"):
        cut = path.find(sep)
        if cut != -1:
            path = path[:cut]
    if "://" in path[:12] or path.startswith("//"):
        path = _split(path)[2]
    if not path:
        return "/"
    parts = path.split("/")
    out = []
    for part in parts:
        semi = part.find(";")
        if semi != -1:
            part = part[:semi]
        out.append(template_segment(part))
    return "/".join(out)


def _split(url: str) -> tuple[str, str, str, str, str]:
    try:
        return tuple(urlsplit(url))  # type: ignore[return-value]
    except ValueError:  # an unparseable host; keep the text as a path
        return ("", "", url, "", "")


def is_secret_name(name: str) -> bool:
    """True when a parameter name says its value is a secret or personal (token, email...)."""
    lowered = _CAMEL.sub("_", unquote(name)).lower()
    words = [w for w in _WORD_SPLIT.split(lowered) if w]
    if any(w in SECRET_WORDS for w in words):
        return True
    joined = "".join(words)
    return joined in SECRET_WORDS or joined.endswith(SECRET_SUFFIXES)


def scrub_query(query: str) -> str:
    """A query string with secret or personal values replaced by `redacted`; names are kept."""
    if not query:
        return query
    out = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and value and (is_secret_name(name) or _EMAIL_VALUE.match(unquote(value))):
            pair = f"{name}={REDACTED}"
        out.append(pair)
    return "&".join(out)


def _scrub_segment(segment: str) -> str:
    # Ids stay in a URL (they help debugging); personal data and secrets do not.
    name, semi, params = segment.partition(";")
    decoded = unquote(name) if "%" in name else name
    if "@" in decoded and _EMAIL_VALUE.match(decoded):
        name = "{email}"
    elif len(decoded) >= 20 and _TOKEN.match(decoded) and not _is_slug(decoded):
        name = "{token}"
    return name + semi + scrub_query(params.replace(";", "&")).replace("&", ";") if semi else name


def scrub_url(url: str) -> str:
    """A URL without its fragment, with secret query values and emails/tokens in the path removed."""
    scheme, netloc, path, query, _ = _split(url)
    if "@" in netloc:  # user:password@host
        netloc = netloc.rsplit("@", 1)[1]
    path = "/".join(_scrub_segment(s) for s in path.split("/"))
    return urlunsplit((scheme, netloc, path, scrub_query(query), ""))


def _memoised(ctx: Context, name: str, fn: Callable[[str], str]) -> Callable[[str], str]:
    memo = ctx.memo(name)

    def cached(value: str) -> str:
        out = memo.get(value)
        if out is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            out = memo[value] = fn(value)
        return out

    return cached


def map_distinct(column: pa.Array, fn: Callable[[str], str]) -> pa.Array:
    """Apply `fn` once per distinct non-null string and spread the results back over the rows."""
    if column.null_count == len(column):
        return column
    unique = pc.unique(column).drop_null()
    mapped = pa.array([fn(v) for v in unique.to_pylist()], type=pa.string())
    return pc.take(mapped, pc.index_in(column, value_set=unique))


def _route_from_url(url: str) -> str:
    return template_path(_split(url)[2] if "://" in url[:12] or url.startswith("//") else url)


def template_routes(batch: pa.RecordBatch, ctx: Context) -> pa.RecordBatch:
    """Template `route` (from `url` where missing) and `page`; scrub `url` and `referrer`."""
    if batch.num_rows == 0:
        return batch
    schema = batch.schema
    columns = list(batch.columns)
    template = _memoised(ctx, "routes.template", template_path)
    url_i, route_i = schema.get_field_index("url"), schema.get_field_index("route")
    url = batch.column(url_i)
    route = map_distinct(batch.column(route_i), template)
    if route.null_count and url.null_count < len(url):
        route = pc.coalesce(route, map_distinct(url, _memoised(ctx, "routes.url", _route_from_url)))
    columns[route_i] = route
    page_i = schema.get_field_index("page")
    columns[page_i] = map_distinct(batch.column(page_i), template)
    scrub = _memoised(ctx, "routes.scrub", scrub_url)
    columns[url_i] = map_distinct(url, scrub)
    ref_i = schema.get_field_index("referrer")
    columns[ref_i] = map_distinct(batch.column(ref_i), scrub)
    return pa.RecordBatch.from_arrays(columns, schema=schema)
