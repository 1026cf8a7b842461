"""Field observations of HTTP ingest: written with the first new field, summed otherwise, complete at shutdown."""

from __future__ import annotations

from pathlib import Path

import httpx
import pyarrow as pa

from _server import running_server
from seamline.governance.schema_drift import ObservationBuffer
from seamline.schema import rows_to_batch
from seamline.store import DuckDBStore

T0 = 1_793_000_000_000.0


def _events(n: int, **extra: object) -> pa.RecordBatch:
    rows = [
        {
            "event_id": f"e{i}",
            "kind": "track",
            "ts": 1_000 + i,
            "source": "client_events",
            "origin": "http:/v1/client",
            "ingest_batch_id": "b1",
            "schema_version": 8,
            "name": "Clicked",
            **extra,
        }
        for i in range(n)
    ]
    return rows_to_batch(rows)


def _counts(statements: list) -> dict[tuple[str, str, str], int]:
    assert len(statements) == 1
    sources, fields, types, _, rows = statements[0].params
    return {(s, f, t): n for s, f, t, n in zip(sources, fields, types, rows, strict=True)}


def test_new_fields_are_written_at_once_and_repeats_are_summed() -> None:
    """The first batch and a batch with a new field yield the upsert; repeats wait and are summed into the next one."""
    buffer = ObservationBuffer(flush_seconds=3600)
    first = _counts(buffer.ops(_events(3)))
    assert first[("client_events", "name", "string")] == 3
    assert buffer.ops(_events(4)) == [] and buffer.ops(_events(5)) == []
    grown = _counts(buffer.ops(_events(2, attributes={"plan": "pro"})))  # a new attribute: written with this batch
    assert grown[("client_events", "name", "string")] == 4 + 5 + 2
    assert grown[("client_events", "attributes.plan", "string")] == 2
    assert buffer.ops(_events(6)) == []
    assert _counts(buffer.drain())[("client_events", "kind", "string")] == 6
    assert buffer.drain() == [], "nothing is written twice"


def test_old_counts_are_written_after_flush_seconds() -> None:
    """With no wait allowed, every batch writes its counts (so last_seen stays current)."""
    buffer = ObservationBuffer(flush_seconds=0)
    assert _counts(buffer.ops(_events(1)))[("client_events", "name", "string")] == 1
    assert _counts(buffer.ops(_events(2)))[("client_events", "name", "string")] == 2


def test_server_records_every_row_by_shutdown(home: Path) -> None:
    """After a clean stop, the observation counts of a field equal the rows the server stored."""
    batch = {
        "v": 1,
        "sentAt": T0 + 100,
        "session": {"id": "s-obs"},
        "context": {"app": {"name": "shop-web"}},
        "events": [{"type": "track", "id": f"t{i}", "ts": T0 + i, "event": "Clicked"} for i in range(5)],
    }
    with running_server(home) as server, httpx.Client() as http:
        for k in range(6):
            batch["session"] = {"id": f"s-obs-{k}"}
            assert http.post(server.url + "/v1/client", json=batch).status_code == 200
    store = DuckDBStore(home / "seamline.duckdb", read_only=True)
    try:
        stored = store.scalar("SELECT count(*) FROM events WHERE source = 'client_events'")
        observed = store.scalar("SELECT rows FROM field_observations WHERE source = 'client_events' AND field = 'name'")
    finally:
        store.close()
    assert stored == 30 and observed == 30
