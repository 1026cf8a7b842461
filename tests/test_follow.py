"""`ingest --follow` tails a growing file, waits for whole lines and survives rotation."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from seamline.app import App
from seamline.follow import FollowStats, follow_file

LINE = "2026-11-02T10:00:{s:02d}Z|client_request|1|u{i}\n"


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_follow_survives_rename_rotation_and_partial_lines(app: App, toy_source: str, tmp_path: Path) -> None:
    """Lines appended before and after a rotation are each stored once; a half-written line waits."""
    path = tmp_path / "live.log"
    path.write_text("".join(LINE.format(s=i, i=i) for i in range(3)))
    stop = threading.Event()
    seen: list[FollowStats] = []
    worker = threading.Thread(
        target=follow_file,
        args=(app.ingestor, path, toy_source),
        kwargs={"poll_s": 0.05, "stop": stop, "on_poll": seen.append},
    )
    worker.start()
    try:
        _wait_for(lambda: seen and seen[-1].rows_stored == 3)
        with path.open("a") as f:
            f.write(LINE.format(s=3, i=3))
            f.write("2026-11-02T10:00:04Z|client_req")  # the writer has not finished this line
        _wait_for(lambda: seen[-1].rows_stored == 4)
        time.sleep(0.2)
        assert seen[-1].rows_stored == 4, "a line without its newline is not consumed"
        with path.open("a") as f:
            f.write("uest|1|u4\n")
        path.rename(tmp_path / "live.log.1")  # logrotate: rename, then the writer reopens
        with (tmp_path / "live.log.1").open("a") as f:
            f.write(LINE.format(s=5, i=5))  # written by the old handle just before the reopen
        path.write_text(LINE.format(s=6, i=6) + LINE.format(s=7, i=7))
        _wait_for(lambda: seen[-1].rows_stored == 8)
    finally:
        stop.set()
        worker.join(10)
    users = app.store.query("SELECT count(DISTINCT user_id) AS u, count(*) AS n FROM events").to_pylist()[0]
    assert users == {"u": 8, "n": 8}
    assert app.store.scalar("SELECT count(*) FROM quarantine") == 0


def test_follow_resumes_from_checkpoint_after_restart(app: App, toy_source: str, tmp_path: Path) -> None:
    """A new follow session on the same file starts after what the last one committed."""
    path = tmp_path / "r.log"
    path.write_text("".join(LINE.format(s=i, i=i) for i in range(5)))
    stop = threading.Event()
    stop.set()  # one poll, then return
    first = follow_file(app.ingestor, path, toy_source, stop=stop)
    with path.open("a") as f:
        f.write(LINE.format(s=9, i=9))
    second = follow_file(app.ingestor, path, toy_source, stop=stop)
    assert (first.rows_stored, second.rows_stored) == (5, 1)
    assert app.store.scalar("SELECT count(*) FROM events") == 6
