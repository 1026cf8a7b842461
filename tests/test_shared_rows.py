"""The HTTP body path of client batches (shared columns + Arrow) against the per-row path it replaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from seamline._recent_ids import RecentIds
from seamline._shared_rows import shared_batch
from seamline.app import App
from seamline.pipeline import _Run
from seamline.schema import rows_to_batch
from seamline.sources._framing import RawRecord
from seamline.sources.client_events import make_parser, parse_batch, parse_shared

FIXTURES = Path(__file__).parent / "fixtures" / "client_events"
T0 = 1_793_000_000_000.0
RECEIVED_MS = T0 + 500
OPTIONS = {"received_at_ms": str(RECEIVED_MS)}


def _request(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "request",
        "id": f"e{i}",
        "ts": T0 + i,
        "traceparent": f"00-{i + 1:032x}-{i + 1:016x}-01",
        "request": {"method": "get", "url": f"https://shop.example/api/p/{i}", "status": 200, "duration": 3.5},
        **extra,
    }


def _mixed_batch() -> bytes:
    """Every way an event can differ from its batch, or fail, in one body."""
    events: list[Any] = [_request(i) for i in range(12)]
    events[1]["ts"] = "not a time"  # rejected by the parser
    events[2]["page"] = {"url": "https://shop.example/cart?x=1", "referrer": "https://r.example/"}  # own page
    events[3] = {"type": "identify", "id": "e3", "ts": T0 + 3, "userId": "u9", "traits": {"plan": "pro", "email": "x"}}
    events[4]["ts"] = 9e13  # far in the future: fails the row checks
    events[5]["traceparent"] = "00-" + "0" * 32 + "-" + "1" * 16 + "-01"  # all-zero trace id: no trace
    events[6]["traceparent"] = "01-" + "a" * 32 + "-" + "b" * 16 + "-00-future"  # a later version
    events[7]["flags"] = {"beta": True}
    events[8]["request"]["status"] = 12345  # out of range: rejected
    events[9] = _request(0)  # the same id as event 0: a duplicate
    events[10] = 7  # not an object
    return orjson.dumps(
        {
            "v": 1,
            "sentAt": T0 + 400,
            "session": {"id": "s-mixed", "anonymousId": "a-1", "userId": "u1"},
            "context": {
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36",
                "app": {"name": "shop-web", "release": "web@2", "environment": "prod"},
                "page": {"url": "/home", "referrer": "https://search.example/"},
                "flags": {"new_checkout": "on"},
                "segment": "free",
            },
            "events": events,
        }
    )


def _bodies() -> list[bytes]:
    lines = [line for path in sorted(FIXTURES.glob("*.ndjson")) for line in path.read_bytes().splitlines()]
    return [line for line in lines if line.strip()] + [_mixed_batch(), b"not json", b"{}"]


def _old_path(app: App, position: int, body: bytes) -> _Run:
    run = _Run(app.ingestor, "client_events", "http:/v1/client", make_parser(OPTIONS), int(RECEIVED_MS * 1000), "b1")
    run.add(RawRecord(position, body, len(body)))
    run.seal()
    return run


def _new_path(app: App, position: int, body: bytes) -> _Run:
    header = {
        "source": "client_events",
        "origin": "http:/v1/client",
        "position": position,
        "received_us": int(RECEIVED_MS * 1000),
        "batch_id": "b1",
        "options": OPTIONS,
        "lines": False,
    }
    run = app.ingestor._parse_body(header, body)
    run.seal()
    return run


def _outcome(run: _Run) -> tuple[pa.Table | None, list[dict[str, Any]], dict[str, Any], list[str]]:
    table = pa.Table.from_batches(run.batches) if run.batches else None
    # received_at of a quarantine entry is the clock when it was made, so it differs between runs.
    bad = [{k: v for k, v in entry.items() if k != "received_at"} for entry in run.bad]
    return table, bad, run.result.as_dict(), run.natural_ids


@pytest.mark.parametrize("index", range(len(_bodies())))
def test_http_body_path_stores_what_the_row_path_stores(app: App, index: int) -> None:
    """Rows, quarantine entries (in order), counts and remembered ids match the per-row path for every body."""
    body = _bodies()[index]
    app.ingestor.recent_ids = RecentIds()
    new = _outcome(_new_path(app, 40 + index, body))
    app.ingestor.recent_ids = RecentIds()
    old = _outcome(_old_path(app, 40 + index, body))
    assert new[1:] == old[1:]
    assert (new[0] is None) == (old[0] is None)
    if new[0] is not None:
        assert new[0].equals(old[0]), [c for c in new[0].column_names if not new[0][c].equals(old[0][c])]


def test_mixed_batch_keeps_overrides_and_quarantines_each_failure(app: App) -> None:
    """An event's own page wins over the batch page, and each broken event is quarantined alone."""
    run = _new_path(app, 7, _mixed_batch())
    table = pa.Table.from_batches(run.batches)
    pages = dict(zip(table["position_index"].to_pylist(), table["page"].to_pylist(), strict=True))
    assert pages[2] == "/cart" and pages[0] == "/home"
    reasons = {entry["position_index"]: entry["reason"] for entry in run.bad}
    assert set(reasons) == {1, 4, 8, 9, 10}
    assert reasons[9].startswith("duplicate record") and reasons[4].startswith("timestamp too far in the future")
    assert table.num_rows == 12 - 5 and run.result.rows_quarantined == 0  # counted when the batcher commits


