"""Structured JSON logs, one object per line: OTel log model, ECS, pino/bunyan, structlog, Log4j 2,
logrus, zap, python-json-logger, or anything with a timestamp.

The preset (see `_json_presets`) is chosen from the first records of a file unless the
`preset` option names one. A preset is compiled once into a lookup tree keyed by the record's
own keys, and records of one shape (the same keys in the same order, as a logger writes them)
share a flat plan built on first sight, so a line costs one `orjson.loads` and one pass over
its keys: no regex, no path walking, no priority checks. A record with an HTTP method and status is an access record
(`server_request`); anything else is a `server_log`. Fields no preset maps are kept as text in
`attributes` (objects the preset does not look into as compact JSON).

`make_chunk_parser` reads many lines at once into Arrow columns (`_json_columnar`), row for
row what this parser yields; lines it cannot vouch for come back here.

Options: `preset` (auto, or one of PRESETS: otel, ecs, pino, structlog, logrus, zap, python,
nginx, caddy, heroku, gcp, journald, log4j, generic), `service` and `environment` (defaults
when a record has none), `path` (the file; its stem is the last-resort service name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import product
from pathlib import PurePath
from typing import Any, Literal

import orjson

from seamline.sources._base import BadRecord, Rejected, Row
from seamline.sources._framing import sample_lines
from seamline.sources._json_presets import COMMON, MIN_DETECT_SCORE, PRESETS, Preset
from seamline.sources._json_values import CONVERTERS, KEEP_RAW, MISS, REDACT_KEYS, REDACTED, TIME_TARGETS, as_text
from seamline.sources._stack import exception_head, fingerprint
from seamline.sources._trace_context import trace_fields

NAME = "json_log"
DESCRIPTION = "JSON log lines (OTel log model, ECS, pino/bunyan, structlog, logrus, zap, python-json-logger, Log4j 2)"
FRAMING: Literal["lines", "whole"] = "lines"

_DETECT_RECORDS = 5  # records whose keys vote on the preset before it is frozen
_MAX_PLANS = 512  # distinct record shapes planned per file; beyond that, walk the tree
# Keys (all of a group present) that mark formats with their own source: OTLP exports, client
# batches, Segment messages.
_OTHER_SOURCE_MARKERS: tuple[tuple[bytes, ...], ...] = (
    (b'"resourceSpans"',),
    (b'"resourceLogs"',),
    (b'"resourceMetrics"',),
    (b'"resource_spans"',),
    (b'"resource_logs"',),
    (b'"sentAt"', b'"events"'),
    (b'"messageId"', b'"anonymousId"'),
    (b'"messageId"', b'"userId"'),
)
_loads = orjson.loads


# --- compiling a preset into a lookup tree ------------------------------------------------------
class _Node:
    """One key of the lookup tree while it is built (frozen into a plain tuple afterwards)."""

    __slots__ = ("children", "leaf", "prefix", "route")

    def __init__(self, prefix: str, route: tuple[str, ...]) -> None:
        self.leaf: tuple[str, Callable[[Any], Any], int, bool] | None = None
        self.children: dict[str, _Node] | None = None
        self.prefix = prefix  # attribute-name prefix for the unmapped members of this object
        self.route = route  # keys from the record root, to re-read a displaced value


# Frozen node: (target, convert, priority, consume, children, child prefix, attribute name, route)
Node = tuple[str | None, Callable[[Any], Any] | None, int, bool, "dict[str, Node] | None", str, str, tuple[str, ...]]


def _routes(parts: list[str]) -> Iterable[tuple[str, ...]]:
    """Every way to split a dotted path into keys: a.b.c, (a, b.c), (a.b, c), (a, b, c)."""
    if len(parts) > 6:  # deep paths: flat or fully nested only
        yield (".".join(parts),)
        yield tuple(parts)
        return
    for cuts in product((False, True), repeat=len(parts) - 1):
        route, start = [], 0
        for i, cut in enumerate(cuts, 1):
            if cut:
                route.append(".".join(parts[start:i]))
                start = i
        route.append(".".join(parts[start:]))
        yield tuple(route)


def _freeze(table: dict[str, _Node], prefix: str) -> dict[str, Node]:
    frozen: dict[str, Node] = {}
    for key, node in table.items():
        target, convert, prio, consume = node.leaf or (None, None, 1 << 30, True)
        children = _freeze(node.children, node.prefix) if node.children else None
        frozen[key] = (target, convert, prio, consume, children, node.prefix, prefix + key, node.route)
    return frozen


def compile_preset(preset: Preset) -> dict[str, Node]:
    """The lookup tree of a preset: preset fields first, then COMMON, all spellings of each path."""
    duration = CONVERTERS[preset.duration]
    entries: list[tuple[str, str, str, int]] = []
    for prio, (path, target, conv) in enumerate(preset.fields):
        entries.append((path, target, conv, prio))
    for prio, (path, target, conv) in enumerate(COMMON, len(preset.fields)):
        entries.append((path, target, conv, prio))
        entries.extend((f"{under}.{path}", target, conv, prio) for under in preset.common_under)
    root: dict[str, _Node] = {}
    for path, target, conv_name, prio in entries:
        convert = duration if conv_name == "duration" else CONVERTERS[conv_name]
        leaf = (target, convert, prio, target not in KEEP_RAW)
        for route in _routes(path.split(".")):
            table, dotted = root, ""
            for depth, key in enumerate(route):
                dotted = f"{dotted}.{key}" if dotted else key
                node = table.get(key)
                if node is None:
                    node = table[key] = _Node(preset.spread.get(dotted, dotted + "."), route[: depth + 1])
                if depth == len(route) - 1:
                    if node.leaf is None or node.leaf[2] > prio:
                        node.leaf = leaf
                else:
                    if node.children is None:
                        node.children = {}
                    table = node.children
    return _freeze(root, "")


def _walk(
    obj: dict[str, Any],
    table: dict[str, Node],
    prefix: str,
    row: Row,
    won: dict[str, Node],
    attrs: dict[str, str],
    root: dict[str, Any],
) -> None:
    get = table.get
    for key, value in obj.items():
        node = get(key)
        if node is None:
            if value is not None:
                if key in REDACT_KEYS:
                    attrs[prefix + key] = REDACTED
                else:
                    attrs[prefix + key] = value if type(value) is str else as_text(value)
            continue
        target, convert, prio, consume, children, child_prefix, name, _ = node
        if children is not None and type(value) is dict:
            _walk(value, children, child_prefix, row, won, attrs, root)
            continue
        if target is None or value is None:
            if value is not None:
                attrs[name] = value if type(value) is str else as_text(value)
            continue
        prev = won.get(target)
        if prev is not None and prev[2] < prio:
            attrs[name] = value if type(value) is str else as_text(value)
            continue
        converted = convert(value)  # type: ignore[misc]
        if converted is MISS:
            attrs[name] = value if type(value) is str else as_text(value)
            continue
        if prev is not None:  # a better spelling came later: keep the displaced one visible
            attrs[prev[6]] = as_text(_dig(root, prev[7]))
        row[target] = converted
        won[target] = node
        if not consume:
            attrs[name] = value if type(value) is str else as_text(value)


# A flat plan: the mapped keys of one record shape in priority order, then its other keys
# split into kept and redacted. Lines of one file mostly share a shape, so the tree lookups,
# priority checks and redaction tests are paid once per shape instead of once per line.
Plan = tuple[
    tuple[str, ...],  # keys whose value, when an object, the preset looks into (then: walk)
    tuple[tuple[str, str, Callable[[Any], Any], bool], ...],  # (key, target, convert, consume)
    tuple[str, ...],  # kept as attributes
    tuple[str, ...],  # redacted
]


def _flat_plan(keys: tuple[str, ...], tree: dict[str, Node]) -> Plan:
    """The plan for records with exactly these keys."""
    watch: list[str] = []
    mapped: list[tuple[int, str, str, Callable[[Any], Any], bool]] = []
    kept: list[str] = []
    redacted: list[str] = []
    for key in keys:
        node = tree.get(key)
        if node is not None and node[4] is not None:
            watch.append(key)
        if node is None or node[0] is None:
            (redacted if key in REDACT_KEYS else kept).append(key)
        else:
            target, convert, prio, consume = node[:4]
            mapped.append((prio, key, target, convert, consume))  # type: ignore[arg-type]
    mapped.sort(key=lambda entry: entry[0])
    flat = tuple((key, target, convert, consume) for _, key, target, convert, consume in mapped)
    return tuple(watch), flat, tuple(kept), tuple(redacted)


def _run_plan(record: dict[str, Any], plan: Plan) -> tuple[Row, dict[str, str]] | None:
    """Row and attributes of a record of the plan's shape; None when it needs the tree walk."""
    watch, mapped, kept, redacted = plan
    for key in watch:
        if type(record[key]) is dict:
            return None
    row: Row = {}
    attrs = {k: v if type(v) is str else as_text(v) for k in kept if (v := record[k]) is not None}
    for key, target, convert, consume in mapped:
        value = record[key]
        if value is None:
            continue
        if target in row:  # a better spelling already filled the column
            attrs[key] = value if type(value) is str else as_text(value)
            continue
        converted = convert(value)
        if converted is MISS:
            attrs[key] = value if type(value) is str else as_text(value)
            continue
        row[target] = converted
        if not consume:
            attrs[key] = value if type(value) is str else as_text(value)
    for key in redacted:
        attrs[key] = REDACTED
    return row, attrs


