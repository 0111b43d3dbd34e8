"""A client-side rate limit: a token bucket per system (or per turn at a limit shared by processes)."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Client-side token bucket, so we stay under a system's published limit instead of learning
    it from 429s. Hand-written (a dozen lines): the libraries for it (pyrate-limiter, limits) bring
    storage backends this in-process use does not need. Shared per process and key (shared_limiter),
    or one per turn at a limit that processes take turns at (taking_turns)."""

    def __init__(self, requests: int, per_seconds: float, burst: int | None = None, tokens: float | None = None):
        self.capacity, self.rate = float(burst or requests), requests / per_seconds
        self.tokens, self.updated = self.capacity if tokens is None else tokens, time.monotonic()
        self.lock = threading.Lock()

    @classmethod
    def taking_turns(cls, requests: int, per_seconds: float) -> RateLimiter:
        """At most `requests` in any `per_seconds` window, summed over holders that take turns (one
        at a time: a Dagster pool hands the limit from process to process). Each holder starts empty,
        so a window holds at most one leftover burst plus its refill; the two add up to 90% of the
        limit, the rest is a margin for network jitter."""
        burst = max(1, requests // 20)
        return cls(max(1, requests * 9 // 10 - burst), per_seconds, burst=burst, tokens=0.0)

    def acquire(self) -> None:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            wait = max(0.0, (1 - self.tokens) / self.rate)
            self.tokens -= 1  # may go negative: later callers queue behind this one
        if wait:
            time.sleep(wait)


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(key: str, requests: int, per_seconds: float) -> RateLimiter:
    with _limiters_lock:
        return _limiters.setdefault(key, RateLimiter(requests, per_seconds))
