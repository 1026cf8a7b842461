"""Context a record does not carry itself: default environment, flag states, user segment.

Feature flags come from a flag-change timeline (when each flag changed to which variant,
optionally per environment): each row gets the state in force at its `ts`, under the flags the
record already carries (a record's own flags win). Segments come from a user id -> segment
map keyed by the RAW user id, so this transform must run before pseudonymize.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from seamline.dictionary import STRING_MAP
from seamline.sources._time import BadTimestamp, any_to_us
from seamline.transforms._context import Context

FlagState = tuple[tuple[str, str], ...]


# --- loaders (for the CLI's --flags-timeline and --segments) ----------------------------------


def _change(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    ts, flag = entry.get("ts"), entry.get("flag")
    if not isinstance(flag, str) or not flag:
        raise ValueError(f"{where}: flag must be a non-empty string")
    variant = entry.get("variant")
    if variant is not None and not isinstance(variant, str):
        variant = orjson.dumps(variant).decode() if not isinstance(variant, int | float) else str(variant)
    env = entry.get("environment") or None
    try:
        ts_us = any_to_us(ts)
    except BadTimestamp as exc:
        raise ValueError(f"{where}: {exc}") from None
    # An empty variant (e.g. a blank CSV cell) means the flag was removed.
    return {"ts": ts_us, "flag": flag, "variant": variant or None, "environment": env}


def normalize_timeline(entries: Iterable[Mapping[str, Any]], origin: str = "timeline") -> list[dict[str, Any]]:
    """Flag changes with `ts` in µs, validated and sorted by time (stable for equal times)."""
    out = []
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, Mapping):
            raise ValueError(f"{origin} entry {n}: must be an object with ts, flag, variant")
        out.append(_change(entry, f"{origin} entry {n}"))
    out.sort(key=lambda c: c["ts"])
    return out


def load_flag_timeline(path: Path) -> list[dict[str, Any]]:
    """Read a flag-change timeline from JSON (a list, or {"changes": [...]}), NDJSON or CSV."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if path.suffix.lower() == ".csv" or not stripped.startswith(("[", "{")):
        entries: list[Any] = list(csv.DictReader(io.StringIO(text)))
    elif stripped.startswith("["):
        entries = orjson.loads(text)
    else:
        try:
            doc = orjson.loads(text)
            entries = doc.get("changes", [doc]) if isinstance(doc, dict) else [doc]
        except orjson.JSONDecodeError:  # several objects: NDJSON
            entries = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    return normalize_timeline(entries, path.name)


def load_segment_map(path: Path) -> dict[str, str]:
    """Read user id -> segment from CSV (columns user_id,segment) or JSON (object or list)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if path.suffix.lower() != ".csv" and stripped.startswith(("{", "[")):
        doc = orjson.loads(text)
        if isinstance(doc, dict):
            return {str(k): str(v) for k, v in doc.items() if v is not None}
        pairs = [(d.get("user_id"), d.get("segment")) for d in doc if isinstance(d, dict)]
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or not {"user_id", "segment"} <= set(reader.fieldnames):
            raise ValueError(f"{path.name}: CSV needs a header with user_id and segment columns")
        pairs = [(r["user_id"], r["segment"]) for r in reader]
    return {str(u): str(s) for u, s in pairs if u not in (None, "") and s not in (None, "")}


# --- the flag timeline, compiled --------------------------------------------------------------


class _Timeline:
    """Change times and the flag state after each, per environment (built on first use)."""

    def __init__(self, changes: list[dict[str, Any]]) -> None:
        # Normalised again because a caller may fill ctx.flag_timeline by hand (ISO times).
        self.changes = normalize_timeline(changes)
        self.times = sorted({c["ts"] for c in self.changes})
        self._states: dict[str | None, list[FlagState]] = {}

    def states(self, env: str | None) -> list[FlagState]:
        """State in force from times[k] on is states[k + 1]; states[0] is before any change."""
        found = self._states.get(env)
        if found is None:
            state: dict[str, str] = {}
            found = [()]
            i, n = 0, len(self.changes)
            for t in self.times:
                while i < n and self.changes[i]["ts"] == t:
                    c = self.changes[i]
                    if c["environment"] is None or c["environment"] == env:
                        if c["variant"] is None:
                            state.pop(c["flag"], None)
                        else:
                            state[c["flag"]] = c["variant"]
                    i += 1
                found.append(tuple(sorted(state.items())))
            self._states[env] = found
        return found


def _timeline(ctx: Context) -> _Timeline:
    memo = ctx.memo("enrich")
    key = (id(ctx.flag_timeline), len(ctx.flag_timeline))
    if memo.get("timeline_key") != key:
        memo["timeline"] = _Timeline(ctx.flag_timeline)
        memo["timeline_key"] = key
    return memo["timeline"]


def _apply_flags(batch: pa.RecordBatch, ctx: Context, env_col: pa.Array) -> pa.Array:
    timeline = _timeline(ctx)
    times = timeline.times
    ts_list = batch.column(batch.schema.get_field_index("ts")).cast(pa.int64()).to_pylist()
    own = batch.column(batch.schema.get_field_index("feature_flags"))
    own_list = own.to_pylist() if own.null_count < len(own) else [None] * len(own)
    distinct: dict[Any, int] = {}
    values: list[list[tuple[str, str]] | None] = []
    indices: list[int] = []
    for ts, env, flags in zip(ts_list, env_col.to_pylist(), own_list, strict=True):
        k = bisect_right(times, ts)
        key = (env, k, tuple(flags) if flags else None)
        idx = distinct.get(key)
        if idx is None:
            merged = dict(timeline.states(env)[k])
            if flags:
                merged.update(flags)
            idx = distinct[key] = len(values)
            values.append(list(merged.items()) if merged else None)
        indices.append(idx)
    return pc.take(pa.array(values, type=STRING_MAP), pa.array(indices, type=pa.int32()))


def _segments(ctx: Context) -> tuple[pa.Array, pa.Array]:
    memo = ctx.memo("enrich")
    key = (id(ctx.segment_map), len(ctx.segment_map))
    if memo.get("segments_key") != key:
        memo["segments"] = (
            pa.array(list(ctx.segment_map), type=pa.string()),
            pa.array(list(ctx.segment_map.values()), type=pa.string()),
        )
        memo["segments_key"] = key
    return memo["segments"]


def enrich(batch: pa.RecordBatch, ctx: Context) -> pa.RecordBatch:
    """Default environment, flags in force at each row's time, and segment by raw user id."""
    if batch.num_rows == 0:
        return batch
    schema = batch.schema
    columns = list(batch.columns)
    env_i = schema.get_field_index("environment")
    env = columns[env_i]
    if env.null_count and ctx.settings.environment:
        env = pc.fill_null(env, ctx.settings.environment)
        columns[env_i] = env
    if ctx.flag_timeline:
        columns[schema.get_field_index("feature_flags")] = _apply_flags(batch, ctx, env)
    seg_i, user_i = schema.get_field_index("segment"), schema.get_field_index("user_id")
    segment, user = columns[seg_i], columns[user_i]
    if ctx.segment_map and segment.null_count and user.null_count < len(user):
        keys, segs = _segments(ctx)
        looked_up = pc.take(segs, pc.index_in(user, value_set=keys))
        columns[seg_i] = pc.coalesce(segment, looked_up)
    return pa.RecordBatch.from_arrays(columns, schema=schema)