def _dig(record: dict[str, Any], route: tuple[str, ...]) -> Any:
    value: Any = record
    for key in route:
        value = value[key]
    return value


# --- preset detection -----------------------------------------------------------------------------
def _lookup(record: dict[str, Any], path: str) -> Any:
    if path in record:
        return record[path]
    head, dot, rest = path.partition(".")
    inner = record.get(head) if dot else None
    return _lookup(inner, rest) if type(inner) is dict else MISS


def preset_scores(record: dict[str, Any]) -> dict[str, int]:
    """How well each preset's tell-tale keys (and their types) match one record."""
    scores: dict[str, int] = {}
    for name, preset in PRESETS.items():
        score = 0
        for path, required, weight in preset.detect:
            value = _lookup(record, path)
            if value is not MISS and (required is None or type(value) is required):
                score += weight
        scores[name] = score
    return scores


def detect_preset(records: Iterable[dict[str, Any]]) -> str:
    """The preset that best fits a few records; `generic` when none fits well."""
    totals: dict[str, int] = dict.fromkeys(PRESETS, 0)
    n = 0
    for record in records:
        n += 1
        for name, score in preset_scores(record).items():
            totals[name] += score
    best = max(totals, key=lambda name: totals[name])  # first in table order on ties
    return best if n and totals[best] >= MIN_DETECT_SCORE * n else "generic"


