"""Session timeline: everything one browser session did and met, client and server, in time order.

Client side: every event the session's browser sent (page loads, clicks, requests, errors,
vitals). Server side: the gateway lines, service entries and dependency calls of the
session's transactions, and the warnings and errors its services logged on those traces.
Times are on the server clock (client events skew-corrected), so the two sides interleave.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from seamline.store.base import Store
from seamline.views._common import FAILED, ms, rows
from seamline.views.waterfall import _lane, _source, _what

_SLACK = timedelta(hours=1)
_COLUMNS = (
    "e.event_id, e.kind, e.ts, e.duration_ms, e.service, e.span_kind, e.span_status, e.name, e.http_method, "
    "e.route, e.url, e.http_status, e.level, e.message, e.error_type, e.error_message, e.source, e.origin, "
    "e.position, e.position_index, e.trace_id, e.page, e.value"
)
_MAX_ROWS = 5000


def session_timeline(store: Store, session_id: str, include_vitals: bool = True) -> dict[str, Any] | None:
    """The session's client events and server records in one ordered list, with its transactions."""
    txs = rows(
        store,
        f"""
        SELECT transaction_id, kind, flow, name, page, start_ts, e2e_ms, {FAILED} AS failed, user_key, release,
               backend_release, browser, region, segment, environment
        FROM transaction_facts WHERE session_id = ? ORDER BY start_ts
        """,
        [session_id],
    )
    bounds: list[Any] = []
    time_cond = "true"
    if txs:
        time_cond = "e.ts BETWEEN ? AND ?"
        bounds = [txs[0]["start_ts"] - _SLACK, txs[-1]["start_ts"] + _SLACK]
    kinds = "" if include_vitals else "AND e.kind NOT IN ('web_vital', 'resource')"
    client = rows(
        store,
        f"SELECT {_COLUMNS} FROM events e WHERE e.session_id = ? AND {time_cond} {kinds} ORDER BY e.ts LIMIT ?",
        [session_id, *bounds, _MAX_ROWS],
    )
    if not client and not txs:
        return None
    server: list[dict[str, Any]] = []
    if txs:
        server = rows(
            store,
            f"""
            WITH entries AS (
                SELECT event_id FROM request_facts
                WHERE session_id = ? AND layer IN ('gateway', 'service', 'dependency') AND ts BETWEEN ? AND ?
            ), hits AS (
                SELECT {_COLUMNS} FROM events e WHERE e.event_id IN (SELECT event_id FROM entries) AND {time_cond}
            )
            SELECT * FROM hits
            UNION ALL
            SELECT {_COLUMNS} FROM events e
            WHERE e.kind = 'server_log' AND e.level IN ('warn', 'error', 'fatal') AND {time_cond}
              AND e.trace_id IN (SELECT trace_id FROM hits WHERE trace_id IS NOT NULL)
            ORDER BY ts LIMIT ?
            """,
            [session_id, *bounds, *bounds, *bounds, _MAX_ROWS],
        )
    # Which transaction each record belongs to, and its database system, from the waterfall rows
    # the facts refresh wrote: no scan of event_transactions, and no read of the (costly) attributes map.
    member_of: dict[str, str] = {}
    db_system: dict[str, str | None] = {}
    if txs:
        members = rows(
            store,
            "SELECT event_id, transaction_id, fields FROM waterfall_rows "
            "WHERE start_ts BETWEEN ? AND ? AND session_id = ?",
            [txs[0]["start_ts"], txs[-1]["start_ts"], session_id],
        )
        for m in members:
            member_of[m["event_id"]] = m["transaction_id"]
            db_system[m["event_id"]] = orjson.loads(m["fields"])["db_system"]
    timeline = []
    for side, records in (("client", client), ("server", server)):
        for r in records:
            r["db_system"] = db_system.get(r["event_id"])
            what = _what(r)
            if r["kind"] == "web_vital":
                what = f"{r['name']} {r['value']:.3g}" if r["value"] is not None else str(r["name"])
            timeline.append(
                {
                    "ts": r["ts"],
                    "side": side,
                    "lane": _lane(r),
                    "kind": r["kind"],
                    "what": what,
                    "page": r["page"],
                    "status": r["http_status"] if r["http_status"] is not None else r["span_status"],
                    "level": r["level"],
                    "duration_ms": ms(r["duration_ms"]),
                    "transaction_id": member_of.get(r["event_id"]),
                    "event_id": r["event_id"],
                    "source": _source(r),
                    "origin": r["origin"],
                    "position": r["position"],
                }
            )
    timeline.sort(key=lambda r: (r["ts"], r["side"] != "client"))
    first = txs[0] if txs else {}
    summary = {
        "session_id": session_id,
        "start": timeline[0]["ts"] if timeline else None,
        "end": timeline[-1]["ts"] if timeline else None,
        "transactions": len(txs),
        "failed_transactions": sum(1 for t in txs if t["failed"]),
        "page_loads": sum(1 for t in txs if t["kind"] == "navigation"),
        "js_errors": sum(1 for r in timeline if r["kind"] == "client_error"),
        **{k: first.get(k) for k in ("user_key", "browser", "region", "release", "segment", "environment")},
        "flows": sorted({t["flow"] for t in txs if t["flow"]}),
    }
    for t in txs:
        t["e2e_ms"] = ms(t["e2e_ms"])
    return {"session": summary, "transactions": txs, "timeline": timeline, "truncated": len(client) >= _MAX_ROWS}
