"""The traffic simulator: determinism, output formats, ground truth, and visible incidents."""

from __future__ import annotations

import itertools
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from seamline.simulate import DEFAULT_START, GATEWAY_LOG_FORMAT, SimConfig, SimulationSummary, simulate
from seamline.simulate.runner import run
from seamline.sources._time import clf_to_us, iso_to_us
from seamline.sources._trace_context import parse_traceparent

GATEWAY_RE = re.compile(
    r"^(?P<ip>\S+) - (?P<user>\S+) \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "
    r'"(?P<method>[A-Z]+) (?P<uri>\S+) (?P<proto>HTTP/[12]\.[01])" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)" (?P<rt>\d+\.\d{3}) (?P<urt>\d+\.\d{3}|-) (?P<rid>[0-9a-f]{32}) '
    r'"(?P<tp>[^"]*)"$'
)
COMBINED_RE = re.compile(
    r"^(?P<ip>\S+) - (?P<user>\S+) \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "
    r'"(?P<method>[A-Z]+) (?P<uri>\S+) (?P<proto>HTTP/1\.[01])" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)"$'
)
TRACEPARENT_RE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")
EVENT_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "page_view": {"page": dict, "nav": dict, "duration": (int, float)},
    "action": {"action": dict},
    "request": {"request": dict},
    "resource": {"resource": dict},
    "error": {"error": dict},
    "vital": {"vital": dict},
    "visibility": {"state": str},
    "track": {"event": str, "properties": dict},
    "identify": {"userId": str, "traits": dict},
}
NUMBER = (int, float)


# --- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """A default run: one simulated day at the default rate."""
    out = tmp_path_factory.mktemp("sim") / "out"
    return out, simulate(out, seed=7)


@pytest.fixture(scope="module")
def data(sim: tuple[Path, SimulationSummary]) -> dict[str, Any]:
    """Every output file of the default run, parsed once."""
    out, _ = sim
    batches = [orjson.loads(line) for f in sorted(out.glob("client/events-*.ndjson")) for line in f.open("rb")]
    gateway = [GATEWAY_RE.match(line.rstrip("\n")) for line in (out / "gateway/access.log").open()]
    legacy = [COMBINED_RE.match(line.rstrip("\n")) for line in (out / "legacy/access.log").open()]
    requests = [orjson.loads(line) for f in sorted(out.glob("otlp/traces-*.json")) for line in f.open("rb")]
    spans: list[tuple[str, dict[str, Any]]] = []
    for req in requests:
        for rs in req["resourceSpans"]:
            attrs = rs["resource"]["attributes"]
            service = next(a["value"]["stringValue"] for a in attrs if a["key"] == "service.name")
            spans += [(service, s) for ss in rs["scopeSpans"] for s in ss["spans"]]
    truth = out / "truth"
    return {
        "batches": batches,
        "gateway": gateway,
        "legacy": legacy,
        "otlp": requests,
        "spans": spans,
        "links": [orjson.loads(line) for line in (truth / "links.ndjson").open("rb")],
        "clocks": [orjson.loads(line) for line in (truth / "clock_offsets.ndjson").open("rb")],
        "incidents": {i["kind"]: i for i in orjson.loads((truth / "incidents.json").read_bytes())},
    }


def _window(incident: dict[str, Any]) -> tuple[float, float]:
    return iso_to_us(incident["start"]) / 1000.0, iso_to_us(incident["end"]) / 1000.0


def _client_requests(batches: list[dict[str, Any]]) -> list[tuple[float, dict[str, Any], dict[str, Any]]]:
    """(server-clock time estimate, batch context, event) of every request event."""
    out = []
    for b in batches:
        skew = b["sentAt"] - b["receivedAt"]  # the SDK's own first-order clock correction
        out += [(e["ts"] - skew, b["context"], e) for e in b["events"] if e["type"] == "request"]
    return out


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))]


def _gateway_time(m: re.Match[str]) -> float:
    return clf_to_us(m["time"]) / 1000.0


# --- determinism and size --------------------------------------------------------------------------
def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_output(tmp_path: Path) -> None:
    """Two runs with the same seed and start write exactly the same bytes in every file."""
    simulate(tmp_path / "a", seed=3, events=8_000, duration_s=4 * 3600)
    simulate(tmp_path / "b", seed=3, events=8_000, duration_s=4 * 3600)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a)


