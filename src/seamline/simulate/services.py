"""Per-request and per-service state shared by the server-side writers (spans, logs)."""

from __future__ import annotations

from dataclasses import dataclass

from seamline.simulate import model
from seamline.simulate.otlp import Resources, pod_name
from seamline.simulate.writers import IsoTime

Pod = tuple[str, int, int]  # (pod name, pid, OTLP resource id)


@dataclass(slots=True)
class Visitor:
    """What the server can know about the caller."""

    ip: str
    user_agent: str
    buckets: tuple[int, ...]  # flag buckets of the anonymous id (flags are evaluated server side too)
    user_id: str | None
    cart_id: str


@dataclass(slots=True)
class Req:
    """One request as it travels down the call tree: the ids every hop logs, and what it is about."""

    trace_id: str
    request_id: str  # nginx $request_id, forwarded as X-Request-ID to every service
    flags: dict[str, str]
    visitor: Visitor
    pid: str  # product id in the path, if any
    query: str  # search query, if any
    checkout_bug: bool  # this checkout takes the failing new_checkout code path


class ServiceOut:
    """Per-service output state: log stream, time formatter, OTLP scopes, pods per release."""

    def __init__(self, svc: model.Service, stream: int, res: Resources) -> None:
        self.svc = svc
        self.name = svc.name
        self.stream = stream
        self.iso = IsoTime(svc.log_utc_offset_min)
        self.pino = svc.log_style == "pino"
        self.node = svc.language == "nodejs"
        self.logger = model.LOGGERS.get(svc.name, svc.name)
        self.server_scope = res.scope(*svc.server_scope)
        self.client_scope = res.scope(*svc.client_scope) if svc.client_scope[0] else -1
        self.db_scope = res.scope(*svc.db_scope) if svc.db_scope[0] else -1
        self._res = res
        self._pods: dict[str, list[Pod]] = {}

    def pods(self, release: str) -> list[Pod]:
        """(pod name, pid, resource id) for each replica of a release; new names after a deploy."""
        pods = self._pods.get(release)
        if pods is None:
            pods = []
            for i in range(self.svc.pods):
                name = pod_name(self.name, release, i)
                pid = 1 if self.node else 7 + (sum(name.encode()) % 40)  # node runs as pid 1 in its container
                pods.append((name, pid, self._res.resource(self.name, self.svc.language, release, name)))
            self._pods[release] = pods
        return pods
