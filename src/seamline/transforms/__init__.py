"""Transforms: pure functions batch -> batch, applied in one ordered tuple.

Every transform has the same signature, `(batch: pa.RecordBatch, ctx: Context) ->
pa.RecordBatch`, and keeps the unified schema. The pipeline is the tuple `PIPELINE`; a caller
may pass its own tuple (add a step, drop one) without subclassing anything.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from seamline.transforms._context import Context
from seamline.transforms.pseudonymize import pseudonymize

Transform = Callable[[pa.RecordBatch, Context], pa.RecordBatch]

# Order matters: everything that reads raw identifiers runs before pseudonymize.
PIPELINE: tuple[Transform, ...] = (pseudonymize,)


def apply(batch: pa.RecordBatch, ctx: Context, transforms: tuple[Transform, ...] = PIPELINE) -> pa.RecordBatch:
    """Run the transforms in order."""
    for transform in transforms:
        batch = transform(batch, ctx)
    return batch


__all__ = ["PIPELINE", "Context", "Transform", "apply", "pseudonymize"]
