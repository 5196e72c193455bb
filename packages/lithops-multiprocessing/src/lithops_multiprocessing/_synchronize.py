"""Synchronization primitives over Redis: ``Lock``, ``RLock``, ``Semaphore``, ``BoundedSemaphore``,
``Condition``, ``Event`` and ``Barrier``, with the semantics of the standard library's.

A semaphore is a Redis list holding one token per unit of its value: ``acquire`` pops a token
(``BLPOP``, so waiting costs nothing and waiters are served in order), ``release`` pushes one back.
Locks are semaphores of one token that also record their owner (a process and thread id), which
is what ``RLock`` recursion and ``Condition`` checks need. Waiters of a ``Condition`` or an
``Event`` each block on a list of their own that the notifier pushes a token to.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from lithops_multiprocessing import _runtime
from lithops_multiprocessing._redis import RedisObject, blocking_pop, owner_id, run_script

T = TypeVar("T")
_TOKEN = b"1"
_PUSH_CHUNK = 10_000

_BOUNDED_RELEASE = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[1], '1')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_RLOCK_RELEASE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local n = redis.call('DECR', KEYS[3])
if n > 0 then return n end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('RPUSH', KEYS[1], '1')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 0
"""

_RLOCK_RELEASE_ALL = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local n = tonumber(redis.call('GET', KEYS[3]) or '1')
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('RPUSH', KEYS[1], '1')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return n
"""

_NOTIFY = """
local woken = 0
for i = 1, tonumber(ARGV[1]) do
  local waiter = redis.call('LPOP', KEYS[1])
  if not waiter then break end
  redis.call('RPUSH', waiter, '1')
  redis.call('EXPIRE', waiter, ARGV[2])
  woken = woken + 1
end
return woken
"""

_EVENT_SET = """
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
for _, waiter in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  redis.call('RPUSH', waiter, '1')
  redis.call('EXPIRE', waiter, ARGV[1])
end
redis.call('DEL', KEYS[2])
return 1
"""

_EVENT_REGISTER = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 0
"""


class Semaphore(RedisObject):
    """A counting semaphore shared by every process of the program (``multiprocessing.Semaphore``).

    Args:
        value: the initial value (how many ``acquire`` calls succeed without a ``release``).
    """

    _kind = "sem"

    def __init__(self, value: int = 1, *, ctx: Any = None) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._bind(*_runtime.new_key(self._kind))
        self._maxvalue = int(value)
        self._push_tokens(int(value))

    def _push_tokens(self, count: int) -> None:
        pipe = self._pipeline()
        for start in range(0, count, _PUSH_CHUNK):
            pipe.rpush(self._key, *([_TOKEN] * min(_PUSH_CHUNK, count - start)))
        self._expire(pipe)
        pipe.execute()

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Take one unit; wait for one (up to ``timeout`` seconds) when ``block``.

        Returns:
            Whether a unit was taken.
        """
        return blocking_pop(self._client, self._key, block, timeout) is not None

    def release(self) -> None:
        """Give back one unit, waking one waiter."""
        pipe = self._pipeline()
        pipe.rpush(self._key, _TOKEN)
        self._expire(pipe)
        pipe.execute()

    def get_value(self) -> int:
        """The current value."""
        return int(self._client.llen(self._key))

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        try:
            value: object = self.get_value()
        except Exception:
            value = "unknown"
        return f"<{type(self).__name__}(value={value}) {self._key}>"


class BoundedSemaphore(Semaphore):
    """A semaphore whose ``release`` raises ``ValueError`` above the initial value."""

    def release(self) -> None:
        """Give back one unit.

        Raises:
            ValueError: the semaphore is already at its initial value.
        """
        done = run_script(self._client, _BOUNDED_RELEASE, [self._key, self._key + ":owner"],
                          [self._maxvalue, self._ns.expiry])
        if not done:
            raise ValueError("semaphore or lock released too many times")


class Lock(BoundedSemaphore):
    """A non-recursive lock (``multiprocessing.Lock``): any process may release it while locked,
    as with the standard library; releasing it unlocked raises ``ValueError``."""

    _kind = "lock"

    def __init__(self, *, ctx: Any = None) -> None:
        super().__init__(1)

    @property
    def _owner_key(self) -> str:
        return self._key + ":owner"

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Lock it; wait (up to ``timeout`` seconds) when ``block``. Returns whether it was locked."""
        if not super().acquire(block, timeout):
            return False
        pipe = self._pipeline()
        pipe.set(self._owner_key, owner_id(), ex=self._ns.expiry)
        pipe.execute()
        return True

    def _is_mine(self) -> bool:
        return bool(self._client.get(self._owner_key) == owner_id().encode())

    # Condition support: a Lock has no recursion level to save.
    def _release_save(self) -> int:
        self.release()
        return 1

    def _acquire_restore(self, saved: int) -> None:
        self.acquire()

    def __repr__(self) -> str:
        try:
            owner = self._client.get(self._owner_key)
            state = "unlocked" if self.get_value() else ("locked" if owner is None else f"owner={owner.decode()}")
        except Exception:
            state = "unknown"
        return f"<Lock({state}) {self._key}>"


