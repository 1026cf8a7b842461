"""Browser, major version, OS and device class from the raw User-Agent, where not yet known.

ua-parser's pure-Python resolver costs about a millisecond per string, but a batch holds few
distinct user agents, so each is parsed once and remembered in the context for later batches.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
from ua_parser import parse

from seamline.transforms._context import Context

OUTPUT_COLUMNS = ("browser", "browser_version", "os", "device_type")
_MEMO_LIMIT = 50_000

# Automated clients that announce themselves; ua-parser tags crawlers as device "Spider" but
# misses uptime checkers, probes and headless browsers.
_BOT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|headless|lighthouse|pingdom|uptime|monitor|"
    r"probe|healthcheck|health-check|checker|phantomjs|selenium|puppeteer|playwright",
    re.IGNORECASE,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk|playbook|nexus (?:7|9|10)", re.IGNORECASE)
MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS"})
DESKTOP_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Fedora",
        "Debian",
        "Chrome OS",
        "ChromeOS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)

Parsed = tuple[str | None, str | None, str | None, str]


def device_type(ua: str, os_family: str | None, device_family: str | None, brand: str | None) -> str:
    """desktop, mobile, tablet, bot or other, from the parsed parts and the raw string."""
    if device_family == "Spider" or _BOT.search(ua):
        return "bot"
    if (device_family and _TABLET.search(device_family)) or (brand and "Tablet" in brand):
        return "tablet"
    if _TABLET.search(ua) or (os_family == "Android" and "Mobile" not in ua):
        return "tablet"  # Android tablets are the Android browsers without the Mobile token
    if os_family in MOBILE_OS or "Mobi" in ua:
        return "mobile"
    if os_family in DESKTOP_OS or device_family == "Mac":
        return "desktop"
    return "other"


def parse_one(ua: str) -> Parsed:
    """(browser, browser major version, os, device type) for one User-Agent string."""
    result = parse(ua)
    agent, os, device = result.user_agent, result.os, result.device
    browser = agent.family if agent and agent.family != "Other" else None
    version = agent.major if agent and browser else None
    os_family = os.family if os and os.family != "Other" else None
    kind = device_type(ua, os_family, device.family if device else None, device.brand if device else None)
    return browser, version, os_family, kind


def parse_user_agent(batch: pa.RecordBatch, ctx: Context) -> pa.RecordBatch:
    """Fill browser, browser_version, os and device_type from user_agent where they are null."""
    schema = batch.schema
    ua_col = batch.column(schema.get_field_index("user_agent"))
    if ua_col.null_count == len(ua_col):
        return batch
    indices = [schema.get_field_index(name) for name in OUTPUT_COLUMNS]
    if all(batch.column(i).null_count == 0 for i in indices):
        return batch
    memo = ctx.memo("ua")
    unique = pc.unique(ua_col).drop_null()
    parsed: list[Parsed] = []
    for ua in unique.to_pylist():
        hit = memo.get(ua)
        if hit is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            hit = memo[ua] = parse_one(ua)
        parsed.append(hit)
    positions = pc.index_in(ua_col, value_set=unique)
    columns = list(batch.columns)
    for j, i in enumerate(indices):
        values = pa.array([p[j] for p in parsed], type=pa.string())
        columns[i] = pc.coalesce(batch.column(i), pc.take(values, positions))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
