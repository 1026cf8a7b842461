"""Correlation: link client and server records into end-to-end transactions.

One run, over a window of event time, inside one transaction of the store:

1. `exact`        links that shared ids prove (traceparent, Server-Timing, request id)
2. `skew`         clock offset per session from the exact pairs (NTP-style), carried to the
                  session's other records; request-sequence alignment for sessions without ids
3. `scored`       scored one-to-one matches for client requests that share no id with the server
4. `transactions` a transaction per navigation and per user action, with every member record

Re-running over the same window replaces what the last run built there, so it is idempotent;
`seamline correlate` (and ingest, and serve) run it on what arrived since the last run.
"""

from seamline.correlate.run import CorrelationResult, correlate

__all__ = ["CorrelationResult", "correlate"]
