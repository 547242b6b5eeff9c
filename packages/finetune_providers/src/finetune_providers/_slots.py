"""Numbered HTTP slots: at most N requests on the wire, retries served before first attempts.

A request coming back from a backoff has already waited; giving it the next free slot ahead of
requests that have not been sent yet keeps the tail of a run short (every request finishes about
as soon as its server-given wait allows). Waiters of one class are served in arrival order.
"""

from __future__ import annotations

import asyncio
from collections import deque


class SlotPool:
    """`size` slots numbered 0..size-1, at most `limit` of them in use (`--concurrency auto` moves it);
    bound to the event loop it is first used in."""

    def __init__(self, size: int, limit: int | None = None) -> None:
        self.size = size
        self.limit = size if limit is None else max(1, min(limit, size))
        self._free: deque[int] = deque(range(size))
        self._retries: deque[asyncio.Future[int]] = deque()
        self._first: deque[asyncio.Future[int]] = deque()

    @property
    def free(self) -> int:
        return len(self._free)

    @property
    def in_use(self) -> int:
        return self.size - len(self._free)

    @property
    def saturated(self) -> bool:
        """Every allowed slot is in use, or requests wait for one."""
        return self.in_use >= self.limit or bool(self._retries or self._first)

    async def acquire(self, *, retry: bool = False) -> int:
        if self._free and self.in_use < self.limit and not self._retries and (retry or not self._first):
            return self._free.popleft()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        (self._retries if retry else self._first).append(future)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(future.result())  # handed a slot just as it was cancelled: pass it on
            raise

    def release(self, slot: int) -> None:
        if self.in_use <= self.limit and self._hand_over(slot):
            return
        self._free.append(slot)

    def set_limit(self, limit: int) -> None:
        """Allow `limit` slots in use from now on: waiters get the slots a higher limit frees at once; a lower
        one takes effect as slots come back."""
        self.limit = max(1, min(limit, self.size))
        while self._free and self.in_use < self.limit and self._hand_over(self._free[0]):
            self._free.popleft()

    def _hand_over(self, slot: int) -> bool:
        """Give `slot` to the first waiter still waiting (retries first); False when none is."""
        for waiters in (self._retries, self._first):
            while waiters:
                future = waiters.popleft()
                if not future.done():
                    future.set_result(slot)
                    return True
        return False
