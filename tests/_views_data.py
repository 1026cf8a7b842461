"""A correlated store with dashboard facts, built from a small simulation, for the view and UI tests."""

from __future__ import annotations

import uuid
import warnings
from datetime import timedelta
from pathlib import Path

from conftest import ingest_simulated
from seamline.app import App
from seamline.settings import Settings
from seamline.views.facts import refresh_facts


def _exact_only(app: App) -> None:
    from seamline.correlate.exact import link_exact
    from seamline.correlate.run import _clear, _window
    from seamline.correlate.transactions import build_transactions

    run_id = uuid.uuid4().hex[:16]
    with app.store.transaction() as con:
        window, last = _window(con, True, timedelta(minutes=30))
        _clear(con, window)
        link_exact(con, window, run_id)
        build_transactions(con, window, run_id)
        con.execute(
            "INSERT INTO correlation_runs (correlation_run_id, started_at, finished_at, last_rowid, status) "
            "VALUES (?, now(), now(), ?, 'done')",
            [run_id, last],
        )


def build_home(sim: Path, home: Path) -> None:
    """Ingest the simulation into `home`, correlate it and build the facts; the store is closed after."""
    app = App(Settings({"home": home}))
    try:
        ingest_simulated(app, sim)
        app.writer.flush()
        try:
            from seamline.correlate import correlate

            correlate(app.store, full=True)
        except Exception as exc:  # skew/scored still in progress elsewhere: exact links are enough here
            warnings.warn(f"full correlation failed ({exc}); using exact links only", stacklevel=1)
            _exact_only(app)
        refresh_facts(app.store)
    finally:
        app.close()
