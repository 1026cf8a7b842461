"""Realistic synthetic shop traffic with injected incidents and the ground truth behind them.

`simulate()` writes client SDK batches, nginx access logs, service JSON logs and OTLP spans
for a web shop, plus `truth/` files saying which records belong together, how wrong each
device clock was, and when each incident happened. See docs/simulator.md.
"""

from seamline.simulate.runner import DEFAULT_START, GATEWAY_LOG_FORMAT, SimulationSummary, raw_inputs, simulate
from seamline.simulate.world import SimConfig

__all__ = ["DEFAULT_START", "GATEWAY_LOG_FORMAT", "SimConfig", "SimulationSummary", "raw_inputs", "simulate"]