def test_different_seed_gives_different_output(tmp_path: Path) -> None:
    """A different seed produces different traffic."""
    simulate(tmp_path / "a", seed=3, events=5_000, duration_s=3600)
    simulate(tmp_path / "b", seed=4, events=5_000, duration_s=3600)
    assert (tmp_path / "a/gateway/access.log").read_bytes() != (tmp_path / "b/gateway/access.log").read_bytes()


def test_requested_event_count_is_met_within_five_percent(tmp_path: Path, sim: tuple[Path, SimulationSummary]) -> None:
    """The default day and a short explicit run both land within 5% of the requested record count."""
    _, summary = sim
    assert abs(summary.records - 200_000) / 200_000 < 0.05
    short = simulate(tmp_path / "s", seed=5, events=20_000, duration_s=2 * 3600)
    assert abs(short.records - 20_000) / 20_000 < 0.05


def test_summary_counts_match_the_files(sim: tuple[Path, SimulationSummary], data: dict[str, Any]) -> None:
    """The summary's per-file and per-kind counts are what the files hold."""
    out, summary = sim
    assert summary.kinds["client_events"] == sum(len(b["events"]) for b in data["batches"])
    assert summary.kinds["client_batches"] == len(data["batches"])
    assert summary.kinds["gateway_access"] == len(data["gateway"])
    assert summary.kinds["legacy_access"] == len(data["legacy"])
    assert summary.kinds["spans"] == len(data["spans"])
    logs = sum(1 for f in out.glob("services/*.ndjson") for _ in f.open("rb"))
    assert summary.kinds["service_logs"] == logs
    assert summary.records == sum(summary.files.values())
    assert orjson.loads((out / "truth/summary.json").read_bytes()) == orjson.loads(orjson.dumps(summary.as_dict()))


def test_progress_is_reported(tmp_path: Path) -> None:
    """progress() is called with a growing count that ends at the total written."""
    seen: list[int] = []
    summary = simulate(tmp_path / "p", seed=2, events=120_000, duration_s=6 * 3600, progress=seen.append)
    assert len(seen) >= 2
    assert seen == sorted(seen)
    assert seen[-1] == summary.records


# --- formats -----------------------------------------------------------------------------------------
def test_client_batches_follow_the_wire_format(data: dict[str, Any]) -> None:
    """Every batch line has the envelope of docs/client-events.md and every event its typed fields."""
    ids_by_session: dict[str, set[str]] = defaultdict(set)
    for b in data["batches"]:
        assert b["v"] == 1
        assert isinstance(b["sentAt"], NUMBER) and isinstance(b["receivedAt"], NUMBER)
        assert isinstance(b["session"]["id"], str) and isinstance(b["session"]["anonymousId"], str)
        assert 1 <= len(b["events"]) <= 30
        ctx = b["context"]
        assert ctx["app"]["release"].startswith("web@") and ctx["userAgent"].startswith("Mozilla/5.0")
        for e in b["events"]:
            assert e["type"] in EVENT_FIELDS
            assert isinstance(e["id"], str) and isinstance(e["ts"], NUMBER)
            assert e["id"] not in ids_by_session[b["session"]["id"]]
            ids_by_session[b["session"]["id"]].add(e["id"])
            for name, kind in EVENT_FIELDS[e["type"]].items():
                assert isinstance(e[name], kind), (e["type"], name)
            if e["type"] == "request":
                r = e["request"]
                assert r["method"] in ("GET", "POST") and r["url"].startswith("https://")
                assert isinstance(r["status"], int) and isinstance(r["duration"], NUMBER)
                assert r["initiator"] in ("fetch", "xhr")
            elif e["type"] == "vital":
                assert e["vital"]["name"] in ("LCP", "INP", "CLS", "FCP", "TTFB")
                assert e["vital"]["rating"] in ("good", "needs-improvement", "poor")
            elif e["type"] == "action":
                assert e["action"]["kind"] in ("click", "submit", "keypress")
                assert e["action"]["name"].split(".")[0] in ("browse", "search", "checkout", "login")
            elif e["type"] == "error":
                assert e["error"]["source"] in ("error", "unhandledrejection")
            elif e["type"] == "page_view":
                nav = e["nav"]
                assert nav["dns"] <= nav["connect"] <= nav["ttfb"] <= nav["domInteractive"] <= nav["load"]


