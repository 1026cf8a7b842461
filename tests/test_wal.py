"""The HTTP write-ahead log: frames survive, torn tails are ignored, replay stores each body once."""

from __future__ import annotations

from pathlib import Path

import orjson

from seamline.app import App
from seamline.wal import WriteAheadLog, read_frames, segments

T0 = 1_793_000_000_000.0


def _batch(session: str) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "sentAt": T0,
            "session": {"id": session, "anonymousId": "a"},
            "events": [{"type": "action", "id": "e1", "ts": T0, "action": {"kind": "click", "target": "button#x"}}],
        }
    )


def _header(n: int) -> dict:
    return {
        "source": "client_events",
        "origin": "http:/v1/client",
        "position": n,
        "received_us": int(T0 * 1000),
        "batch_id": "b",
        "options": {},
        "lines": False,
    }


def test_frames_round_trip_and_torn_tail_is_ignored(tmp_path: Path) -> None:
    """Every appended frame reads back; a half-written last frame and a corrupted one end the read."""
    wal = WriteAheadLog(tmp_path)
    ends = [wal.append(_header(i), _batch(f"s{i}")) for i in range(5)]
    wal.close()
    path = segments(tmp_path)[0]
    frames = list(read_frames(path))
    assert [f.header["position"] for f in frames] == [0, 1, 2, 3, 4]
    assert [f.end for f in frames] == ends
    assert [f.header["position"] for f in read_frames(path, ends[2].offset)] == [3, 4]
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # a crash in the middle of the last write
    assert len(list(read_frames(path))) == 4
    corrupt = bytearray(data)
    corrupt[ends[1].offset + 30] ^= 0xFF  # flip a byte inside frame 3
    path.write_bytes(bytes(corrupt))
    assert len(list(read_frames(path))) == 2


def test_replay_stores_uncommitted_bodies_exactly_once(app: App, tmp_path: Path) -> None:
    """Bodies logged but never committed are stored by replay; a second replay adds nothing."""
    wal_dir = tmp_path / "wal"
    wal = WriteAheadLog(wal_dir)
    for i in range(3):
        wal.append(_header(i), _batch(f"r{i}"))
    wal.close()
    assert app.ingestor.replay_wal(wal_dir) == 3
    assert app.store.scalar("SELECT count(DISTINCT session_id) FROM events") == 3
    assert app.ingestor.replay_wal(wal_dir) == 0
    assert app.store.scalar("SELECT count(*) FROM events") == 3
    assert segments(wal_dir) == [], "a wholly committed segment is deleted"
