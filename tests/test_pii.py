"""The PII corpus through the real pipeline into a real store: no raw value anywhere afterwards.

Every source (nginx, apache, json_log presets, OTLP traces and logs in JSON and protobuf,
client events, Segment) gets realistic personal data and secrets in every field kind, plus
malformed records that land in quarantine. Then every text, map and list column of every
table is searched (cast to text) for every raw value. A control run with scrubbing and
pseudonymization switched off finds the values, so the search would see a leak.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from _pii_corpus import ANON_ID, NEEDLES, OTHER_USER, USER_ID, http_bodies, write_corpus
from seamline.app import App
from seamline.keys import PSEUDONYM_COLUMN_NAMES, load_keyring
from seamline.settings import Settings
from seamline.transforms.pseudonymize import pseudonym

# Values every source already drops before scrubbing (Authorization and Cookie headers).
DROPPED_BY_SOURCES = {"CookieCorpus987zyx", "opaqueCorpusBearer123456", "amFuZTpodW50ZXIyY29ycHVz", OTHER_USER}
TEXT_TYPES = ("VARCHAR", "MAP", "[]", "STRUCT", "JSON", "UNION")


def search_store(app: App, needles: tuple[str, ...] = NEEDLES) -> list[dict[str, Any]]:
    """Every (table, column, needle) where a text-like column, cast to text, holds the needle."""
    columns = app.store.query(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'main'"
    ).to_pylist()
    by_table: dict[str, list[str]] = {}
    for c in columns:
        if any(t in c["data_type"] for t in TEXT_TYPES):
            by_table.setdefault(c["table_name"], []).append(c["column_name"])
    hits = []
    for table, names in by_table.items():
        casts = ", ".join(f'CAST("{n}" AS VARCHAR) AS "{n}"' for n in names)
        data = app.store.query(f'SELECT {casts} FROM "{table}"')
        for name in names:
            col = data.column(name)
            for needle in needles:
                match = pc.match_substring(col, needle, ignore_case=True)
                if pc.any(match).as_py():
                    sample = col.filter(pc.fill_null(match, False))[0].as_py()
                    hits.append({"table": table, "column": name, "needle": needle, "sample": sample[:200]})
    return hits


def ingest_corpus(app: App, folder: Path, user: str = USER_ID, t0: float | None = None) -> dict[str, list[int]]:
    """Ingest every corpus file; returns rows stored and quarantined per source."""
    counts: dict[str, list[int]] = {}
    for path, source, options in write_corpus(folder, user, t0):
        result = app.ingestor.ingest_file(path, source=source, options=options)
        got = counts.setdefault(source, [0, 0])
        got[0] += result.rows_stored
        got[1] += result.rows_quarantined
    return counts


def test_no_raw_pii_anywhere_in_the_store(app: App, tmp_path: Path) -> None:
    """After ingesting the corpus from every source, no raw PII value matches any text column of any table."""
    counts = ingest_corpus(app, tmp_path / "corpus")
    expected = {"nginx", "apache", "json_log", "otlp_traces", "otlp_logs", "client_events", "segment"}
    assert set(counts) == expected
    assert all(stored > 0 and quarantined > 0 for stored, quarantined in counts.values()), counts
    assert search_store(app) == []


def test_control_without_scrubbing_finds_the_values(home: Path, tmp_path: Path) -> None:
    """With scrubbing off and raw identifiers allowed, the same search finds every value the sources keep."""
    (tmp_path / "none.yaml").write_text("defaults: false\n")
    settings = Settings({"home": home, "store_raw_identifiers": True, "pii_rules_file": str(tmp_path / "none.yaml")})
    with App(settings) as raw_app:
        ingest_corpus(raw_app, tmp_path / "corpus")
        found = {h["needle"] for h in search_store(raw_app)}
    assert found == set(NEEDLES) - DROPPED_BY_SOURCES


def _user_rows(app: App) -> list[dict[str, Any]]:
    return app.store.query(
        "SELECT source, kind, user_id, anonymous_id, origin FROM events WHERE user_id IS NOT NULL"
    ).to_pylist()


def test_pseudonyms_link_a_user_across_client_and_server(app: App, tmp_path: Path) -> None:
    """Client events, Segment, server logs and spans of one person carry one pseudonym, the active key's HMAC."""
    ingest_corpus(app, tmp_path / "corpus")
    rows = _user_rows(app)
    assert {r["source"] for r in rows} >= {"client_events", "segment", "json_log", "otlp_traces", "otlp_logs"}
    expected = pseudonym(app.context.pseudonym_key, USER_ID, "user_id")
    assert {r["user_id"] for r in rows} == {expected}
    anon = {r["anonymous_id"] for r in rows if r["anonymous_id"]}
    assert anon == {pseudonym(app.context.pseudonym_key, ANON_ID, "anonymous_id")}
    # An identifier attribute (customer_id on the span) is hashed like the column, so it links too.
    linked = app.store.scalar(
        "SELECT count(*) FROM events WHERE element_at(attributes, 'customer_id')[1] = ?", [expected]
    )
    assert linked == 2