def test_traceparents_are_valid_w3c(data: dict[str, Any]) -> None:
    """Every traceparent the client sent or the gateway logged is a valid version-00 header."""
    seen = 0
    for b in data["batches"]:
        for e in b["events"]:
            if "traceparent" in e:
                seen += 1
                assert TRACEPARENT_RE.match(e["traceparent"]) and parse_traceparent(e["traceparent"])
    for m in data["gateway"]:
        if m["tp"] != "-":
            assert TRACEPARENT_RE.match(m["tp"]) and parse_traceparent(m["tp"])
    assert seen > 1000


def test_access_logs_match_their_log_formats(sim: tuple[Path, SimulationSummary], data: dict[str, Any]) -> None:
    """Gateway lines match the seamline log_format, legacy lines plain combined, with `-` where nginx writes it."""
    out, _ = sim
    assert (out / "gateway/log_format.txt").read_text().strip() == GATEWAY_LOG_FORMAT
    assert all(m is not None for m in data["gateway"]) and all(m is not None for m in data["legacy"])
    for m in data["gateway"]:
        assert (m["urt"] == "-") == m["uri"].startswith("/static/")  # files served from disk have no upstream
        assert m["time"].endswith("+0000")
    assert any(m["tp"] == "-" and m["uri"].startswith("/api/") for m in data["gateway"])
    assert not any(re.search(r"\b[0-9a-f]{32}\b", m.group(0)) for m in data["legacy"])


def test_service_logs_have_structlog_and_pino_shapes(sim: tuple[Path, SimulationSummary]) -> None:
    """structlog services write ISO timestamps with offsets, pino services numeric levels and epoch ms."""
    out, _ = sim
    for name in ("api", "cart", "payments"):
        for line in (out / f"services/{name}.ndjson").open("rb"):
            rec = orjson.loads(line)
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$", rec["timestamp"])
            assert rec["level"] in ("info", "warning", "error") and rec["event"]
            assert len(rec["trace_id"]) == 32 and len(rec["span_id"]) == 16 and len(rec["request_id"]) == 32
    for name in ("search", "catalog"):
        for line in (out / f"services/{name}.ndjson").open("rb"):
            rec = orjson.loads(line)
            assert rec["level"] in (30, 50) and isinstance(rec["time"], int) and rec["msg"]
            assert rec["req"]["id"] and isinstance(rec["res"]["statusCode"], int)
            assert len(rec["trace_id"]) == 32 and len(rec["span_id"]) == 16


def test_spans_follow_otlp_json_encoding(data: dict[str, Any]) -> None:
    """Spans use hex ids, decimal-string nanoseconds, integer kinds and typed attribute values."""
    by_id = {s["spanId"]: s for _, s in data["spans"]}
    value_keys = {"stringValue", "intValue", "boolValue", "doubleValue", "arrayValue"}
    for service, s in data["spans"]:
        assert re.fullmatch(r"[0-9a-f]{32}", s["traceId"]) and re.fullmatch(r"[0-9a-f]{16}", s["spanId"])
        assert s["startTimeUnixNano"].isdigit() and s["endTimeUnixNano"].isdigit()
        assert int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"])
        assert s["kind"] in (1, 2, 3, 4, 5) and s["status"].get("code", 0) in (0, 1, 2)
        for a in s["attributes"]:
            (vk,) = a["value"].keys()
            assert vk in value_keys
            if vk == "intValue":
                assert isinstance(a["value"]["intValue"], str)
        if service != "api" or s["kind"] != 2:
            assert by_id[s["parentSpanId"]]["traceId"] == s["traceId"]  # in-process parents are all exported


