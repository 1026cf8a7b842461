"""nginx access-log parsing throughput: the parser alone, in one process, on 500k lines.

Generates 500,000 deterministic lines (about 50 per second of log time, so the per-second
time cache behaves as on a real log) in two shapes: plain `combined`, and the simulator's
gateway format (combined + $request_time $upstream_response_time $request_id
"$http_traceparent"). Each is parsed by the auto parser (no options) and by the parser for
its exact log_format. As the in-run reference, a plain `line.split()` loop runs over the
same lines: the ratio says how many splits one parsed line costs, independent of the
machine. Each figure is the best of three alternating rounds.
Run: `.venv/bin/python benchmarks/nginx_ingest.py [lines | path/to/access.log]`; with a file
(e.g. the simulator's gateway/access.log) its lines are timed with the auto parser instead.

`--pipeline [lines]` instead measures the PII scrubbing transform (`scrub_pii`) on gateway lines,
5% of which carry personal data or a token in the query string: per row against parsing the
same lines (the in-run reference) and against the other transforms, then file ingest through
the whole pipeline into a real store with and without it, in alternating rounds.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from seamline.sources import access_log

LINES = 500_000
ROUNDS = 3
T0 = 1_795_946_400  # 2026-11-29T10:00:00Z
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GATEWAY = (
    '\'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_time $upstream_response_time $request_id "$http_traceparent"\''
)
PATHS = ("/", "/api/products?page=2", "/api/cart", "/api/checkout", "/product/42", "/static/app.3f9a.js")
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
)


def clf_time(epoch_s: int) -> str:
    t = time.gmtime(epoch_s)
    return f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def make_lines(n: int, gateway: bool) -> list[bytes]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        head = (
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} - - [{clf_time(T0 + i // 50)}] "
            f'"{rng.choice(("GET", "GET", "GET", "POST"))} {rng.choice(PATHS)} HTTP/1.1" '
            f"{rng.choice((200, 200, 200, 304, 404, 502))} {rng.randrange(100_000)} "
            f'"https://shop.example.com/" "{rng.choice(AGENTS)}"'
        )
        if gateway:
            rt = rng.uniform(0.001, 2.0)
            up = "-" if rng.random() < 0.2 else f"{rt * 0.9:.3f}"
            tp = f'"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01"' if rng.random() < 0.7 else '"-"'
            head += f" {rt:.3f} {up} {rng.getrandbits(128):032x} {tp}"
        out.append(head.encode())
    return out


def timed(fn: Callable[[bytes], Iterable[object]], lines: list[bytes]) -> float:
    started = time.perf_counter()
    for line in lines:
        for _ in fn(line):
            pass
    return time.perf_counter() - started


def split_reference(lines: list[bytes]) -> float:
    started = time.perf_counter()
    for line in lines:
        line.split()
    return time.perf_counter() - started


def _with_pii(lines: list[bytes]) -> list[bytes]:
    # 5% of requests carry something to scrub, as a real log's password resets and magic links do.
    out = []
    for i, line in enumerate(lines):
        if i % 20 == 0:
            line = line.replace(b" HTTP/1.1", b"?email=jane%40example.com&token=abc123def456 HTTP/1.1", 1)
        out.append(line)
    return out


def _best(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def pipeline(n: int) -> None:
    """Cost of scrub_pii against parsing and the other transforms, and full ingest with and without it."""
    import tempfile

    from seamline.app import App
    from seamline.schema import rows_to_batch
    from seamline.settings import Settings
    from seamline.transforms import PIPELINE, Context, apply, scrub_pii

    without = tuple(t for t in PIPELINE if t is not scrub_pii)
    lines = _with_pii(make_lines(n, True))
    parser = access_log.make_parser({"log_format": GATEWAY})
    rows = [row for line in lines for row in parser(line)]  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ctx = Context.from_settings(Settings({"home": root / "ctx"}))
        batch = rows_to_batch(rows[:122_880])
        m = batch.num_rows
        parse_s = _best(lambda: [r for line in lines[:m] for r in parser(line)]) / m  # type: ignore[union-attr]
        scrub_s = _best(lambda: scrub_pii(batch, ctx)) / m
        others_s = _best(lambda: apply(batch, ctx, without)) / m
        print(f"per row, best of {ROUNDS}, {m:,} gateway rows (5% with PII in the query):")
        print(f"  parse (reference)        {1 / parse_s:>12,.0f} rows/s")
        print(f"  other transforms         {1 / others_s:>12,.0f} rows/s")
        print(f"  scrub_pii                {1 / scrub_s:>12,.0f} rows/s")
        print(
            f"  scrub_pii / parse time:  {scrub_s / parse_s:.2f}; / (parse + other transforms): "
            f"{scrub_s / (parse_s + others_s):.2f}"
        )
        log = root / "access.log"
        log.write_bytes(b"\n".join(lines) + b"\n")
        rates: dict[str, float] = {"without scrub_pii": 0.0, "with scrub_pii": 0.0}
        for r in range(ROUNDS):
            for label, transforms in (("without scrub_pii", without), ("with scrub_pii", PIPELINE)):
                app = App(Settings({"home": root / f"h{r}{len(transforms)}"}))
                app.ingestor.transforms = transforms
                started = time.perf_counter()
                result = app.ingestor.ingest_file(log, source="nginx", options={"log_format": GATEWAY})
                rates[label] = max(rates[label], result.records_read / (time.perf_counter() - started))
                app.close()
    print(f"full file ingest into a store, {n:,} lines, best of {ROUNDS} alternating rounds:")
    for label, rate in rates.items():
        print(f"  {label:<18} {rate:>12,.0f} lines/s")
    print(f"  ratio with/without: {rates['with scrub_pii'] / rates['without scrub_pii']:.2f}")


def main() -> None:
    arg = sys.argv[1] if len(sys.argv) > 1 else ""
    if arg == "--pipeline":
        pipeline(int(sys.argv[2]) if len(sys.argv) > 2 else 300_000)
        return
    if arg and Path(arg).is_file():  # a real log, e.g. the simulator's gateway/access.log
        generated = {True: Path(arg).read_bytes().splitlines()}
        cases = [("file", True, {})]
    else:
        n = int(arg) if arg else LINES
        generated = {False: make_lines(n, False), True: make_lines(n, True)}
        cases = [
            ("combined", False, {"format": "combined"}),
            ("combined", False, {}),
            ("gateway", True, {"log_format": GATEWAY}),
            ("gateway", True, {}),
        ]
    print(f"best of {ROUNDS} rounds; reference: bytes.split() over the same lines")
    print(f"{'lines':<9} {'parser':<11} {'count':>9} {'parser lines/s':>15} {'split lines/s':>15} {'ratio':>7}")
    for shape, gateway, options in cases:
        lines = generated[gateway]
        n = len(lines)
        parser = access_log.make_parser(options)
        # Best of alternating rounds: a shared machine's noise hits both sides alike.
        parse_s = split_s = float("inf")
        for _ in range(ROUNDS):
            split_s = min(split_s, split_reference(lines))
            parse_s = min(parse_s, timed(parser, lines))
        label = "auto" if not options else ("log_format" if "log_format" in options else options["format"])
        print(f"{shape:<9} {label:<11} {n:>9,} {n / parse_s:>15,.0f} {n / split_s:>15,.0f} {parse_s / split_s:>6.1f}x")


if __name__ == "__main__":
    main()
