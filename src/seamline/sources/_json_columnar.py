"""Columnar json_log: a chunk of lines into one Arrow batch, row for row what the line parser yields.

Lines are decoded with orjson, as the line parser does, a slice at a time, and dealt out by
shape (their keys in order); each slice's records are taken apart into one column per key
while still in the CPU cache (text keys by one strict `pa.array(records, struct)` call, the
rest into Python lists). Each shape's flat plan (the one the line parser runs,
`json_log._flat_plan`) is then run a column at a time: a column goes through an exact
vectorised twin of the preset converter (pyarrow.compute) when its value type has one, else
through the very same scalar converter, once per distinct value. Which key wins a column,
what goes to `attributes` and in which order follow the plan exactly as `json_log._run_plan`
does for one record; tests/test_json_columnar.py holds both paths to that.

Lines it cannot vouch for go back to the line parser: invalid JSON, values other than
objects, shapes that need the tree walk, rows left without a timestamp (a stray line of
another format) and groups a conversion fails for.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from seamline.dictionary import STRING_MAP
from seamline.schema import EVENTS_SCHEMA, lit
from seamline.sources._chunks import ChunkRows
from seamline.sources._json_values import CONVERTERS, MISS, REDACTED, as_text
from seamline.sources.json_log import Plan, _Parser, finish_errors_and_trace, settle_request

_loads = orjson.loads
_dumps = orjson.dumps
_NONE = type(None)
_STR = pa.string()
_I64 = pa.int64()
_F64 = pa.float64()
_TS = pa.timestamp("us", tz="UTC")
_TYPES: dict[str, pa.DataType] = {f.name: f.type for f in EVENTS_SCHEMA} | {"_end_ts": pa.int64()}
_MAX_US = 10**16
_NAME_OF: dict[int, str] = {}
for _name, _fn in CONVERTERS.items():
    _NAME_OF.setdefault(id(_fn), _name)  # converters shared by two names behave the same
# Targets the finishing step reads or writes (errors from stacks, trace fields from traceparents).
_FINISH = ("_stack", "_traceparent", "error_type", "error_message", "error_fingerprint", "trace_id")
_FINISHED = ("error_type", "error_message", "error_fingerprint", "trace_id", "parent_span_id", "trace_sampled")
_FAILED = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError, OverflowError)

# ISO 8601 shapes whose Arrow cast equals datetime.fromisoformat to the microsecond.
_DATE_TIME = r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
_ISO_OFFSET = _DATE_TIME + r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$"
_ISO_NAIVE = _DATE_TIME + "$"
_ID = r"(?s)^[!-~](?:.*[!-~])?$"  # starts and ends with a visible ASCII character: str.strip() keeps it


class _Column:
    """One key's values over the rows of a shape group: a Python list, or a strictly built string array."""

    __slots__ = ("_text", "_typed", "_values", "kind", "n", "nulls")

    def __init__(self, values: list[Any] | None = None, strings: pa.Array | None = None) -> None:
        self._typed: pa.Array | None = strings
        self._text: pa.Array | None = None
        self._values = values
        if strings is not None:
            self.n = len(strings)
            self.nulls = strings.null_count > 0
            self.kind: type | None = str if strings.null_count < self.n else None
            return
        assert values is not None
        self.n = len(values)
        kinds = set(map(type, values))
        self.nulls = _NONE in kinds
        kinds.discard(_NONE)
        self.kind = kinds.pop() if len(kinds) == 1 else (object if kinds else None)

    @property
    def values(self) -> list[Any]:
        """The values as Python objects."""
        if self._values is None:
            assert self._typed is not None
            self._values = self._typed.to_pylist()
        return self._values

    def typed(self) -> pa.Array:
        """The values as one Arrow array of their own type (str, int, float or bool columns only)."""
        if self._typed is None:
            kind = self.kind
            arrow_type = _STR if kind is str else _I64 if kind is int else _F64 if kind is float else pa.bool_()
            self._typed = pa.array(self.values, type=arrow_type)
        return self._typed

    def text(self) -> pa.Array:
        """The values as attribute text (`as_text`), null where the value is null."""
        if self._text is None:
            kind = self.kind
            if kind is str:
                self._text = self.typed()
            elif kind is int:
                self._text = self.typed().cast(_STR)  # Arrow's integer text is Python's str(int)
            elif kind is bool:
                self._text = pc.if_else(self.typed(), lit("true"), lit("false"))
            elif kind is dict or kind is list:  # as_text of an object or array, without the call per value
                self._text = pa.array([None if v is None else _dumps(v).decode() for v in self.values], type=_STR)
            elif kind is float:  # Python's float text (Arrow's differs: 100 for 100.0)
                values = self.values
                text = [None if v is None else repr(v) for v in values] if self.nulls else list(map(repr, values))
                self._text = pa.array(text, type=_STR)
            else:
                self._text = pa.array([None if v is None else as_text(v) for v in self.values], type=_STR)
        return self._text

    def present(self) -> pa.Array:
        """True where the value is not null."""
        if self.kind is None:
            return pa.nulls(self.n, pa.bool_()).is_valid()
        base = self.typed() if self.kind in (str, int, float, bool) else self.text()
        return base.is_valid()