# --- ground truth ---------------------------------------------------------------------------------------
def test_truth_links_point_to_written_records(data: dict[str, Any]) -> None:
    """Each link names a client event that exists and an access-log line (and trace) that carry its ids."""
    events = {(b["session"]["id"], e["id"]): e for b in data["batches"] for e in b["events"]}
    lines = {"gateway/access.log": data["gateway"], "legacy/access.log": data["legacy"]}
    server_spans = {s["spanId"]: s for service, s in data["spans"] if service == "api" and s["kind"] == 2}
    for link in data["links"]:
        event = events[(link["session_id"], link["event_id"])]
        assert event.get("traceparent") == link["client_traceparent"]
        m = lines[link["file"]][link["line"] - 1]
        assert m["uri"] in link["url"]
        if link["file"] == "gateway/access.log":
            assert m["rid"] == link["request_id"]
            assert m["tp"] == (link["client_traceparent"] if link["propagation"] == "traceparent" else "-")
            span = server_spans[link["server_span_id"]]
            assert span["traceId"] == link["trace_id"]
            if link["propagation"] == "traceparent":
                assert link["client_traceparent"] == f"00-{link['trace_id']}-{span['parentSpanId']}-01"
            else:
                assert "parentSpanId" not in span  # no incoming context: the api started the trace
        else:
            assert link["request_id"] is None and not link["propagated"]


def test_legacy_share_is_roughly_as_configured(
    tmp_path: Path, sim: tuple[Path, SimulationSummary], data: dict[str, Any]
) -> None:
    """The share of server-reaching client requests without propagated ids follows the configured share."""
    _, summary = sim
    share = sum(not link["propagated"] for link in data["links"]) / len(data["links"])
    assert share == pytest.approx(summary.legacy_share, abs=1e-3)
    assert abs(share - summary.legacy_share_target) < 0.03
    cfg = SimConfig(
        seed=4, events=20_000, duration_s=4 * 3600, start_ms=DEFAULT_START.timestamp() * 1000.0, legacy_share=0.25
    )
    assert abs(run(cfg, tmp_path / "l").legacy_share - 0.25) < 0.04


def test_clock_offsets_agree_with_sent_and_received(data: dict[str, Any]) -> None:
    """sentAt − receivedAt equals the true device offset minus a short upload time, for every batch."""
    clocks = {c["session_id"]: c for c in data["clocks"]}
    residuals = []
    for b in data["batches"]:
        c = clocks[b["session"]["id"]]
        offset = c["offset_ms"] + c["drift_ms_per_min"] * (b["receivedAt"] - c["session_start_ms"]) / 60_000.0
        residuals.append(b["sentAt"] - b["receivedAt"] - offset)
    assert all(-6_000.0 < r <= 1.0 for r in residuals)
    assert -600.0 < statistics.median(residuals) < 0.0
    offsets = [abs(c["offset_ms"]) for c in data["clocks"]]
    assert sum(o <= 2_000 for o in offsets) / len(offsets) > 0.6 and max(offsets) > 60_000


def test_truth_files_describe_the_schedule(sim: tuple[Path, SimulationSummary], data: dict[str, Any]) -> None:
    """incidents.json holds five scoped incidents of 20-90 minutes inside the span; releases and flags are timelines."""
    out, summary = sim
    start, end = iso_to_us(summary.start) / 1000.0, iso_to_us(summary.end) / 1000.0
    assert len(data["incidents"]) == 5
    for inc in data["incidents"].values():
        a, b = _window(inc)
        assert start <= a < b <= end and 20 <= (b - a) / 60_000 <= 90
        assert inc["root_cause"] in ("client", "network", "gateway", "service", "database")
        assert inc["scope"] and inc["service"] and inc["description"]
    releases = orjson.loads((out / "truth/releases.json").read_bytes())
    assert {r["app"] for r in releases} == {"shop-web", "api"}
    flags = orjson.loads((out / "truth/flags.json").read_bytes())
    assert {f["flag"] for f in flags} == {"new_checkout", "search_v2"}


# --- incidents are visible in the raw data ------------------------------------------------------------
def test_backend_latency_regression_is_visible(data: dict[str, Any]) -> None:
    """Checkout's p90 at the gateway inside the payments incident is several times the p90 outside it."""
    a, b = _window(data["incidents"]["backend_latency_regression"])
    inside, outside = [], []
    for m in data["gateway"]:
        if m["method"] == "POST" and m["uri"] == "/api/checkout":
            (inside if a <= _gateway_time(m) < b else outside).append(float(m["rt"]))
    assert len(inside) >= 8
    assert _p(inside, 0.9) > 3 * _p(outside, 0.9)


