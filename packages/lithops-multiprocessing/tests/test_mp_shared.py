"""Queues, pipes, locks, semaphores, conditions, events, barriers, values and arrays shared between
the program and processes running on the localhost backend."""

from __future__ import annotations

import ctypes
import queue
import threading
import time
from typing import Any

import lithops.multiprocessing as mp
import pytest

pytestmark = pytest.mark.usefixtures("mp_localhost")


def _run(target: Any, *args: Any) -> mp.Process:
    process = mp.Process(target=target, args=args)
    process.start()
    return process


def _join_all(*processes: mp.Process) -> None:
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0


# --- queues ------------------------------------------------------------------------------------


def _produce(q: Any, count: int) -> None:
    for i in range(count):
        q.put(i)


def _consume(q: Any, done: Any) -> None:
    while True:
        item = q.get()
        if item is None:
            q.task_done()
            return
        done.put(item * 10)
        q.task_done()


def test_queue_between_processes_keeps_order_and_counts() -> None:
    q = mp.Queue()
    _join_all(_run(_produce, q, 50))
    assert q.qsize() == 50 and not q.empty()
    assert [q.get() for _ in range(50)] == list(range(50))
    assert q.empty()


def test_queue_timeouts_and_bounds() -> None:
    q = mp.Queue(maxsize=2)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.3)
    assert time.monotonic() - start >= 0.25
    q.put("a")
    q.put("b")
    assert q.full()
    with pytest.raises(queue.Full):
        q.put_nowait("c")
    with pytest.raises(queue.Full):
        q.put("c", timeout=0.1)
    assert q.get() == "a"
    q.put({"any": ["picklable", b"object"]})
    assert q.get() == "b" and q.get() == {"any": ["picklable", b"object"]}
    q.close()
    with pytest.raises(ValueError, match="closed"):
        q.put(1)


def test_joinable_queue_join_waits_for_task_done() -> None:
    tasks, results = mp.JoinableQueue(), mp.Queue()
    consumer = _run(_consume, tasks, results)
    for i in range(5):
        tasks.put(i)
    tasks.put(None)
    tasks.join()  # returns only when the consumer marked all six done
    assert sorted(results.get(timeout=10) for _ in range(5)) == [0, 10, 20, 30, 40]
    _join_all(consumer)
    with pytest.raises(ValueError, match="too many times"):
        tasks.task_done()


def test_queue_used_by_a_plain_lithops_call(mp_config: dict[str, Any]) -> None:
    import lithops

    q = mp.Queue()
    with lithops.FunctionExecutor(config=mp_config) as fexec:
        fexec.call_async(_produce, (q, 3)).result()
    assert q.qsize() == 3  # written before the call returned


def test_simple_queue() -> None:
    q = mp.SimpleQueue()
    assert q.empty()
    _join_all(_run(_produce, q, 3))
    assert [q.get(), q.get(), q.get()] == [0, 1, 2] and q.empty()


# --- pipes -------------------------------------------------------------------------------------


def _echo_until_eof(conn: Any) -> None:
    try:
        while True:
            conn.send(("echo", conn.recv()))
    except EOFError:
        conn.send("eof seen")


def _send_and_close(conn: Any) -> None:
    conn.send_bytes(b"0123456789", 2, 5)
    conn.send([1, 2])
    conn.close()


def test_duplex_pipe_and_eof_when_the_other_end_closes() -> None:
    parent, child = mp.Pipe()
    process = _run(_echo_until_eof, child)
    child.close()  # the usual idiom: the parent drops its copy of the child's end
    for message in (1, "two", [3]):
        parent.send(message)
        assert parent.recv() == ("echo", message)
    assert not parent.poll(0.1)
    parent.close()
    _join_all(process)


def test_one_way_pipe_bytes_and_eof() -> None:
    reader, writer = mp.Pipe(duplex=False)
    with pytest.raises(OSError, match="read-only"):
        reader.send(1)
    with pytest.raises(OSError, match="write-only"):
        writer.recv()
    process = _run(_send_and_close, writer)
    writer.close()
    assert reader.poll(60)
    buffer = bytearray(8)
    assert reader.recv_bytes_into(buffer, 1) == 5 and bytes(buffer) == b"\x0023456\x00\x00"
    with pytest.raises(mp.BufferTooShort):
        reader.recv_bytes_into(bytearray(1))
    with pytest.raises(EOFError):
        reader.recv()
    with pytest.raises(EOFError):
        reader.recv()
    _join_all(process)
    with pytest.raises(OSError, match="file descriptor"):
        reader.fileno()


# --- locks and semaphores ----------------------------------------------------------------------


def _hold_lock(lock: Any, held: Any, release: Any) -> None:
    with lock:
        held.set()
        release.wait(60)


def test_lock_excludes_other_processes_and_rejects_double_release() -> None:
    lock, held, release = mp.Lock(), mp.Event(), mp.Event()
    process = _run(_hold_lock, lock, held, release)
    assert held.wait(60)
    assert not lock.acquire(timeout=0.2)
    assert not lock.acquire(False)
    release.set()
    assert lock.acquire(timeout=60)
    lock.release()
    with pytest.raises(ValueError, match="released too many times"):
        lock.release()
    _join_all(process)


def _release_someone_elses(lock: Any, out: Any) -> None:
    try:
        lock.release()
        out.put("released")
    except AssertionError as exc:
        out.put(str(exc))