class RLock(RedisObject):
    """A recursive lock (``multiprocessing.RLock``): the owner may acquire it again; only the owner
    (this process and thread) may release it."""

    def __init__(self, *, ctx: Any = None) -> None:
        self._bind(*_runtime.new_key("rlock"))
        pipe = self._pipeline()
        pipe.rpush(self._key, _TOKEN)
        self._expire(pipe)
        pipe.execute()

    @property
    def _owner_key(self) -> str:
        return self._key + ":owner"

    @property
    def _count_key(self) -> str:
        return self._key + ":count"

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Lock it, or add a level when this thread holds it already. Returns whether it got it."""
        me = owner_id()
        redis_client = self._client
        if redis_client.get(self._owner_key) == me.encode():
            pipe = self._pipeline()
            pipe.incr(self._count_key)
            self._expire(pipe, self._count_key)
            pipe.execute()
            return True
        if blocking_pop(redis_client, self._key, block, timeout) is None:
            return False
        self._take(me, 1)
        return True

    def _take(self, me: str, count: int) -> None:
        pipe = self._pipeline()
        pipe.set(self._owner_key, me, ex=self._ns.expiry)
        pipe.set(self._count_key, count, ex=self._ns.expiry)
        pipe.execute()

    def release(self) -> None:
        """Remove one level; unlock at the last.

        Raises:
            AssertionError: this thread does not hold the lock (as the standard library).
        """
        result = run_script(self._client, _RLOCK_RELEASE, [self._key, self._owner_key, self._count_key],
                            [owner_id(), self._ns.expiry])
        if int(result) < 0:
            raise AssertionError("attempt to release recursive lock not owned by thread")

    def _is_mine(self) -> bool:
        return bool(self._client.get(self._owner_key) == owner_id().encode())

    def _release_save(self) -> int:
        """Unlock completely; return the recursion level to restore."""
        levels = int(run_script(self._client, _RLOCK_RELEASE_ALL, [self._key, self._owner_key, self._count_key],
                                [owner_id(), self._ns.expiry]))
        if levels < 0:
            raise AssertionError("attempt to release recursive lock not owned by thread")
        return levels

    def _acquire_restore(self, saved: int) -> None:
        blocking_pop(self._client, self._key, True, None)
        self._take(owner_id(), saved)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        try:
            owner = self._client.get(self._owner_key)
            count = self._client.get(self._count_key)
            state = "unlocked" if owner is None else f"owner={owner.decode()}, count={int(count or 0)}"
        except Exception:
            state = "unknown"
        return f"<RLock({state}) {self._key}>"


class Condition(RedisObject):
    """A condition variable (``multiprocessing.Condition``) over a ``Lock`` or ``RLock``
    (default: a new ``RLock``)."""

    def __init__(self, lock: Lock | RLock | None = None, *, ctx: Any = None) -> None:
        self._bind(*_runtime.new_key("cond"))
        if lock is not None and not isinstance(lock, (Lock, RLock)):
            raise TypeError(
                f"Condition needs a lithops.multiprocessing Lock or RLock, got {type(lock).__name__}:"
                " a lock of another kind cannot be shared with remote processes."
            )
        self._lock: Lock | RLock = lock if lock is not None else RLock()

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Acquire the underlying lock."""
        return self._lock.acquire(block, timeout)

    def release(self) -> None:
        """Release the underlying lock."""
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def _check_owned(self, message: str) -> None:
        if not self._lock._is_mine():
            raise AssertionError(message)

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, wait for a notification (up to ``timeout`` seconds), lock again.

        Returns:
            False when it timed out, else True.

        Raises:
            AssertionError: the lock is not held by this thread.
        """
        self._check_owned("must acquire() condition before using wait()")
        waiter = f"{self._key}:w:{secrets.token_hex(6)}"
        pipe = self._pipeline()
        pipe.rpush(self._key, waiter)
        self._expire(pipe)
        pipe.execute()
        saved = self._lock._release_save()
        try:
            redis_client = self._client
            woken = blocking_pop(redis_client, waiter, True, timeout) is not None
            if not woken and int(redis_client.lrem(self._key, 0, waiter)) == 0:
                woken = True  # a notifier took us off the list just as we timed out
            redis_client.delete(waiter)
        finally:
            self._lock._acquire_restore(saved)
        return woken

    def wait_for(self, predicate: Callable[[], T], timeout: float | None = None) -> T | bool:
        """Wait until ``predicate()`` is true (up to ``timeout`` seconds); return its last value."""
        result = predicate()
        endtime: float | None = None
        waittime = timeout
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = time.monotonic() + waittime
                else:
                    waittime = endtime - time.monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` waiters.

        Raises:
            AssertionError: the lock is not held by this thread.
        """
        self._check_owned("lock is not owned")
        if n > 0:
            run_script(self._client, _NOTIFY, [self._key], [n, self._ns.expiry])

    def notify_all(self) -> None:
        """Wake every waiter."""
        self.notify(1 << 30)

    notifyAll = notify_all

    def __repr__(self) -> str:
        return f"<Condition({self._lock!r}) {self._key}>"


