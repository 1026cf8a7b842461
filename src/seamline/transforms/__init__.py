"""Transforms: pure functions batch -> batch, applied in one ordered tuple.

Every transform has the same signature, `(batch: pa.RecordBatch, ctx: Context) ->
pa.RecordBatch`, and keeps the unified schema. The pipeline is the tuple `PIPELINE`; a caller
may pass its own tuple (add a step, drop one) without subclassing anything.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from seamline.transforms._context import Context
from seamline.transforms.enrich import enrich
from seamline.transforms.pseudonymize import pseudonymize
from seamline.transforms.routes import template_routes
from seamline.transforms.scrub_pii import scrub_pii
from seamline.transforms.user_agent import parse_user_agent

Transform = Callable[[pa.RecordBatch, Context], pa.RecordBatch]

# Order matters: scrubbing runs first, so route templates and user-agent parsing only ever see
# scrubbed text; everything that reads raw identifiers (enrich) runs before pseudonymize.
PIPELINE: tuple[Transform, ...] = (scrub_pii, template_routes, parse_user_agent, enrich, pseudonymize)


def apply(batch: pa.RecordBatch, ctx: Context, transforms: tuple[Transform, ...] = PIPELINE) -> pa.RecordBatch:
    """Run the transforms in order."""
    for transform in transforms:
        batch = transform(batch, ctx)
    return batch


__all__ = ["PIPELINE", "Context", "Transform", "apply", "pseudonymize", "scrub_pii"]
