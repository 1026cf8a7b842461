"""Random identifiers in the shapes real systems mint them, all drawn from one seeded generator."""

from __future__ import annotations

import random


class Ids:
    """Trace, span and request ids from a seeded generator (never the global one: runs must repeat)."""

    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits

    def trace(self) -> str:
        """A W3C trace id: 32 lowercase hex digits, never all zero."""
        return f"{self._bits(128) or 1:032x}"

    def span(self) -> str:
        """A W3C span id: 16 lowercase hex digits, never all zero."""
        return f"{self._bits(64) or 1:016x}"

    def request(self) -> str:
        """An nginx $request_id: 16 random bytes as 32 hex digits."""
        return f"{self._bits(128):032x}"

    def short(self, prefix: str, bits: int = 48) -> str:
        """A prefixed opaque id such as a session or anonymous id."""
        return f"{prefix}{self._bits(bits):0{bits // 4}x}"