class Event(RedisObject):
    """An event flag (``multiprocessing.Event``): ``wait`` blocks until another process ``set``s it."""

    def __init__(self, *, ctx: Any = None) -> None:
        self._bind(*_runtime.new_key("event"))

    @property
    def _waiters_key(self) -> str:
        return self._key + ":waiters"

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return bool(self._client.exists(self._key))

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        run_script(self._client, _EVENT_SET, [self._key, self._waiters_key], [self._ns.expiry])

    def clear(self) -> None:
        """Reset the flag."""
        self._client.delete(self._key)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set (up to ``timeout`` seconds); return the flag."""
        waiter = f"{self._key}:w:{secrets.token_hex(6)}"
        redis_client = self._client
        if run_script(redis_client, _EVENT_REGISTER, [self._key, self._waiters_key], [waiter, self._ns.expiry]):
            return True
        if blocking_pop(redis_client, waiter, True, timeout) is not None:
            redis_client.delete(waiter)
            return True
        redis_client.lrem(self._waiters_key, 0, waiter)
        redis_client.delete(waiter)
        return self.is_set()

    def __repr__(self) -> str:
        try:
            state = "set" if self.is_set() else "unset"
        except Exception:
            state = "unknown"
        return f"<Event({state}) {self._key}>"


class Barrier(threading.Barrier):
    """A barrier for a fixed number of processes (``multiprocessing.Barrier``): the standard
    library's algorithm over a shared ``Condition`` and its state kept in Redis."""

    def __init__(self, parties: int, action: Callable[[], object] | None = None,
                 timeout: float | None = None, *, ctx: Any = None) -> None:
        if parties < 1:
            raise ValueError("parties must be >= 1")
        state = _BarrierState()
        self.__setstate__((parties, action, timeout, Condition(Lock()), state))
        self._state = 0
        self._count = 0

    def __setstate__(self, state: tuple[int, Callable[[], object] | None, float | None, Condition,
                                        _BarrierState]) -> None:
        (self._parties, self._action, self._timeout, self._cond, self._shared) = state

    def __getstate__(self) -> tuple[int, Callable[[], object] | None, float | None, Any, _BarrierState]:
        return (self._parties, self._action, self._timeout, self._cond, self._shared)

    @property
    def _state(self) -> int:
        return self._shared.get("state")

    @_state.setter
    def _state(self, value: int) -> None:
        self._shared.set("state", value)

    @property
    def _count(self) -> int:
        return self._shared.get("count")

    @_count.setter
    def _count(self, value: int) -> None:
        self._shared.set("count", value)


class _BarrierState(RedisObject):
    """The two integers of a barrier (its state and waiting count), as one Redis hash."""

    def __init__(self) -> None:
        self._bind(*_runtime.new_key("barrier"))

    def get(self, field: str) -> int:
        return int(self._client.hget(self._key, field) or 0)

    def set(self, field: str, value: int) -> None:
        pipe = self._pipeline()
        pipe.hset(self._key, field, int(value))
        self._expire(pipe)
        pipe.execute()