def test_rlock_is_recursive_and_only_its_owner_releases_it() -> None:
    lock, out = mp.RLock(), mp.Queue()
    assert lock.acquire() and lock.acquire()
    _join_all(_run(_release_someone_elses, lock, out))
    assert out.get(timeout=10) == "attempt to release recursive lock not owned by thread"
    lock.release()
    lock.release()
    with pytest.raises(AssertionError):
        lock.release()
    other_thread = threading.Thread(target=lambda: out.put(lock.acquire(timeout=0.1)))
    lock.acquire()
    other_thread.start()
    other_thread.join()
    assert out.get(timeout=10) is False  # owned by this thread, not by the other one
    lock.release()


def _enter(semaphore: Any, entered: Any, leave: Any) -> None:
    with semaphore:
        entered.put(mp.current_process().name)
        leave.wait(60)


def test_semaphore_bounds_how_many_processes_are_inside() -> None:
    semaphore, entered, leave = mp.Semaphore(2), mp.Queue(), mp.Event()
    processes = [_run(_enter, semaphore, entered, leave) for _ in range(3)]
    inside = {entered.get(timeout=60), entered.get(timeout=60)}
    with pytest.raises(queue.Empty):
        entered.get(timeout=0.5)  # the third waits for a unit
    assert semaphore.get_value() == 0
    leave.set()
    inside.add(entered.get(timeout=60))
    assert inside == {p.name for p in processes}
    _join_all(*processes)
    assert semaphore.get_value() == 2
    bounded = mp.BoundedSemaphore(1)
    assert bounded.acquire()
    bounded.release()
    with pytest.raises(ValueError, match="released too many times"):
        bounded.release()


# --- condition, event, barrier -----------------------------------------------------------------


def _wait_for_ready(condition: Any, state: Any, out: Any) -> None:
    with condition:
        out.put(condition.wait_for(lambda: state.value == 1, timeout=60))


def test_condition_notify_all_wakes_every_waiter() -> None:
    condition, state, out = mp.Condition(), mp.Value("i", 0, lock=False), mp.Queue()
    waiters = [_run(_wait_for_ready, condition, state, out) for _ in range(2)]
    deadline = time.monotonic() + 60
    while condition._client.llen(condition._key) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # both are waiting
    assert condition._client.llen(condition._key) == 2
    with condition:
        state.value = 1
        condition.notify_all()
    assert [out.get(timeout=60), out.get(timeout=60)] == [True, True]
    _join_all(*waiters)
    with condition:
        assert condition.wait(timeout=0.1) is False
    with pytest.raises(AssertionError):
        condition.notify()


def _wait_event(event: Any, out: Any) -> None:
    out.put(event.wait(60))


def test_event_releases_waiting_processes() -> None:
    event, out = mp.Event(), mp.Queue()
    assert not event.is_set() and event.wait(0.1) is False
    waiters = [_run(_wait_event, event, out) for _ in range(2)]
    deadline = time.monotonic() + 60
    while event._client.llen(event._waiters_key) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # both are waiting
    assert event._client.llen(event._waiters_key) == 2
    event.set()
    assert [out.get(timeout=60), out.get(timeout=60)] == [True, True]
    _join_all(*waiters)
    event.clear()
    assert not event.is_set()


def _barrier_wait(barrier: Any, out: Any) -> None:
    try:
        out.put(barrier.wait())
    except threading.BrokenBarrierError:
        out.put("broken")


def test_barrier_indices_abort_and_reset() -> None:
    barrier, out = mp.Barrier(3, timeout=60), mp.Queue()
    parties = [_run(_barrier_wait, barrier, out) for _ in range(2)]
    assert barrier.parties == 3
    index = barrier.wait()
    assert sorted([index, out.get(timeout=60), out.get(timeout=60)]) == [0, 1, 2]
    _join_all(*parties)
    waiting = _run(_barrier_wait, barrier, out)
    deadline = time.monotonic() + 60
    while barrier.n_waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert barrier.n_waiting == 1
    barrier.abort()
    assert out.get(timeout=60) == "broken" and barrier.broken
    _join_all(waiting)
    barrier.reset()
    assert not barrier.broken and barrier.n_waiting == 0


# --- values and arrays -------------------------------------------------------------------------


def _fill(value: Any, array: Any, text: Any) -> None:
    value.value = 2.5
    array[1:3] = [-1, -2]
    array[-1] = 99
    text.value = b"hi"


def test_values_and_arrays_are_shared() -> None:
    value, array, text = mp.Value(ctypes.c_double, 1.0), mp.Array("i", range(5)), mp.Array("c", b"hello")
    _join_all(_run(_fill, value, array, text))
    assert value.value == 2.5
    assert array[:] == [0, -1, -2, 3, 99] and list(array) == array[:] and len(array) == 5
    assert array[::2] == [0, -2, 99] and array[-1] == 99
    assert text.value == b"hi" and text.raw == b"hi\x00lo"
    with pytest.raises(IndexError):
        array[5]
    with pytest.raises(ValueError):
        array[0:2] = [1]
    assert isinstance(value.get_lock(), mp.RLock)
    raw = mp.RawValue("i", 7)
    assert raw.value == 7 and not hasattr(raw, "get_lock")
    assert mp.RawArray("d", 3)[:] == [0.0, 0.0, 0.0]
    counter = mp.Value("b", 127, lock=mp.Lock())
    with counter:
        counter.value += 1
    assert counter.value == -128  # ctypes' wrap-around


class _Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int)]


def test_types_that_cannot_be_shared_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match="bad typecode"):
        mp.Value("X")
    with pytest.raises(TypeError, match="cannot be shared with lithops processes"):
        mp.Value(_Point)
