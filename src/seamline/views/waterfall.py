"""The waterfall of one transaction: every member from the click to the database and back.

Rows are on the server clock (client rows skew-corrected), ordered by start, each with its
lane (client, gateway, a named service, database, external call, logs), what it was, and
where it came from (file and line, or endpoint and request). A client request's row also
says how much of its time the network took: its duration minus its server entry's.

A transaction id is looked up through `transaction_facts` when its facts are current: they
hold the transaction's row, and the refresh wrote its members to `waterfall_rows`, ordered by
the transaction's start, so the lookup reads one row group (milliseconds on a store of
millions of events). Otherwise (other kinds of
id, facts not refreshed yet) the members are joined from `event_transactions`, `links` and
`events`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any

import orjson

from seamline.store.base import Store
from seamline.views.facts import TRANSACTION_ROW_TIMES

_RESOLVE = (
    ("transaction", "SELECT transaction_id FROM transactions WHERE transaction_id = ?"),
    ("event", "SELECT transaction_id FROM event_transactions WHERE event_id = ? LIMIT 1"),
    (
        "trace",
        "SELECT et.transaction_id FROM events e JOIN event_transactions et ON et.event_id = e.event_id "
        "WHERE e.trace_id = ? ORDER BY e.ts LIMIT 1",
    ),
    (
        "request",
        "SELECT et.transaction_id FROM events e JOIN event_transactions et ON et.event_id = e.event_id "
        "WHERE e.request_id = ? ORDER BY e.ts LIMIT 1",
    ),
)

_MEMBERS_SQL = """
SELECT e.event_id, e.kind, e.ts, e.duration_ms, e.service, e.span_kind, e.span_status, e.name, e.http_method,
       e.route, e.url, e.http_status, e.level, e.message, e.error_type, e.error_message, e.source, e.origin,
       e.position, e.position_index, e.attributes['db.system'] AS db_system, e.client_ts, e.clock_offset_ms,
       e.trace_id, e.span_id, e.parent_span_id, e.request_id, et.via, et.confidence,
       l.method AS link_method, l.confidence AS link_confidence, s.duration_ms AS server_ms
FROM event_transactions et
JOIN events e ON e.event_id = et.event_id
LEFT JOIN links l ON l.from_event_id = e.event_id
LEFT JOIN events s ON s.event_id = l.to_event_id
WHERE et.transaction_id = ?
QUALIFY row_number() OVER (PARTITION BY e.event_id ORDER BY l.confidence DESC NULLS LAST,
                           s.source IN ('nginx', 'apache') DESC) = 1
ORDER BY e.ts, e.kind, e.origin, e.position, e.position_index
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _member(event_id: str, fields: str) -> dict[str, Any]:
    """One `waterfall_rows.fields` JSON as the member dict the slow path builds (times as datetimes)."""
    row: dict[str, Any] = orjson.loads(fields)
    row["event_id"] = event_id
    for key in ("ts", "client_ts"):
        if row[key] is not None:
            row[key] = _EPOCH + timedelta(microseconds=row[key])
    return row


def _transaction(row: str) -> dict[str, Any]:
    """`transaction_facts.transaction_row` as the dict a `transactions` row reads as."""
    tx: dict[str, Any] = orjson.loads(row)
    for key in TRANSACTION_ROW_TIMES:
        if tx[key] is not None:
            tx[key] = _EPOCH + timedelta(microseconds=tx[key])
    if tx["feature_flags"] is not None:  # a MAP reads as (key, value) pairs
        tx["feature_flags"] = list(tx["feature_flags"].items())
    return tx


