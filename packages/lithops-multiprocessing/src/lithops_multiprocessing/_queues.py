"""``Queue``, ``SimpleQueue`` and ``JoinableQueue``: Redis lists of pickled objects.

``get`` pops the head (``BLPOP``, so a blocked consumer costs nothing and wakes at once). ``put``
pickles the object and hands it to this process's writer thread, which appends everything put
meanwhile in one round trip (``RPUSH`` of many values), in order: as the standard library's queue
feeder thread, ``put`` returns before the object is in the queue, and a process's puts are all
written before it ends. A bounded queue checks its length and appends in one Lua script, at once.
A ``JoinableQueue`` counts unfinished tasks next to the list; ``join`` waits on a list of its own
that the last ``task_done`` pushes to.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import threading
import time
from typing import Any

from lithops_multiprocessing import _runtime
from lithops_multiprocessing._redis import (
    Namespace,
    RedisObject,
    RedisParams,
    blocking_pop,
    dumps,
    loads,
    run_script,
)

logger = logging.getLogger("lithops.multiprocessing")
_BATCH = 2000

_BOUNDED_PUT = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if KEYS[2] ~= '' then
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return 1
"""

_TASK_DONE = """
local n = redis.call('DECR', KEYS[1])
if n < 0 then
  redis.call('INCR', KEYS[1])
  return -1
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
if n == 0 then
  for _, waiter in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    redis.call('RPUSH', waiter, '1')
    redis.call('EXPIRE', waiter, ARGV[1])
  end
  redis.call('DEL', KEYS[2])
end
return n
"""

_JOIN_REGISTER = """
if tonumber(redis.call('GET', KEYS[1]) or '0') == 0 then return 1 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 0
"""