def _pseudonym_values(app: App) -> set[str]:
    values: set[str] = set()
    for c in app.store.query("SELECT table_name, column_name FROM information_schema.columns").to_pylist():
        if c["column_name"] in PSEUDONYM_COLUMN_NAMES:
            rows = app.store.query(f'SELECT DISTINCT "{c["column_name"]}" AS v FROM "{c["table_name"]}"').to_pylist()
            values.update(r["v"] for r in rows if r["v"])
    return values


def test_rotation_keeps_a_user_linked_and_counts_right(app: App, tmp_path: Path) -> None:
    """A person seen before and after a key rotation ends with one pseudonym everywhere; others keep theirs."""
    from seamline.correlate import correlate

    ingest_corpus(app, tmp_path / "before", USER_ID)
    ingest_corpus(app, tmp_path / "other", OTHER_USER)
    correlate(app.store, full=True)
    old_key = app.context.pseudonym_key
    old_user, old_other = pseudonym(old_key, USER_ID, "user_id"), pseudonym(old_key, OTHER_USER, "user_id")
    assert app.store.scalar("SELECT count(DISTINCT user_id) FROM events") == 2

    ring = load_keyring(app.settings)
    ring.rotate()
    app.context.use_keyring(ring)
    new_key = app.context.pseudonym_key
    assert new_key != old_key and app.context.linking_keys == (old_key,)
    ingest_corpus(app, tmp_path / "after", USER_ID)

    new_user = pseudonym(new_key, USER_ID, "user_id")
    assert app.store.scalar("SELECT count(DISTINCT user_id) FROM events") == 2  # not 3: the user was relinked
    users = {r["user_id"] for r in _user_rows(app) if "other" not in r["origin"]}
    assert users == {new_user}  # before and after the rotation, client and server alike
    values = _pseudonym_values(app)
    assert old_user not in values and old_other in values  # the other person was not seen again: unchanged
    assert search_store(app) == []


def test_expired_retired_key_no_longer_links(app: App, tmp_path: Path) -> None:
    """Once a retired key is older than the key retention, it is pruned and ingest stops relinking with it."""
    from datetime import UTC, datetime, timedelta

    ring = load_keyring(app.settings)
    long_ago = datetime.now(UTC) - timedelta(days=app.settings.pseudonym_key_retention_days + 1)
    ring.rotate(now=long_ago)
    assert [k.id for k in ring.linking(app.settings.pseudonym_key_retention_days)] == []
    dropped = ring.prune(app.settings.pseudonym_key_retention_days)
    assert [k.id for k in dropped] == ["k1"] and [k.id for k in load_keyring(app.settings).keys] == ["k2"]
    app.context.use_keyring(load_keyring(app.settings))
    assert app.context.linking_keys == ()


@pytest.mark.parametrize("raw", [True, False])
def test_store_raw_identifiers_is_the_only_way_to_raw_ids(home: Path, tmp_path: Path, raw: bool) -> None:
    """Raw user ids reach events and quarantine only when store_raw_identifiers is on."""
    with App(Settings({"home": home, "store_raw_identifiers": raw})) as application:
        ingest_corpus(application, tmp_path / "c")
        where = {h["table"] for h in search_store(application, (USER_ID,))}
    assert where == ({"events", "quarantine"} if raw else set())


def test_http_ingest_stores_no_raw_pii(home: Path) -> None:
    """Bodies posted to every HTTP ingest endpoint (good and malformed) leave no raw value in the store."""
    import httpx

    from _server import running_server

    with running_server(home) as server:
        statuses = [
            httpx.post(server.url + route, content=body, headers={"content-type": ctype}).status_code
            for route, ctype, body in http_bodies()
        ]
    assert statuses.count(200) >= 7, statuses
    with App(Settings({"home": home}), read_only=True) as application:
        assert application.store.scalar("SELECT count(*) FROM events") > 10
        assert application.store.scalar("SELECT count(*) FROM quarantine") >= 1
        assert search_store(application) == []
