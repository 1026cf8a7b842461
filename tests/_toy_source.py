"""A minimal line format used to test the pipeline apart from any real source.

Each line is `ISO-timestamp|kind|duration_ms|user_id[|event_id]`; option `sep` changes the separator.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from seamline.sources import BadRecord, Parser, Row
from seamline.sources._time import BadTimestamp, iso_to_us

NAME = "toy"
DESCRIPTION = "test-only pipe-separated records"
FRAMING = "lines"


def sniff(sample: bytes, filename: str) -> float:
    return 0.9 if sample.count(b"|") >= 3 else 0.0


def make_parser(options: Mapping[str, str]) -> Parser:
    sep = options.get("sep", "|")

    def parse(record: bytes) -> Iterator[Row]:
        text = record.decode("utf-8")
        parts = text.split(sep)
        if len(parts) < 4:
            raise BadRecord(f"expected 4 fields separated by {sep!r}, got {len(parts)}")
        try:
            ts = iso_to_us(parts[0])
        except BadTimestamp as exc:
            raise BadRecord(str(exc)) from exc
        row: Row = {"kind": parts[1], "ts": ts, "user_id": parts[3] or None}
        if parts[2]:
            # Deliberately unconverted when not numeric, so wrong types reach the batch builder.
            row["duration_ms"] = float(parts[2]) if parts[2].replace(".", "", 1).isdigit() else parts[2]
        if len(parts) > 4:
            row["event_id"] = parts[4]
        yield row

    return parse
