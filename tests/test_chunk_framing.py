"""Chunked line framing cuts an input exactly as the line reader does: lines, positions, offsets, problems."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from seamline.sources._chunks import LineChunk, iter_line_chunks
from seamline.sources._framing import BOM, FramingProblem, RawRecord, iter_lines, open_input

Item = tuple[int, bytes | tuple[str, bytes, int]]


def _flatten(items: list[LineChunk | RawRecord]) -> list[Item]:
    out: list[Item] = []
    for item in items:
        if isinstance(item, LineChunk):
            assert len(item.lines) == len(item.positions)
            out.extend(zip(item.positions, item.lines, strict=True))
        else:
            out.extend(_by_line([item]))
    return out


def _by_line(records: list[RawRecord]) -> list[Item]:
    out: list[Item] = []
    for r in records:
        if isinstance(r.data, FramingProblem):
            out.append((r.position, (r.data.reason.split(":")[0], r.data.raw, r.data.raw_size)))
        else:
            out.append((r.position, r.data))
    return out


lines_strategy = st.lists(
    st.one_of(
        st.binary(min_size=0, max_size=40).map(lambda b: b.replace(b"\n", b"x")),
        st.sampled_from([b"", b"  ", b"\t", b"\r", b"{}\r", b" \x0b\x0c ", b'{"a":1}']),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    lines=lines_strategy,
    final_newline=st.booleans(),
    max_line=st.integers(min_value=1, max_value=30),
    chunk=st.integers(min_value=1, max_value=50),
    skip=st.integers(min_value=0, max_value=10),
    bom=st.booleans(),
)
def test_chunks_match_line_reader(
    lines: list[bytes], final_newline: bool, max_line: int, chunk: int, skip: int, bom: bool
) -> None:
    """Lines, positions and problems agree (a leading byte-order mark too); chunks end at their last line's offset."""
    data = (BOM if bom else b"") + b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    # Resume from a line boundary, as a checkpoint would.
    boundaries = [0] + [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    start_line = min(skip, len(boundaries) - 1)
    start = boundaries[start_line]
    expected = list(iter_lines(io.BytesIO(data), max_line, start, start_line))
    got = list(iter_line_chunks(io.BytesIO(data), max_line, start, start_line, chunk_bytes=chunk))
    assert _flatten(got) == _by_line(expected)

    def after(line: int) -> int:
        return boundaries[line] if line < len(boundaries) else len(data)

    for item in got:
        if isinstance(item, LineChunk):
            assert item.end_offset == after(item.end_line)
            assert list(item.ends) == [after(p) for p in item.positions]
            if len(item.lines) > 1:  # a cut chunk ends right after the line it was cut at
                head, tail = item.split(1)
                assert (head.end_offset, head.end_line, head.lines) == (
                    after(item.positions[0]),
                    item.positions[0],
                    item.lines[:1],
                )
                assert (tail.end_offset, tail.end_line, tail.lines) == (item.end_offset, item.end_line, item.lines[1:])
    if got:
        last, last_expected = got[-1], expected[-1] if expected else None
        if isinstance(last, RawRecord) and last_expected is not None:
            assert last.end_offset == last_expected.end_offset


def test_truncated_gzip_reads_up_to_the_break(tmp_path: Path) -> None:
    """A cut gzip member yields the readable lines, then the same problem record as the line reader."""
    body = b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * (i % 50)) for i in range(20_000))
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(gzip.compress(body)[:-4000])
    with open_input(path) as stream:
        expected = list(iter_lines(stream, 1_000_000))
    with open_input(path) as stream:
        got = list(iter_line_chunks(stream, 1_000_000, reopen=lambda: open_input(path), chunk_bytes=1 << 16))
    assert _flatten(got) == _by_line(expected)
    assert isinstance(got[-1], RawRecord) and isinstance(got[-1].data, FramingProblem)
    assert got[-1].end_offset == expected[-1].end_offset


def test_byte_order_mark_is_dropped_from_the_first_line_only(tmp_path: Path) -> None:
    """A UTF-8 BOM at the start of a file is not part of line 1; offsets still count its 3 bytes."""
    data = BOM + b'{"a":1}\n' + BOM + b'{"b":2}\n'
    chunks = [c for c in iter_line_chunks(io.BytesIO(data), 100) if isinstance(c, LineChunk)]
    assert [line for c in chunks for line in c.lines] == [b'{"a":1}', BOM + b'{"b":2}']
    assert list(chunks[0].ends) == [11, 22]
    assert [r.data for r in iter_lines(io.BytesIO(data), 100)] == [b'{"a":1}', BOM + b'{"b":2}']