class _Writer:
    """This process's background writer of queue puts: everything put since its last round trip
    goes in one pipeline, each queue's items in the order they were put."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[tuple[Namespace, str, str, bytes]] = []
        self._writing = False
        self._error: BaseException | None = None
        self._pid = -1
        self._reached: set[RedisParams] = set()

    def submit(self, namespace: Namespace, key: str, counter_key: str, data: bytes) -> None:
        if namespace.params not in self._reached:
            namespace.client.ping()  # an unreachable server is reported by put itself, once
            self._reached.add(namespace.params)
        with self._cond:
            self._raise_error()
            self._pending.append((namespace, key, counter_key, data))
            if self._pid != os.getpid():  # first use in this process
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="lithops-mp-queue-writer", daemon=True).start()
            self._cond.notify_all()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def flush(self) -> None:
        """Wait until everything put so far is in Redis (raise what writing it raised)."""
        with self._cond:
            while self._pending or self._writing:
                self._cond.wait()
            self._raise_error()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                batch, self._pending = self._pending[:_BATCH], self._pending[_BATCH:]
                self._writing = True
            try:
                self._write(batch)
            except BaseException as exc:
                logger.warning("Could not write %d queue item(s) to Redis: %s", len(batch), exc)
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()

    @staticmethod
    def _write(batch: list[tuple[Namespace, str, str, bytes]]) -> None:
        groups: dict[Namespace, list[tuple[str, str, list[bytes]]]] = {}
        for namespace, key, counter_key, data in batch:
            runs = groups.setdefault(namespace, [])
            if runs and runs[-1][0] == key:
                runs[-1][2].append(data)
            else:
                runs.append((key, counter_key, [data]))
        for namespace, runs in groups.items():
            pipe = namespace.client.pipeline(transaction=False)
            for key, counter_key, values in runs:
                if counter_key:  # counted before the items appear: task_done never goes below 0
                    pipe.incrby(counter_key, len(values))
                    pipe.expire(counter_key, namespace.expiry)
                pipe.rpush(key, *values)
                pipe.expire(key, namespace.expiry)
            pipe.execute()


_writer = _Writer()


def _new_writer_after_fork() -> None:
    # A forked child starts with nothing to write: the parent writes what it had pending.
    global _writer
    _writer = _Writer()


os.register_at_fork(after_in_child=_new_writer_after_fork)


def flush() -> None:
    """Write every queue item this process put and is still holding."""
    _writer.flush()


_runtime.add_flush_hook(flush)


class Queue(RedisObject):
    """A FIFO queue shared by every process of the program (``multiprocessing.Queue``).

    Args:
        maxsize: when positive, ``put`` blocks while the queue holds that many items.
    """

    _kind = "queue"
    #: As in Lithops 3, ``except q.Empty`` / ``except q.Full`` work on an instance.
    Empty = queue.Empty
    Full = queue.Full

    def __init__(self, maxsize: int = 0, *, ctx: Any = None) -> None:
        self._bind(*_runtime.new_key(self._kind))
        self._maxsize = int(maxsize) if maxsize and maxsize > 0 else 0
        self._closed = False

    def __getstate__(self) -> dict[str, Any]:
        return {"_ns": self._ns, "_key": self._key, "_maxsize": self._maxsize}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._closed = False

    @property
    def _counter_key(self) -> str:
        return ""

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """Append ``obj``. A full bounded queue makes it wait (up to ``timeout`` seconds).

        Raises:
            queue.Full: the queue stayed full (or is full and ``block`` is false).
            ValueError: the queue was closed.
        """
        self._check_open()
        data = dumps(obj, "An object put on a Queue")
        if not self._maxsize:
            _writer.submit(self._ns, self._key, self._counter_key, data)
            if not _runtime.batches_writes():
                _writer.flush()
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while not run_script(self._client, _BOUNDED_PUT, [self._key, self._counter_key],
                             [self._maxsize, self._ns.expiry, data]):
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise queue.Full
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 2, 0.05)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the head item, waiting for one (up to ``timeout`` seconds).

        Raises:
            queue.Empty: nothing arrived in time (or the queue is empty and ``block`` is false).
        """
        self._check_open()
        if not block:
            _writer.flush()  # what this process put is in the queue
        data = blocking_pop(self._client, self._key, block, timeout)
        if data is None:
            raise queue.Empty
        return loads(data)

    def put_nowait(self, obj: Any) -> None:
        """``put(obj, False)``."""
        self.put(obj, False)

    def get_nowait(self) -> Any:
        """``get(False)``."""
        return self.get(False)

    def qsize(self) -> int:
        """How many items the queue holds now (counting what this process put)."""
        _writer.flush()
        return int(self._client.llen(self._key))

    def empty(self) -> bool:
        """Whether the queue holds no item now."""
        return self.qsize() == 0

    def full(self) -> bool:
        """Whether a bounded queue is at its ``maxsize`` now."""
        return bool(self._maxsize) and self.qsize() >= self._maxsize

    def close(self) -> None:
        """This handle will not be used any more (other processes' handles still work)."""
        self._closed = True

    def join_thread(self) -> None:
        """Wait until what this process put is written."""
        _writer.flush()

    def cancel_join_thread(self) -> None:
        """Accepted for compatibility: a process's puts are always written before it ends."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._key}>"


class JoinableQueue(Queue):
    """A ``Queue`` that counts unfinished tasks (``multiprocessing.JoinableQueue``)."""

    _kind = "jqueue"

    @property
    def _counter_key(self) -> str:
        return self._key + ":unfinished"

    @property
    def _joiners_key(self) -> str:
        return self._key + ":joiners"

    def task_done(self) -> None:
        """Mark one item taken with ``get`` as processed.

        Raises:
            ValueError: called more times than items were put.
        """
        if int(run_script(self._client, _TASK_DONE, [self._counter_key, self._joiners_key],
                          [self._ns.expiry])) < 0:
            raise ValueError("task_done() called too many times")

    def join(self) -> None:
        """Block until every item put has been marked done with ``task_done``."""
        _writer.flush()
        waiter = f"{self._key}:j:{secrets.token_hex(6)}"
        redis_client = self._client
        if run_script(redis_client, _JOIN_REGISTER, [self._counter_key, self._joiners_key],
                      [waiter, self._ns.expiry]):
            return
        blocking_pop(redis_client, waiter, True, None)
        redis_client.delete(waiter)


class SimpleQueue(RedisObject):
    """A simplified queue: ``put``, ``get``, ``empty`` and ``close`` (``multiprocessing.SimpleQueue``)."""

    Empty = queue.Empty

    def __init__(self, *, ctx: Any = None) -> None:
        self._bind(*_runtime.new_key("squeue"))
        self._closed = False

    def __getstate__(self) -> dict[str, Any]:
        return {"_ns": self._ns, "_key": self._key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._closed = False

    def put(self, obj: Any) -> None:
        """Append ``obj``."""
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        pipe = self._pipeline()
        pipe.rpush(self._key, dumps(obj, "An object put on a SimpleQueue"))
        self._expire(pipe)
        pipe.execute()

    def get(self) -> Any:
        """Remove and return the head item, waiting for one."""
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        return loads(blocking_pop(self._client, self._key, True, None) or b"")

    def empty(self) -> bool:
        """Whether the queue holds no item now."""
        return int(self._client.llen(self._key)) == 0

    def close(self) -> None:
        """This handle will not be used any more."""
        self._closed = True

    def __repr__(self) -> str:
        return f"<SimpleQueue {self._key}>"
