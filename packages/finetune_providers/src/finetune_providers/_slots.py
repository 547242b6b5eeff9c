"""Numbered HTTP slots: at most N requests on the wire, retries served before first attempts.

A request coming back from a backoff has already waited; giving it the next free slot ahead of
requests that have not been sent yet keeps the tail of a run short (every request finishes about
as soon as its server-given wait allows). Waiters of one class are served in arrival order.
"""

from __future__ import annotations

import asyncio
from collections import deque


class SlotPool:
    """`size` slots numbered 0..size-1; bound to the event loop it is first used in."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: deque[int] = deque(range(size))
        self._retries: deque[asyncio.Future[int]] = deque()
        self._first: deque[asyncio.Future[int]] = deque()

    @property
    def free(self) -> int:
        return len(self._free)

    async def acquire(self, *, retry: bool = False) -> int:
        if self._free and not self._retries and (retry or not self._first):
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
        for waiters in (self._retries, self._first):
            while waiters:
                future = waiters.popleft()
                if not future.done():
                    future.set_result(slot)
                    return
        self._free.append(slot)