def test_flag_error_spike_is_visible(data: dict[str, Any]) -> None:
    """Inside the flag incident, checkouts with new_checkout=on fail far more often than with it off."""
    a, b = _window(data["incidents"]["flag_error_spike"])
    rates: dict[str, list[bool]] = {"on": [], "off": []}
    for t, ctx, e in _client_requests(data["batches"]):
        if e["request"]["url"].endswith("/api/checkout") and a <= t < b:
            rates[ctx["flags"]["new_checkout"]].append(e["request"]["status"] >= 500)
    assert len(rates["on"]) >= 5 and len(rates["off"]) >= 5
    assert statistics.mean(rates["on"]) > 0.25 > statistics.mean(rates["off"]) + 0.2


def test_frontend_js_error_is_visible_only_on_the_client(data: dict[str, Any]) -> None:
    """After the bad web release, JS errors per product page view jump while gateway 5xx stay flat."""
    a, b = _window(data["incidents"]["frontend_js_error"])
    views = {True: 0, False: 0}
    errors = {True: 0, False: 0}
    for batch in data["batches"]:
        skew = batch["sentAt"] - batch["receivedAt"]
        for e in batch["events"]:
            inside = a <= e["ts"] - skew < b
            if e["type"] == "page_view" and "/product/" in e["page"]["url"]:
                views[inside] += 1
            elif e["type"] == "error" and "price" in e["error"]["message"]:
                errors[inside] += 1
    assert errors[True] / views[True] > 0.4 and errors[False] == 0
    s5 = {True: [], False: []}
    for m in data["gateway"]:
        s5[a <= _gateway_time(m) < b].append(m["status"].startswith("5"))
    assert statistics.mean(s5[True]) <= statistics.mean(s5[False]) + 0.01


def test_regional_network_slowdown_is_visible_only_on_the_client(data: dict[str, Any]) -> None:
    """ap-south client request times balloon in the window while the gateway's times for them do not."""
    a, b = _window(data["incidents"]["regional_network_slowdown"])
    gateway_rt = {m["tp"]: float(m["rt"]) * 1000.0 for m in data["gateway"] if m["tp"] != "-"}
    client: dict[bool, list[float]] = {True: [], False: []}
    server: dict[bool, list[float]] = {True: [], False: []}
    for t, ctx, e in _client_requests(data["batches"]):
        if ctx["region"] == "ap-south" and e["request"]["status"] and e.get("traceparent") in gateway_rt:
            client[a <= t < b].append(e["request"]["duration"])
            server[a <= t < b].append(gateway_rt[e["traceparent"]])
    assert len(client[True]) >= 10
    assert statistics.median(client[True]) > 3 * statistics.median(client[False])
    assert statistics.median(server[True]) < 1.5 * statistics.median(server[False]) + 5.0


def test_dependency_timeout_cascades_to_504s_and_frontend_errors(data: dict[str, Any]) -> None:
    """Catalog's database times out, the gateway answers 504 and browsers report errors, only in the window."""
    a, b = _window(data["incidents"]["dependency_timeout"])
    g504 = {True: 0, False: 0}
    for m in data["gateway"]:
        g504[a <= _gateway_time(m) < b] += m["status"] == "504"
    assert g504[True] >= 10 and g504[False] == 0
    db_errors = [
        s
        for service, s in data["spans"]
        if service == "catalog" and s["status"].get("code") == 2 and s["name"].startswith("pg.query")
    ]
    assert db_errors and all(a <= int(s["startTimeUnixNano"]) / 1e6 < b for s in db_errors)
    client_errors = 0
    for batch in data["batches"]:
        skew = batch["sentAt"] - batch["receivedAt"]
        client_errors += sum(
            1
            for e in batch["events"]
            if e["type"] == "error" and "504" in e["error"]["message"] and a <= e["ts"] - skew < b + 10_000
        )
    assert client_errors >= 5


def test_short_spans_keep_all_incidents_inside(tmp_path: Path) -> None:
    """A one-hour run still has five non-overlapping incidents, shrunk to fit."""
    summary = simulate(tmp_path / "h", seed=9, events=6_000, duration_s=3600)
    windows = sorted(_window(i) for i in summary.incidents)
    start, end = iso_to_us(summary.start) / 1000.0, iso_to_us(summary.end) / 1000.0
    assert len(windows) == 5 and windows[0][0] >= start and windows[-1][1] <= end
    assert all(w1[1] <= w2[0] for w1, w2 in itertools.pairwise(windows))
