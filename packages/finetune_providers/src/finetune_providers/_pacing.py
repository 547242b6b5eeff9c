"""Requests-per-minute and tokens-per-minute limits, enforced smoothly.

A GCRA (generic cell rate algorithm, the virtual-scheduling form of a token bucket): each limit
keeps a "theoretical arrival time"; a request may start once that time, less the burst
tolerance, has come, and pushes it on by one emission interval (60 / rpm) or by its tokens'
worth (tokens x 60 / tpm). With no tolerance, requests are spread evenly over the minute
instead of going out in bursts. Callers take turns (first come, first served) and each start
is booked at the moment it really happens, so a stalled event loop cannot release a burst of
overdue starts afterwards.

Tokens are booked from an estimate before the request and corrected with `settle` once the
response reports the real count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Pacer:
    """Spaces request starts so neither limit is exceeded; `None` means no limit."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        burst_requests: float = 1.0,
        burst_tokens: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.request_interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.token_interval = 60.0 / tokens_per_minute if tokens_per_minute else 0.0
        # a tolerance of one interval less than `burst` lets `burst` requests start back to back
        self.request_tolerance = max(0.0, burst_requests - 1.0) * self.request_interval
        self.token_tolerance = max(0.0, burst_tokens) * self.token_interval
        self._clock = clock
        self._sleep = sleep
        self._request_tat = float("-inf")
        self._token_tat = float("-inf")
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @property
    def active(self) -> bool:
        return bool(self.request_interval or self.token_interval)

    def delay(self) -> float:
        """Seconds until a request may start."""
        now = self._clock()
        start = now
        if self.request_interval:
            start = max(start, self._request_tat - self.request_tolerance)
        if self.token_interval:
            start = max(start, self._token_tat - self.token_tolerance)
        return start - now

    def book(self, tokens: int = 0) -> None:
        """Record a request of `tokens` tokens starting now."""
        now = self._clock()
        if self.request_interval:
            self._request_tat = max(self._request_tat, now) + self.request_interval
        if self.token_interval:
            self._token_tat = max(self._token_tat, now) + max(0, tokens) * self.token_interval

    async def acquire(self, tokens: int = 0) -> None:
        """Wait for this request's turn and book it (returns at once when no limit is set)."""
        if not self.active:
            return
        async with self._turns():
            while (wait := self.delay()) > 0:
                await self._sleep(wait)
            self.book(tokens)

    def settle(self, reserved: int, used: int) -> None:
        """Correct a booking of `reserved` tokens now that the request really used `used`."""
        if self.token_interval and used != reserved:
            self._token_tat += (used - reserved) * self.token_interval

    def _turns(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock
