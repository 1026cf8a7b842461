"""Sources: one module per input format, registered by name here.

Each module reads one raw record (a line, or a whole body) and yields rows in the unified
schema; see `seamline.sources._base` for the contract.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType

from seamline.sources._base import BadRecord, Parser, Rejected, Row, SourceModule

# name -> module path. Order matters only for ties in detection.
REGISTRY: dict[str, str] = {
    "client_events": "seamline.sources.client_events",
    "segment": "seamline.sources.segment",
    "otlp_traces": "seamline.sources.otlp_traces",
    "otlp_logs": "seamline.sources.otlp_logs",
    "container_log": "seamline.sources.container_log",
    "json_log": "seamline.sources.json_log",
    "logfmt": "seamline.sources.logfmt",
    "nginx": "seamline.sources.access_log",
    "apache": "seamline.sources.apache_log",
    "envoy": "seamline.sources.envoy",
    "syslog": "seamline.sources.syslog",
    "aws_alb": "seamline.sources.aws_alb",
}


class UnknownSource(LookupError):
    """No source of that name, or none recognised the input."""


def get_source(name: str) -> SourceModule:
    """Import and return the named source module."""
    try:
        path = REGISTRY[name]
    except KeyError:
        raise UnknownSource(f"no source named {name!r}; choose one of: {', '.join(REGISTRY)}") from None
    module: ModuleType = importlib.import_module(path)
    return module  # type: ignore[return-value]


def framing_for(module: SourceModule, options: Mapping[str, str], filename: str) -> str:
    """How to cut an input for a source: its `framing(options, filename)` when it has one
    (OTLP: protobuf files are one body), else its FRAMING."""
    decide = getattr(module, "framing", None)
    return decide(options, filename) if callable(decide) else module.FRAMING


def available_sources() -> list[str]:
    """Names of the sources whose module imports (all of them, once built)."""
    names = []
    for name in REGISTRY:
        try:
            get_source(name)
        except ImportError:
            continue
        names.append(name)
    return names


def source_scores(sample: bytes, filename: str) -> list[tuple[str, float]]:
    """Every source's confidence that it reads the sample, best first (registry order on ties)."""
    scores = [(name, get_source(name).sniff(sample, filename)) for name in available_sources()]
    return sorted(scores, key=lambda pair: -pair[1])


def detect_source(sample: bytes, filename: str) -> tuple[str, float]:
    """The best-matching source for a file sample, and its confidence."""
    scores = source_scores(sample, filename)
    best, best_score = scores[0]
    if not best or best_score < 0.5:
        closest = ", ".join(f"{name} {score:.2f}" for name, score in scores[:3] if score > 0)
        raise UnknownSource(
            f"could not tell the format of {filename}{f' (closest: {closest})' if closest else ''}; "
            f"pass --source (one of: {', '.join(REGISTRY)})"
        )
    return best, best_score


__all__ = [
    "REGISTRY",
    "BadRecord",
    "Parser",
    "Rejected",
    "Row",
    "SourceModule",
    "UnknownSource",
    "available_sources",
    "detect_source",
    "framing_for",
    "get_source",
    "source_scores",
]