# --- converters: exact vectorised twins, by (converter name, value type) --------------------------
Converted = tuple[pa.Array, pa.Array | None]  # (values, null where absent or MISS; MISS mask or None)


def _all(mask: pa.Array) -> bool:
    value = pc.all(mask).as_py()
    return value is None or value


def _keep_where(ok: pa.Array, values: pa.Array) -> Converted:
    ok = pc.fill_null(ok, lit(False))
    miss = pc.and_(pc.invert(ok), values.is_valid())
    return pc.if_else(ok, values, pa.nulls(len(values), values.type)), miss


def _nonempty(col: _Column) -> Converted | None:
    arr = col.typed()
    return _keep_where(pc.greater(pc.binary_length(arr), lit(0)), arr)


def _clean_id(col: _Column) -> Converted | None:
    arr = col.typed()
    ok = pc.and_(pc.match_substring_regex(arr, _ID), pc.not_equal(arr, lit("-")))
    return (arr, None) if _all(ok) else None


def _hex(size: int) -> Callable[[_Column], Converted | None]:
    pattern, zero = f"^[0-9a-f]{{{size}}}$", "0" * size

    def convert(col: _Column) -> Converted | None:
        arr = col.typed()
        if not _all(pc.match_substring_regex(arr, pattern)) or pc.any(pc.equal(arr, lit(zero))).as_py():
            return None
        return arr, None

    return convert


def _in_range(us: pa.Array) -> Converted:
    return _keep_where(pc.and_(pc.greater(us, lit(0)), pc.less(us, lit(_MAX_US))), us)


def _iso_ts(col: _Column) -> Converted | None:
    arr = col.typed()
    try:
        if _all(pc.match_substring_regex(arr, _ISO_OFFSET)):
            us = arr.cast(_TS)
        elif _all(pc.match_substring_regex(arr, _ISO_NAIVE)):
            us = arr.cast(pa.timestamp("us"))  # naive times are UTC, as json_log reads them
        else:
            return None
    except pa.ArrowInvalid:  # e.g. 31 February: the scalar converter decides
        return None
    return _in_range(us.cast(_I64))


def _epoch_ts(col: _Column) -> Converted | None:
    """`_time.epoch_to_us` over a column: the unit told apart by magnitude, rounding half to even."""
    arr = col.typed()
    v = arr.cast(_F64, safe=False)  # epoch_to_us reads the magnitude (and all but integer ns) as a float
    mag = pc.abs(v)
    us = pc.case_when(
        pc.make_struct(pc.less(mag, lit(1e11)), pc.less(mag, lit(1e14)), pc.less(mag, lit(1e17))),
        pc.round(pc.multiply(v, lit(1e6)), 0, "half_to_even"),
        pc.round(pc.multiply(v, lit(1e3)), 0, "half_to_even"),
        pc.trunc(v),
        pc.round(pc.divide(v, lit(1e3)), 0, "half_to_even"),
    )
    ok = pc.and_(pc.greater(us, lit(0.0)), pc.less(us, lit(float(_MAX_US))))
    exact = pc.if_else(ok, us, pa.nulls(len(us), _F64)).cast(_I64)
    if col.kind is int:  # integer nanoseconds are divided as integers, without a float in between
        ns = pc.greater_equal(mag, lit(1e17))
        whole = pc.divide(arr, lit(1000))
        ns_ok = pc.and_(pc.greater(whole, lit(0)), pc.less(whole, lit(_MAX_US)))
        exact = pc.if_else(ns, pc.if_else(ns_ok, whole, pa.nulls(len(whole), _I64)), exact)
        ok = pc.if_else(ns, ns_ok, ok)
    ok = pc.fill_null(ok, lit(False))
    return exact, pc.and_(pc.invert(ok), arr.is_valid())