def test_shared_batch_equals_rows_to_batch_of_merged_rows() -> None:
    """The shared-column builder gives exactly the batch of the merged row dicts."""
    base, items = parse_shared(_mixed_batch(), RECEIVED_MS)
    rows = [item for item in items if isinstance(item, dict)]
    for i, row in enumerate(rows):
        row["position_index"] = i
    lineage = {"source": "client_events", "origin": "o", "position": 3, "ingest_batch_id": "b", "schema_version": 8}
    expected = rows_to_batch([{**base, **row, **lineage} for row in rows])
    assert shared_batch({**base, **lineage}, rows).equals(expected)
    fresh_base, fresh = parse_shared(_mixed_batch(), RECEIVED_MS)
    assert next(iter(parse_batch(_mixed_batch(), RECEIVED_MS))) == {**fresh_base, **fresh[0]}  # type: ignore[dict-item]


def test_shared_batch_refuses_unknown_columns_and_wrong_types() -> None:
    """A column the dictionary lacks, or a value of the wrong type, raises so the caller can isolate it."""
    with pytest.raises(KeyError, match="not_a_column"):
        shared_batch({"source": "s"}, [{"kind": "track", "not_a_column": 1}])
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, TypeError)):
        shared_batch({"source": "s"}, [{"kind": "track", "ts": "yesterday"}])


def test_wrong_type_in_a_body_is_quarantined_like_the_row_path(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """When a parsed value does not fit its column, only that row is quarantined, with the row path's reason."""
    import seamline.sources.client_events as client_events

    real = client_events._event

    def sloppy(ev: object, *args: Any) -> dict[str, Any]:
        row = real(ev, *args)
        if isinstance(ev, dict) and ev.get("id") == "e5":
            row["http_status"] = "two hundred"  # a parser bug the Arrow build must catch
        return row

    monkeypatch.setattr(client_events, "_event", sloppy)
    body = orjson.dumps({"v": 1, "sentAt": T0, "session": {"id": "s-w"}, "events": [_request(i) for i in range(8)]})
    app.ingestor.recent_ids = RecentIds()
    new = _outcome(_new_path(app, 9, body))
    app.ingestor.recent_ids = RecentIds()
    old = _outcome(_old_path(app, 9, body))
    assert new[0] is not None and new[0].num_rows == 7 and new[0].equals(old[0])
    assert [entry["position_index"] for entry in new[1]] == [5] and new[1][0]["reason"].startswith("wrong type")
    assert new[1] == old[1]