def _from_facts(store: Store, tx_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The transaction and its rows through its facts, or None when they are missing or stale."""
    facts = store.query(
        "SELECT start_ts, correlation_run_id, transaction_row FROM transaction_facts WHERE transaction_id = ?",
        [tx_id],
    ).to_pylist()
    if not facts or facts[0]["transaction_row"] is None:
        return None
    f = facts[0]
    # The start time narrows the read to one row group (its zone maps skip the others).
    stored = store.query(
        "SELECT event_id, fields FROM waterfall_rows WHERE start_ts = ? AND transaction_id = ? "
        "AND correlation_run_id = ?",
        [f["start_ts"], tx_id, f["correlation_run_id"]],
    ).to_pylist()
    if not stored:
        return None
    rows = [_member(r["event_id"], r["fields"]) for r in stored]
    rows.sort(key=lambda r: (r["ts"], r["kind"], r["origin"], r["position"] or 0, r["position_index"] or 0))
    return _transaction(f["transaction_row"]), rows


def resolve(store: Store, ident: str) -> tuple[str, str] | None:
    """Find the transaction for a transaction, event, trace or request id; (kind of id, transaction id)."""
    for what, sql in _RESOLVE:
        row = store.query(sql, [ident]).to_pylist()
        if row:
            return what, row[0]["transaction_id"]
    return None


def _lane(row: dict[str, Any]) -> str:
    kind = row["kind"]
    if kind in (
        "client_action",
        "page_view",
        "client_request",
        "client_error",
        "web_vital",
        "resource",
        "visibility",
        "track",
        "identify",
        "client_log",
    ):
        return "client"
    if kind == "server_log":
        return f"log:{row['service'] or '?'}"
    if kind == "server_request" and row["source"] in ("nginx", "apache"):
        return "gateway" if row["service"] in (None, "gateway") else row["service"]
    if row["db_system"]:
        return "database"
    if kind == "span" and row["span_kind"] == "client":
        return f"{row['service'] or '?'}→out"
    return row["service"] or "service"


def _what(row: dict[str, Any]) -> str:
    kind = row["kind"]
    if kind in ("client_request", "server_request") or (kind == "span" and row["http_method"]):
        target = row["route"] or row["url"] or row["name"] or ""
        return f"{row['http_method'] or ''} {target}".strip()
    if kind == "client_action":
        return f"click {row['name'] or ''}"
    if kind == "page_view":
        return "page load"
    if kind == "client_error":
        return f"{row['error_type'] or 'Error'}: {row['error_message'] or ''}"[:120]
    if kind == "server_log":
        return f"[{row['level'] or 'info'}] {row['message'] or ''}"[:120]
    return row["name"] or kind


def _source(row: dict[str, Any]) -> str:
    origin = row["origin"] or ""
    where = origin if origin.startswith("http:") else PurePath(origin).name
    pos = f":{row['position']}" if row["position"] is not None else ""
    idx = f"#{row['position_index']}" if row["position_index"] not in (None, 0) else ""
    return f"{where}{pos}{idx}"


def transaction_waterfall(store: Store, ident: str) -> dict[str, Any] | None:
    """The transaction and its member rows, ready for the terminal, the UI or JSON."""
    fast = _from_facts(store, ident)
    if fast is not None:
        matched_by = "transaction"
        tx, members = fast
    else:
        found = resolve(store, ident)
        if found is None:
            return None
        matched_by, tx_id = found
        fast = _from_facts(store, tx_id)
        if fast is not None:
            tx, members = fast
        else:
            tx = store.query("SELECT * FROM transactions WHERE transaction_id = ?", [tx_id]).to_pylist()[0]
            members = store.query(_MEMBERS_SQL, [tx_id]).to_pylist()
    start = tx["start_ts"]
    rows = []
    for m in members:
        offset = (m["ts"] - start).total_seconds() * 1000
        network = None
        if m["kind"] == "client_request" and m["server_ms"] is not None and m["duration_ms"] is not None:
            network = max(0.0, m["duration_ms"] - m["server_ms"])
        rows.append(
            {
                "event_id": m["event_id"],
                "kind": m["kind"],
                "lane": _lane(m),
                "what": _what(m),
                "status": m["http_status"] if m["http_status"] is not None else m["span_status"],
                "start_ms": round(offset, 3),
                "duration_ms": m["duration_ms"],
                "network_ms": network,
                "ts": m["ts"].isoformat(),
                "client_ts": m["client_ts"].isoformat() if m["client_ts"] else None,
                "clock_offset_ms": m["clock_offset_ms"],
                "trace_id": m["trace_id"],
                "span_id": m["span_id"],
                "request_id": m["request_id"],
                "via": m["via"],
                "confidence": m["confidence"],
                "link": m["link_method"],
                "link_confidence": m["link_confidence"],
                "source": _source(m),
                "origin": m["origin"],
                "position": m["position"],
                "position_index": m["position_index"],
                "ingest_source": m["source"],
            }
        )
    transaction = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in tx.items()}
    return {"matched_by": matched_by, "transaction": transaction, "rows": rows}