def _scaled(factor: float, int_divisor: float | None = None) -> Callable[[_Column], Converted | None]:
    def convert(col: _Column) -> Converted | None:
        arr = col.typed()
        v = arr.cast(_F64, safe=False)
        out = (
            pc.divide(v, lit(int_divisor))
            if int_divisor is not None and col.kind is int
            else pc.multiply(v, lit(factor))
        )
        return _keep_where(pc.greater_equal(arr, lit(0)), out)

    return convert


def _int_between(low: int, high: int) -> Callable[[_Column], Converted | None]:
    def convert(col: _Column) -> Converted | None:
        arr = col.typed()
        return _keep_where(pc.and_(pc.greater_equal(arr, lit(low)), pc.less_equal(arr, lit(high))), arr)

    return convert


def _int_text(col: _Column) -> Converted | None:
    return col.text(), None


_UNITS = {"ms": 1.0, "s": 1e3, "us": 1e-3, "ns": 1e-6}
_FAST: dict[tuple[str, type], Callable[[_Column], Converted | None]] = {
    **{(name, str): _nonempty for name in ("text", "scalar", "text_str", "stack")},
    **{(name, int): _int_text for name in ("text", "scalar", "id")},
    ("id", str): _clean_id,
    ("trace_id", str): _hex(32),
    ("span_id", str): _hex(16),
    ("ts", str): _iso_ts,
    ("ts", int): _epoch_ts,
    ("ts", float): _epoch_ts,
    ("status", int): _int_between(100, 599),
    ("bytes", int): _int_between(0, (1 << 62) - 1),
    **{(name, kind): _scaled(f) for name, f in _UNITS.items() for kind in (int, float)},
    ("go_duration", int): _scaled(1e3, int_divisor=1e6),
    ("go_duration", float): _scaled(1e3),
}


def _scalar(convert: Callable[[Any], Any], col: _Column, target: str) -> Converted:
    """The scalar converter itself: once per distinct value where equal values convert alike."""
    arrow_type = _TYPES.get(target, _STR)
    if col.kind is str:  # distinct strings found and spread back by Arrow
        arr = col.typed()
        unique = pc.unique(arr)
        out = [None if v is None else convert(v) for v in unique.to_pylist()]
        miss = [o is MISS for o in out]
        at = pc.index_in(arr, value_set=unique)
        converted = pa.array([None if o is MISS else o for o in out], type=arrow_type).take(at)
        return converted, pa.array(miss, type=pa.bool_()).take(at) if any(miss) else None
    values = col.values
    if col.kind in (int, bool):
        table = dict.fromkeys(values)
        for value in table:
            table[value] = None if value is None else convert(value)
        got = list(map(table.__getitem__, values))
    else:  # floats (0.0 == -0.0) and mixed types (1 == True) are converted one by one
        got = [None if v is None else convert(v) for v in values]
    flags = [o is MISS for o in got]
    if not any(flags):
        return pa.array(got, type=arrow_type), None
    return pa.array([None if o is MISS else o for o in got], type=arrow_type), pa.array(flags, type=pa.bool_())


def convert_column(convert: Callable[[Any], Any], col: _Column, target: str) -> Converted:
    """A column through one preset converter: (converted values typed for `target`, MISS mask)."""
    fast = _FAST.get((_NAME_OF.get(id(convert), ""), col.kind))  # type: ignore[arg-type]
    if fast is not None:
        done = fast(col)
        if done is not None:
            values, miss = done
            arrow_type = _TYPES.get(target, _STR)
            return values.cast(arrow_type) if values.type != arrow_type else values, miss
    return _scalar(convert, col, target)


