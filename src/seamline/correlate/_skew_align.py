"""Clock offset of a session without shared ids, by aligning its requests with access-log lines.

The gaps between one device's requests are the same on both clocks, so one offset makes most
of the session's requests coincide with server lines of the same method, route, status and
user agent, while a wrong one makes at most a few coincide by chance.

Each (client request, candidate line) pair allows a range of offsets (causality: the server
received the request after it left the device and finished before the answer arrived):

    t1 - s_hi <= offset <= t4 - e_lo

with t1/t4 the client's start/end (device clock), s_hi the latest possible server start and
e_lo the earliest possible server end. A line stamped in whole seconds widens the range by a
second: nginx stamps the END truncated (start = stamp - request time when it logs one; a plain
`combined` line only bounds the end), Apache stamps the START truncated. The answer is the
offset covered by the most distinct client requests, when enough agree and clearly more than
at any other offset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

MIN_AGREEING = 3  # distinct client requests that must coincide
MIN_MARGIN = 2  # ... and by how many more than at any offset a second or more away
SEPARATION_MS = 1_000.0
SEARCH_MS = 20_000.0  # how far from the ingest-time estimate the offset may be
_BUCKET_US = 60_000_000

# The resolution of a server stamp: whole seconds when the stamped instant (nginx: the end,
# Apache: the start) falls exactly on a second.
_RES = """CASE WHEN (CASE WHEN s.source = 'nginx' AND s.duration_ms IS NOT NULL
                         THEN epoch_us(s.ts) + CAST(round(s.duration_ms * 1000) AS BIGINT)
                         ELSE epoch_us(s.ts) END) % 1000000 = 0 THEN 1000.0 ELSE 1.0 END"""

# Client requests of the sessions in `_skew_align_todo` (session_id, o0, prior) with their
# candidate access-log lines, as offset ranges [lo, hi] in ms, and the round trip outside the
# server (delay) when the line has a duration. o0 is the ingest-time bound, prior the estimate.
CANDIDATES_SQL = f"""
WITH c AS (
    SELECT e.session_id, e.event_id, t.o0, t.prior,
           CASE WHEN e.kind = 'page_view' THEN 'GET' ELSE e.http_method END AS method,
           CASE WHEN e.kind = 'page_view' THEN e.page ELSE e.route END AS route,
           CASE WHEN e.kind = 'page_view' THEN NULL ELSE e.http_status END AS status,
           e.user_agent,
           epoch_us(e.client_ts) / 1000.0 + CASE WHEN e.kind = 'page_view'
               THEN coalesce(TRY_CAST(e.attributes['nav.connect'] AS DOUBLE), 0) ELSE 0 END AS t1,
           epoch_us(e.client_ts) / 1000.0 + CASE WHEN e.kind = 'page_view'
               THEN TRY_CAST(e.attributes['nav.ttfb'] AS DOUBLE) ELSE e.duration_ms END AS t4
    FROM events e JOIN _skew_align_todo t ON t.session_id = e.session_id
    WHERE e.client_ts IS NOT NULL
      AND (e.kind = 'client_request' AND e.http_status > 0 OR e.kind = 'page_view')
), cb AS (
    SELECT *, unnest(range(
        CAST(floor((t1 - prior - {SEARCH_MS}) * 1000 / {_BUCKET_US}) AS BIGINT),
        CAST(floor((t4 - prior + {SEARCH_MS}) * 1000 / {_BUCKET_US}) AS BIGINT) + 1)) AS bucket
    FROM c WHERE method IS NOT NULL AND route IS NOT NULL AND t4 >= t1
), s AS (
    SELECT s.event_id, s.http_method, s.route, s.http_status, s.user_agent, s.duration_ms,
           epoch_us(s.ts) / 1000.0 AS ts, {_RES} AS res, epoch_us(s.ts) // {_BUCKET_US} AS bucket
    FROM events s
    WHERE s.kind = 'server_request' AND s.source IN ('nginx', 'apache')
      AND s.ts BETWEEN $lo AND $hi
      AND NOT EXISTS (SELECT 1 FROM links l WHERE l.to_event_id = s.event_id)
)
SELECT cb.session_id, cb.event_id, cb.o0, cb.prior,
       cb.t1 - s.ts - s.res AS lo, cb.t4 - s.ts - coalesce(s.duration_ms, 0) AS hi,
       cb.t4 - cb.t1 - s.duration_ms AS delay
FROM cb JOIN s ON s.bucket = cb.bucket AND s.http_method = cb.method AND s.route = cb.route
WHERE (cb.status IS NULL OR s.http_status = cb.status)
  AND (cb.user_agent IS NULL OR s.user_agent IS NULL OR s.user_agent = cb.user_agent)
  AND cb.t4 - s.ts - coalesce(s.duration_ms, 0) >= cb.t1 - s.ts - s.res
  AND cb.t4 - s.ts - coalesce(s.duration_ms, 0) >= cb.prior - {SEARCH_MS}
  AND cb.t1 - s.ts - s.res <= cb.prior + {SEARCH_MS}
