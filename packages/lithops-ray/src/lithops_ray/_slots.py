"""Task slots shared by the dispatcher's event loop and the threads that submit jobs.

``max_workers`` bounds the Ray tasks in flight. Coroutines on the event loop wait for a slot; a
client thread may take one only when it is free at once (a one-call job then starts from that
thread, without a hop to the loop); a slot is given back from any thread (Ray's callback thread,
for instance), and then goes to the longest waiting coroutine.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque


class Slots:
    """A counting semaphore for one event loop's coroutines and for any thread.

    Args:
        loop: the event loop whose coroutines call :meth:`take`.
        count: how many slots there are.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._free = max(1, count)
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        """Take a slot if one is free and no coroutine waits for one (any thread)."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            return False

    async def take(self) -> None:
        """Wait for a slot (on the event loop)."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                queued = waiter in self._waiters
                if queued:
                    self._waiters.remove(waiter)
            if not queued and waiter.done() and not waiter.cancelled():
                self.give()  # it was handed a slot it will not use
            raise

    def give(self) -> None:
        """Give a slot back (any thread)."""
        with self._lock:
            if not self._waiters:
                self._free += 1
                return
            waiter = self._waiters.popleft()
        try:
            self._loop.call_soon_threadsafe(self._hand_over, waiter)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    def _hand_over(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():  # cancelled meanwhile: the slot goes to the next one
            self.give()
        else:
            waiter.set_result(None)