# --- a chunk ----------------------------------------------------------------------------------------
_ARANGE: list[pa.Array] = [pa.array(range(1 << 16), type=_I64)]


def _arange(n: int) -> pa.Array:
    if len(_ARANGE[0]) < n:
        _ARANGE[0] = pa.array(range(max(n, 2 * len(_ARANGE[0]))), type=_I64)
    return _ARANGE[0].slice(0, n)


def attributes_column(entries: list[tuple[str, pa.Array]], n: int) -> pa.Array:
    """A MAP column from (key, text or null) columns, entries in list order; no entry makes a null."""
    if not entries:
        return pa.nulls(n, STRING_MAP)
    m = len(entries)
    position = _arange(n * m)
    row = pc.divide(position, lit(m))
    which = pc.subtract(position, pc.multiply(row, lit(m)))
    items = pa.concat_arrays([values for _, values in entries]).take(pc.add(pc.multiply(which, lit(n)), row))
    keys = pa.array([key for key, _ in entries], type=_STR).take(which)
    valid = items.is_valid()
    counts = entries[0][1].is_valid().cast(pa.int32())
    for _, values in entries[1:]:
        counts = pc.add(counts, values.is_valid().cast(pa.int32()))
    offsets = pa.concat_arrays([pa.array([0], type=pa.int32()), pc.cumulative_sum(counts).cast(pa.int32())])
    return pa.MapArray.from_arrays(
        offsets,
        keys.filter(valid),
        items.filter(valid),
        type=STRING_MAP,
        mask=pc.equal(counts, pa.scalar(0, pa.int32())),
    )


_SLICE = 256  # lines decoded and transposed at a time


class _Shape:
    """The records of one shape in a chunk: their line indices, and their values as pieces per key.

    Keys first seen holding text (or null) are read in C by one `pa.array(records, struct)` per
    slice, which refuses anything but text; the others, and every key of a slice that call
    refuses, are picked into Python lists.
    """

    __slots__ = ("members", "open", "pending", "pieces", "plan", "shape", "strings", "walked")

    def __init__(self, shape: tuple[str, ...], plan: Plan | None, first: dict[str, Any]) -> None:
        self.shape = shape
        self.plan = plan
        self.open = plan is not None  # False once a record of the shape needs the tree walk
        self.members: list[int] = []  # line indices of the records in `pieces`, then of `pending`
        self.pending: list[dict[str, Any]] = []  # records of the current slice, not yet taken apart
        self.pieces: dict[str, list[pa.Array | list[Any]]] = {key: [] for key in shape}
        text = [key for key, value in first.items() if value is None or type(value) is str]
        self.strings = pa.struct([(key, _STR) for key in text]) if text else None
        self.walked: list[int] = []  # members from the first record that needs the tree walk on

    def take_pending(self) -> bool:
        """Move the pending records into the pieces; True when this shape has to walk from now on."""
        records, self.pending = self.pending, []
        first = None
        for key in self.plan[0] if self.plan is not None else ():
            kinds = list(map(type, map(itemgetter(key), records)))
            if dict in kinds:
                at = kinds.index(dict)
                first = at if first is None else min(first, at)
        if first is not None:  # an object where the preset looks inside: from here on, the tree walk
            cut = len(self.members) - len(records) + first
            self.walked, self.members = self.members[cut:], self.members[:cut]
            records = records[:first]
            self.open = False
        if not records:
            return first is not None
        picked = self.shape
        if self.strings is not None:
            try:
                struct = pa.array(records, type=self.strings)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                struct = None
            if struct is not None:
                for i, field in enumerate(self.strings):
                    self.pieces[field.name].append(struct.field(i))
                picked = tuple(key for key in self.shape if self.strings.get_field_index(key) < 0)
        for key in picked:
            self.pieces[key].append(list(map(itemgetter(key), records)))
        return first is not None

    def columns(self) -> dict[str, _Column]:
        """Each key's pieces joined into one column."""
        out = {}
        for key, pieces in self.pieces.items():
            if all(isinstance(p, pa.Array) for p in pieces):
                out[key] = _Column(strings=pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces))
            else:
                values: list[Any] = []
                for p in pieces:
                    values.extend(p.to_pylist() if isinstance(p, pa.Array) else p)
                out[key] = _Column(values)
        return out