# --- the parser --------------------------------------------------------------------------------------
class _Parser:
    """Per-file state: the chosen preset's tree and the records that voted for it."""

    def __init__(self, options: Mapping[str, str]) -> None:
        wanted = (options.get("preset") or "auto").strip().lower()
        if wanted != "auto" and wanted not in PRESETS:
            raise ValueError(f"unknown json_log preset {wanted!r}; choose auto or one of: {', '.join(PRESETS)}")
        self.fixed = wanted != "auto"
        self.preset = wanted if self.fixed else "generic"
        self.trees: dict[str, dict[str, Node]] = {}
        self.tree = self._tree(self.preset)
        self.votes: list[dict[str, Any]] = []
        self.plans: dict[tuple[str, ...], Plan | None] = {}
        path = options.get("path") or ""
        self.service = options.get("service") or (PurePath(path).name.split(".")[0] if path else None)
        self.environment = options.get("environment") or None

    def _tree(self, name: str) -> dict[str, Node]:
        tree = self.trees.get(name)
        if tree is None:
            tree = self.trees[name] = compile_preset(PRESETS[name])
        return tree

    def plan(self, keys: tuple[str, ...]) -> Plan | None:
        """The flat plan for records of this shape (made on first sight); None means walk the tree."""
        plan = self.plans.get(keys, MISS)
        if plan is MISS:
            plan = _flat_plan(keys, self.tree) if len(self.plans) < _MAX_PLANS else None
            self.plans[keys] = plan
        return plan

    def _vote(self, record: dict[str, Any]) -> None:
        self.votes.append(record)
        name = detect_preset(self.votes)
        if name != self.preset:
            self.preset, self.tree, self.plans = name, self._tree(name), {}
        if len(self.votes) >= _DETECT_RECORDS:
            self.fixed, self.votes = True, []

    def __call__(self, data: bytes) -> Iterable[Row | Rejected]:
        return self.read(data)

    def read(self, data: bytes, fallback_ts: int | None = None) -> tuple[Row]:
        """The row of one line; `fallback_ts` (a container runtime's time) serves a record without one."""
        try:
            record = _loads(data)
        except orjson.JSONDecodeError as exc:
            raise BadRecord(f"invalid JSON: {exc}") from None
        if type(record) is not dict:
            raise BadRecord(f"not a JSON object but a JSON {type(record).__name__}")
        return self.read_record(record, fallback_ts)

    def read_record(self, record: dict[str, Any], fallback_ts: int | None = None) -> tuple[Row]:
        """The row of one decoded record (a JSON object, or the pairs of a logfmt line)."""
        if not self.fixed:
            self._vote(record)
        keys = tuple(record)
        plan = self.plan(keys)
        done = _run_plan(record, plan) if plan is not None else None
        if done is not None:
            row, attrs = done
        else:
            if plan is not None:  # this shape carries objects to look into: walk it from now on
                self.plans[keys] = None
            row, attrs = {}, {}
            _walk(record, self.tree, "", row, {}, attrs, record)
        settle_request(row)
        if "ts" not in row:
            # A stray line of another shape (a mixed file): read it with the preset it fits.
            own = detect_preset([record])
            if own != self.preset:
                other: Row = {}
                other_attrs: dict[str, str] = {}
                _walk(record, self._tree(own), "", other, {}, other_attrs, record)
                settle_request(other)
                if "ts" in other or fallback_ts is None or own != "generic":  # the shape it fits reads it best
                    row, attrs = other, other_attrs
            if "ts" not in row:
                if fallback_ts is None:
                    raise BadRecord(self._no_ts_reason(record, own))
                row["ts"] = fallback_ts
        finish_errors_and_trace(row)
        row["kind"] = "server_request" if "http_method" in row and "http_status" in row else "server_log"
        if "service" not in row and self.service:
            row["service"] = self.service
        if "environment" not in row and self.environment:
            row["environment"] = self.environment
        if attrs:
            row["attributes"] = attrs
        return (row,)

    def _no_ts_reason(self, record: dict[str, Any], preset: str) -> str:
        paths = [p for p, target, _ in PRESETS[preset].fields + COMMON if target in TIME_TARGETS]
        for path in paths:
            value = _lookup(record, path)
            if value is not MISS:
                return f"unreadable timestamp in {path!r}: {as_text(value)[:60]!r}"
        return f"no timestamp field (preset {preset}; looked for {', '.join(dict.fromkeys(paths))})"


