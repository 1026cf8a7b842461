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


def main() -> None:
    arg = sys.argv[1] if len(sys.argv) > 1 else ""
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