"""


@dataclass(frozen=True, slots=True)
class Coverage:
    """The offset range most requests agree on, and how clearly it wins."""

    count: int  # distinct requests agreeing on [lo, hi]
    lo: float
    hi: float
    runner_up: int  # most requests agreeing on any offset SEPARATION_MS or more away

    @property
    def accepted(self) -> bool:
        """Enough requests agree, clearly more than anywhere else."""
        return self.count >= MIN_AGREEING and self.count - self.runner_up >= MIN_MARGIN


@dataclass(frozen=True, slots=True)
class Alignment:
    """An accepted alignment: the offset, the requests behind it, their spread around it."""

    offset: float
    requests: int
    spread: float


def max_coverage(intervals: Iterable[tuple[object, float, float]]) -> Coverage | None:
    """The offset range covered by the most distinct keys, from (key, lo, hi) closed ranges."""
    items = [(k, lo, hi) for k, lo, hi in intervals if hi >= lo]
    if not items:
        return None
    points = sorted([(lo, 0, k) for k, lo, _ in items] + [(hi, 1, k) for k, _, hi in items], key=lambda p: p[:2])
    open_by_key: dict[object, int] = defaultdict(int)
    covered = 0
    segments: list[tuple[float, float, int]] = []  # (start, end, distinct keys covering it)
    i, n = 0, len(points)
    while i < n:
        pos = points[i][0]
        if segments and pos > segments[-1][1]:
            segments.append((segments[-1][1], pos, covered))
        while i < n and points[i][0] == pos and points[i][1] == 0:
            key = points[i][2]
            covered += open_by_key[key] == 0
            open_by_key[key] += 1
            i += 1
        segments.append((pos, pos, covered))  # the point itself: ranges that only touch here count
        while i < n and points[i][0] == pos:
            key = points[i][2]
            open_by_key[key] -= 1
            covered -= open_by_key[key] == 0
            i += 1
    best = max(c for _, _, c in segments)
    peaks = [(a, b) for a, b, c in segments if c == best]
    # peaks closer than SEPARATION_MS are one answer; a separate equal peak makes it ambiguous
    lo, hi = peaks[0]
    runner_up = 0
    for a, b in peaks[1:]:
        if a - hi < SEPARATION_MS:
            hi = b
        else:
            runner_up = best
    runner_up = max(
        runner_up, max((c for a, b, c in segments if b < lo - SEPARATION_MS or a > hi + SEPARATION_MS), default=0)
    )
    return Coverage(best, lo, hi, runner_up)


def place(cov: Coverage, candidates: list[tuple[float, float, float | None]], o0: float, prior: float) -> Alignment:
    """The offset inside the agreed range: the ingest-time bound o0 plus half the fastest round
    trip among the agreeing (lo, hi, delay) candidates, or the prior without any round trip."""
    agreeing = [(lo, hi, d) for lo, hi, d in candidates if lo <= cov.hi and hi >= cov.lo]
    delays = [d for _, _, d in agreeing if d is not None]
    guess = o0 + 0.5 * max(min(delays), 0.0) if delays else prior
    offset = max(cov.lo, min(cov.hi, guess))
    gaps = sorted(abs((lo + hi) / 2 - offset) for lo, hi, _ in agreeing)
    return Alignment(offset, cov.count, gaps[len(gaps) // 2] if gaps else 0.0)


def align_sessions(con: duckdb.DuckDBPyConnection, lo: object, hi: object) -> dict[str, Alignment]:
    """Accepted alignments for the sessions in `_skew_align_todo`; server lines within [lo, hi]."""
    rows = con.execute(
        f"SELECT session_id, event_id, lo, hi, delay, o0, prior FROM ({CANDIDATES_SQL}) ORDER BY session_id",
        {"lo": lo, "hi": hi},
    ).fetchall()
    by_session: dict[str, list[tuple[object, float, float, float | None]]] = defaultdict(list)
    priors: dict[str, tuple[float, float]] = {}
    for session_id, event_id, a, b, delay, o0, prior in rows:
        by_session[session_id].append((event_id, a, b, delay))
        priors[session_id] = (o0, prior)
    out: dict[str, Alignment] = {}
    for session_id, cands in by_session.items():
        cov = max_coverage((k, a, b) for k, a, b, _ in cands)
        if cov is not None and cov.accepted:
            out[session_id] = place(cov, [(a, b, d) for _, a, b, d in cands], *priors[session_id])
    return out
