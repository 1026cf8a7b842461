"""Container runtime log files, unwrapped: Docker's json-file driver and the CRI format that
Kubernetes nodes keep under /var/log/containers and /var/log/pods.

    Docker json-file:  {"log":"<what the process wrote>\\n","stream":"stdout","time":"<RFC 3339>"}
    CRI (containerd, CRI-O):  <RFC 3339 time> <stdout|stderr> <F|P> <what the process wrote>

What the process wrote is read line by line as what it is (`_payload`: a JSON log, an
nginx or Envoy access-log line, logfmt, else text at the runtime's time). A payload is never
quarantined for being plain text; a wrapper that is not one of the two shapes, or whose time
cannot be read, is.

Every row gets `container.stream`, and from the file's path the Kubernetes namespace, pod
and container (`k8s.namespace.name`, `k8s.pod.name`, `k8s.container.name`, named as OTel's
resource conventions name them) or the Docker container id; the container's name is the
service unless a record or `--service` says otherwise. Runtimes split lines longer than
16 KB (CRI tag `P`, Docker entries without a trailing newline); each piece is stored as it
comes, marked `container.partial`.

Options: `service`, `environment`, `preset` (passed to json_log), `path` (the file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any, Literal

import orjson

from seamline.sources._base import BadRecord, Rejected, Row
from seamline.sources._framing import line_share
from seamline.sources._payload import PayloadReader
from seamline.sources._time import BadTimestamp, iso_to_us

NAME = "container_log"
DESCRIPTION = "Docker json-file and Kubernetes (CRI) container logs; the payload read as JSON log, access log or text"
FRAMING: Literal["lines", "whole"] = "lines"

_CRI = re.compile(rb"^(\d{4}-\d\d-\d\dT\S+) (stdout|stderr) ([FP]) ?(.*)$", re.DOTALL)
# /var/log/containers/<pod>_<namespace>_<container>-<container id>.log
_K8S_LINK = re.compile(r"^(?P<pod>[^_]+)_(?P<namespace>[^_]+)_(?P<container>.+)-[0-9a-f]{64}\.log$")
# /var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart count>.log
_K8S_POD_DIR = re.compile(r"^(?P<namespace>[^_]+)_(?P<pod>[^_]+)_[0-9a-f-]{36}$")
_DOCKER_ID = re.compile(r"^[0-9a-f]{64}$")


def container_of(path: str) -> tuple[dict[str, str], str | None]:
    """Attributes naming the container a log file belongs to, and the service name to use."""
    p = PurePath(path)
    link = _K8S_LINK.match(p.name)
    if link:
        return _k8s(link["namespace"], link["pod"], link["container"]), link["container"]
    pod_dir = _K8S_POD_DIR.match(p.parent.parent.name) if p.suffix == ".log" else None
    if pod_dir:
        container = p.parent.name
        return _k8s(pod_dir["namespace"], pod_dir["pod"], container), container
    if _DOCKER_ID.match(p.parent.name) and p.name == f"{p.parent.name}-json.log":
        return {"container.id": p.parent.name[:12]}, None
    return {}, None


def _k8s(namespace: str, pod: str, container: str) -> dict[str, str]:
    return {"k8s.namespace.name": namespace, "k8s.pod.name": pod, "k8s.container.name": container}


def _docker_entry(line: bytes) -> dict[str, Any] | None:
    """The json-file entry a line holds, or None when it is not one."""
    if not line.startswith(b"{"):
        return None
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(entry) is dict and type(entry.get("log")) is str and type(entry.get("time")) is str:
        return entry
    return None


def unwrap(line: bytes) -> tuple[int, str, bytes, bool]:
    """(time in µs, stream, payload without its line end, partial) of one runtime log line."""
    entry = _docker_entry(line)
    if entry is not None:
        text: str = entry["log"]
        partial = not text.endswith("\n")
        return _time(entry["time"]), str(entry.get("stream") or "stdout"), text.rstrip("\r\n").encode(), partial
    cri = _CRI.match(line)
    if cri is None:
        raise BadRecord("neither a Docker json-file entry (log, stream, time) nor a CRI line (time stream F|P text)")
    return _time(cri[1].decode()), cri[2].decode(), cri[4].rstrip(b"\r"), cri[3] == b"P"


def _time(text: str) -> int:
    try:
        return iso_to_us(text)
    except BadTimestamp:
        raise BadRecord(f"unreadable container runtime time {text[:40]!r}") from None


class _Parser:
    """Per-file state: the container's attributes and the reader of what it wrote."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.attributes, container = container_of(options.get("path") or "")
        inner = {k: v for k, v in options.items() if k in ("environment", "preset")}
        service = options.get("service") or container
        self.payload = PayloadReader({**inner, "service": service} if service else inner)

    def __call__(self, data: bytes) -> Iterable[Row | Rejected]:
        ts, stream, payload, partial = unwrap(data)
        rows = self.payload(payload, ts)
        extra = {"container.stream": stream, **self.attributes}
        if partial:
            extra["container.partial"] = "true"
        for row in rows:
            row["attributes"] = {**(row.get("attributes") or {}), **extra}
        return rows


def make_parser(options: Mapping[str, str]) -> _Parser:
    """A parser for one container log file."""
    return _Parser(options)


def sniff(sample: bytes, filename: str) -> float:
    """Confidence that the sample is a container runtime log: most lines are runtime entries."""
    return round(0.95 * line_share(sample, lambda line: _docker_entry(line) is not None or _CRI.match(line)), 3)