class JsonChunkParser:
    """The chunk parser bound to one json_log line parser (sharing its preset and plans)."""

    def __init__(self, parser: _Parser) -> None:
        self.parser = parser

    @property
    def ready(self) -> bool:
        """Once the preset is settled, every line of a shape is read the same way."""
        return self.parser.fixed

    def __call__(self, lines: Sequence[bytes]) -> ChunkRows:
        """Rows for the lines read here, and the lines left to the line parser."""
        # Decoding allocates a dict per line, which keeps triggering the cyclic collector over
        # the whole heap (10-20% of the parse); the records form no cycles, so it can wait.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            return self._parse(lines)
        finally:
            if paused:
                gc.enable()

    def _parse(self, lines: Sequence[bytes]) -> ChunkRows:
        rest: list[int] = []
        groups: dict[tuple[str, ...], _Shape] = {}
        for start in range(0, len(lines), _SLICE):
            # Decode and transpose a slice at a time, while its dicts are still in the CPU cache.
            try:
                records = list(map(_loads, lines[start : start + _SLICE]))
            except orjson.JSONDecodeError:
                records = [_loads_or_none(line) for line in lines[start : start + _SLICE]]
            touched: list[_Shape] = []
            self._deal(records, start, groups, rest, touched)
            for group in touched:
                if group.take_pending():
                    self.parser.plans[group.shape] = None  # as the line parser does: this shape walks now
        parts: list[tuple[dict[str, pa.Array], pa.Array]] = []
        for group in groups.values():
            rest.extend(group.walked)
            if not group.members:
                continue
            try:
                done, left = self._group(group)
            except _FAILED:  # the line parser reads them (and quarantines what it cannot)
                rest.extend(group.members)
                continue
            rest.extend(left)
            if done is not None:
                parts.append(done)
        rest.sort()
        return _assemble(parts, rest)

    def _deal(
        self,
        records: list[Any],
        start: int,
        groups: dict[tuple[str, ...], _Shape],
        rest: list[int],
        touched: list[_Shape],
    ) -> None:
        """Hand each record of a slice to its shape's group (objects only; the rest to the line parser)."""
        for i, record in enumerate(records, start):
            if type(record) is not dict:
                rest.append(i)
                continue
            shape = tuple(record)
            group = groups.get(shape)
            if group is None:
                group = groups[shape] = _Shape(shape, self.parser.plan(shape), record)
            if not group.open:
                rest.append(i)
                continue
            if not group.pending:
                touched.append(group)
            group.pending.append(record)
            group.members.append(i)

    def _group(self, group: _Shape) -> tuple[tuple[dict[str, pa.Array], pa.Array] | None, list[int]]:
        """Columns and line indices for one shape's records, and the members left to the line parser."""
        assert group.plan is not None
        _, mapped, kept, redacted = group.plan
        members = group.members
        rest: list[int] = []
        columns = group.columns()
        n = len(members)
        out: dict[str, pa.Array] = {}
        filled: dict[str, pa.Array] = {}
        attrs = [(key, columns[key].text()) for key in kept if columns[key].kind is not None]
        tail: list[tuple[str, pa.Array]] = []
        for key, target, convert, consume in mapped:
            if not target.startswith("_") and target not in _TYPES:
                raise TypeError(f"no column {target}")
            col = columns[key]
            if col.kind is None:
                continue
            values, miss = convert_column(convert, col, target)
            before = filled.get(target)
            took = values.is_valid() if before is None else pc.and_(values.is_valid(), pc.invert(before))
            to_attr = miss if miss is not None else None
            if before is not None:
                out[target] = pc.if_else(before, out[target], values)
                displaced = pc.and_(before, col.present())
                to_attr = displaced if to_attr is None else pc.or_(to_attr, displaced)
                filled[target] = pc.or_(before, took)
            else:
                out[target] = values
                filled[target] = took
            if not consume:
                to_attr = took if to_attr is None else pc.or_(to_attr, took)
            if to_attr is not None and pc.any(to_attr).as_py():
                tail.append((key, pc.if_else(to_attr, col.text(), pa.nulls(n, _STR))))
        attrs.extend(tail)
        attrs.extend((key, pa.repeat(lit(REDACTED), n)) for key in redacted)
        if "_end_ts" in out or "_request_line" in out:
            _settle(out, n)
        ts = out.get("ts")
        if ts is None:
            return None, members
        self._finish(out, n)
        kind = pc.if_else(
            pc.and_(_valid(out, "http_method", n), _valid(out, "http_status", n)),
            lit("server_request"),
            lit("server_log"),
        )
        out = {name: values for name, values in out.items() if not name.startswith("_")}
        out["kind"] = kind
        for name, default in (("service", self.parser.service), ("environment", self.parser.environment)):
            if default:
                out[name] = pc.fill_null(out[name], lit(default)) if name in out else pa.repeat(lit(default), n)
        out["attributes"] = attributes_column(attrs, n)
        index = pa.array(members, type=_I64)
        keep = ts.is_valid()
        if keep.false_count:  # no timestamp: the line parser tries the preset the record fits
            rest = [m for m, k in zip(members, keep.to_pylist(), strict=True) if not k] + rest
            out = {name: values.filter(keep) for name, values in out.items()}
            index = index.filter(keep)
        return (out, index), rest

    @staticmethod
    def _finish(out: dict[str, pa.Array], n: int) -> None:
        """Stacks and traceparents, row by row through the line parser's own code (they are rare)."""
        marks = [out[name].is_valid() for name in ("_stack", "_traceparent", "error_type") if name in out]
        if not marks:
            return
        special = marks[0]
        for mark in marks[1:]:
            special = pc.or_(special, mark)
        if not special.true_count:
            return
        rows = pc.indices_nonzero(special).to_pylist()
        current = {name: out[name].to_pylist() if name in out else [None] * n for name in _FINISH + _FINISHED}
        for i in rows:
            row = {name: values[i] for name, values in current.items() if values[i] is not None}
            finish_errors_and_trace(row)
            for name in _FINISHED:
                current[name][i] = row.get(name)
        for name in _FINISHED:
            if name in out or any(current[name][i] is not None for i in rows):
                out[name] = pa.array(current[name], type=_TYPES[name])


