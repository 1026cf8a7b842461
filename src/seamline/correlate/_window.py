"""The event-time window one correlation run rebuilds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Window:
    """Client records whose ts falls in [start, end] are (re)correlated; server records are
    looked up around it by id, and within `slack` of it by time for scored matching."""

    start: datetime
    end: datetime
    slack: timedelta = timedelta(minutes=10)

    @property
    def outer_start(self) -> datetime:
        """Earliest server time a client record in the window may match."""
        return self.start - self.slack

    @property
    def outer_end(self) -> datetime:
        """Latest server time a client record in the window may match."""
        return self.end + self.slack
