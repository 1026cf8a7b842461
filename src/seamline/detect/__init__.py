"""Detection: metric baselines, anomaly episodes judged the streaming way, and where on the path they start.

`find_anomalies(store, start, end)` scans the fact tables for every metric in `METRICS` over
the scope families of `DetectConfig` (the whole shop, flows, pages, regions, services,
routes); `baseline` and `measure` answer for one metric and scope; `attribute` names the
segment of the end-to-end path that changed and the cohorts it hits. docs/detection.md has
the method, its limits and the measured accuracy.
"""

from seamline.detect.anomalies import Anomaly, DetectConfig, Episode, find_anomalies, find_episodes
from seamline.detect.attribute import Attribution, attribute
from seamline.detect.baseline import Baseline, baseline
from seamline.detect.metrics import METRICS, DetectError, Measurement, Metric, get_metric, measure
from seamline.detect.persist import load_anomalies, store_anomalies

__all__ = [
    "METRICS",
    "Anomaly",
    "Attribution",
    "Baseline",
    "DetectConfig",
    "DetectError",
    "Episode",
    "Measurement",
    "Metric",
    "attribute",
    "baseline",
    "find_anomalies",
    "find_episodes",
    "get_metric",
    "load_anomalies",
    "measure",
    "store_anomalies",
]
