"""OTLP/JSON encoding of spans, as the OpenTelemetry collector's file exporter writes it.

The protobuf JSON mapping decides the details a parser trips over: ids are lowercase hex
(not base64), 64-bit integers (timestamps, intValue) are decimal strings, enums are
integers, empty and default fields are left out (a span without a parent has no
parentSpanId; an unset status is `{}`).
"""

from __future__ import annotations

import zlib
from typing import Any

# SpanKind enum values of the OTLP proto.
KIND_INTERNAL = 1
KIND_SERVER = 2
KIND_CLIENT = 3
STATUS_ERROR = 2

Attr = dict[str, Any]
_POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated names


def s_attr(key: str, value: str) -> Attr:
    """A string attribute."""
    return {"key": key, "value": {"stringValue": value}}


def i_attr(key: str, value: int) -> Attr:
    """An int attribute; int64 is a string in proto JSON."""
    return {"key": key, "value": {"intValue": str(value)}}


def a_attr(key: str, values: list[str]) -> Attr:
    """A string-array attribute (what HTTP header attributes are, per semantic conventions)."""
    return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in values]}}}


def ns(ms: float) -> str:
    """Epoch milliseconds to the decimal-string nanoseconds OTLP JSON wants (µs precision)."""
    return str(round(ms * 1000.0) * 1000)


def pod_name(service: str, release: str, index: int) -> str:
    """A Kubernetes-style pod name that changes with each deploy, as real ones do."""
    h = zlib.crc32(f"{service}/{release}".encode())
    rs = "".join(_POD_CHARS[(h >> (3 * i)) % len(_POD_CHARS)] for i in range(10))
    p = zlib.crc32(f"{service}/{release}/{index}".encode())
    return f"{service}-{rs}-" + "".join(_POD_CHARS[(p >> (5 * i)) % len(_POD_CHARS)] for i in range(5))


class Resources:
    """Interned resource and scope objects, referred to by small ints in the reorder buffer."""

    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = []
        self.scopes: list[dict[str, Any]] = []
        self._resource_ids: dict[tuple[str, str, str], int] = {}
        self._scope_ids: dict[tuple[str, str], int] = {}

    def resource(self, service: str, language: str, release: str, pod: str) -> int:
        """Id of the resource for one pod of a service at a release."""
        key = (service, release, pod)
        rid = self._resource_ids.get(key)
        if rid is None:
            sdk_version = "1.27.0" if language == "python" else "1.26.0"
            attrs = [
                s_attr("service.name", service),
                s_attr("service.namespace", "shop"),
                s_attr("service.version", release),
                s_attr("service.instance.id", pod),
                s_attr("deployment.environment", "production"),
                s_attr("host.name", pod),
                s_attr("k8s.pod.name", pod),
                s_attr("telemetry.sdk.name", "opentelemetry"),
                s_attr("telemetry.sdk.language", language),
                s_attr("telemetry.sdk.version", sdk_version),
            ]
            rid = self._resource_ids[key] = len(self.resources)
            self.resources.append({"attributes": attrs})
        return rid

    def scope(self, name: str, version: str) -> int:
        """Id of an instrumentation scope."""
        key = (name, version)
        sid = self._scope_ids.get(key)
        if sid is None:
            sid = self._scope_ids[key] = len(self.scopes)
            self.scopes.append({"name": name, "version": version})
        return sid


def export_request(spans: list[tuple[int, int, dict[str, Any]]], res: Resources) -> dict[str, Any]:
    """One ExportTraceServiceRequest grouping spans by resource, then scope, in first-seen order."""
    grouped: dict[int, dict[int, list[dict[str, Any]]]] = {}
    for rid, sid, span in spans:
        by_scope = grouped.get(rid)
        if by_scope is None:
            by_scope = grouped[rid] = {}
        lst = by_scope.get(sid)
        if lst is None:
            lst = by_scope[sid] = []
        lst.append(span)
    return {
        "resourceSpans": [
            {
                "resource": res.resources[rid],
                "scopeSpans": [{"scope": res.scopes[sid], "spans": lst} for sid, lst in by_scope.items()],
            }
            for rid, by_scope in grouped.items()
        ]
    }