_SETTLED = ("ts", "http_method", "url")


def _settle(out: dict[str, pa.Array], n: int) -> None:
    """End times and request lines, row by row through the line parser's own `settle_request`."""
    reads = ("_end_ts", "_request_line", "duration_ms", *_SETTLED)
    current = {name: out[name].to_pylist() if name in out else [None] * n for name in reads}
    if "ts" in out:  # datetimes from the column, integers as the line parser has them
        current["ts"] = out["ts"].cast(_I64).to_pylist()
    for i in range(n):
        row = {name: values[i] for name, values in current.items() if values[i] is not None}
        settle_request(row)
        for name in _SETTLED:
            current[name][i] = row.get(name)
    for name in _SETTLED:
        if name in out or any(v is not None for v in current[name]):
            values = pa.array(current[name], type=_I64 if name == "ts" else _TYPES[name])
            out[name] = values.cast(_TYPES["ts"]) if name == "ts" else values


def _valid(out: dict[str, pa.Array], name: str, n: int) -> pa.Array:
    return out[name].is_valid() if name in out else pa.nulls(n, pa.bool_()).is_valid()


def _loads_or_none(line: bytes) -> Any:
    try:
        return _loads(line)
    except orjson.JSONDecodeError:
        return None  # not an object: the line parser quarantines it with its reason


def _empty() -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in EVENTS_SCHEMA], schema=EVENTS_SCHEMA)


def _assemble(parts: list[tuple[dict[str, pa.Array], pa.Array]], rest: list[int]) -> ChunkRows:
    """One batch from the shape groups' columns (grouped by shape, not back in line order)."""
    if not parts:
        return ChunkRows(_empty(), pa.array([], type=_I64), rest)
    index = pa.concat_arrays([idx for _, idx in parts]) if len(parts) > 1 else parts[0][1]
    arrays = []
    for field in EVENTS_SCHEMA:
        pieces = [cols[field.name] if field.name in cols else pa.nulls(len(idx), field.type) for cols, idx in parts]
        column = pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)
        arrays.append(column if column.type == field.type else column.cast(field.type))
    return ChunkRows(pa.RecordBatch.from_arrays(arrays, schema=EVENTS_SCHEMA), index, rest)