def settle_request(row: Row) -> None:
    """Start time from an end time and the duration; method and URL from a request line (in place).

    Columns the record names itself win: `ts` over `_end_ts`, request_method/request_uri over
    the request line.
    """
    line = row.pop("_request_line", None)
    if line is not None:
        parts = line.split(" ")
        if len(parts) == 3 and (method := CONVERTERS["method"](parts[0])) is not MISS and parts[1]:
            row.setdefault("http_method", method)
            row.setdefault("url", parts[1])
    end = row.pop("_end_ts", None)
    if end is not None and "ts" not in row:
        duration = row.get("duration_ms")
        row["ts"] = end - round(duration * 1000) if duration else end


def finish_errors_and_trace(row: Row) -> None:
    """Error type, message and fingerprint from a stack; trace fields from a traceparent (in place)."""
    stack = row.pop("_stack", None)
    if stack is not None or "error_type" in row:
        if "error_type" not in row and stack is not None:
            kind, message = exception_head(stack)
            if kind:
                row["error_type"] = kind
                if message and "error_message" not in row:
                    row["error_message"] = message
        row["error_fingerprint"] = fingerprint(stack, row.get("error_type"), row.get("error_message"))
    traceparent = row.pop("_traceparent", None)
    if traceparent is not None:
        fields = trace_fields(traceparent)
        if fields and row.get("trace_id", fields["trace_id"]) == fields["trace_id"]:
            for key, value in fields.items():
                row.setdefault(key, value)


def make_parser(options: Mapping[str, str]) -> Callable[[bytes], Iterable[Row | Rejected]]:
    """A parser for one file; the preset is detected from its first records unless given."""
    return _Parser(options)


def sniff(sample: bytes, filename: str) -> float:
    """Confidence that the sample is JSON log lines: objects with a timestamp on most lines."""
    if any(all(key in sample for key in group) for group in _OTHER_SOURCE_MARKERS):
        return 0.05  # OTLP exports, client batches and Segment messages have their own sources
    lines = sample_lines(sample)
    if not lines:
        return 0.0
    records = []
    for line in lines:
        try:
            record = _loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(record) is dict:
            records.append(record)
    if not records:
        return 0.0
    preset = detect_preset(records[:_DETECT_RECORDS])
    times = [path for path, target, _ in COMMON + PRESETS[preset].fields if target in TIME_TARGETS]
    timed = sum(1 for record in records if any(_lookup(record, path) is not MISS for path in times))
    score = 0.65 * timed / len(lines)
    if preset != "generic":
        score += 0.15
    return round(score, 3)


def make_chunk_parser(parser: Callable[[bytes], Iterable[Row | Rejected]]) -> Any:
    """A parser of many lines at once bound to `parser` (a json_log line parser), or None."""
    if not isinstance(parser, _Parser):
        return None
    from seamline.sources._json_columnar import JsonChunkParser  # imports this module

    return JsonChunkParser(parser)
