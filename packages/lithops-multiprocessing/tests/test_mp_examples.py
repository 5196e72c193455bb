"""Examples of the standard library's ``multiprocessing`` documentation, run unchanged but for the
import (``from multiprocessing import`` -> ``from lithops.multiprocessing import``), as programs.

Each program also runs with the standard library, and both outputs must match (sorted, where the
processes' order is up to the scheduler).
"""

from __future__ import annotations

import concurrent.futures
import re
from typing import Any

import pytest

pytestmark = pytest.mark.slow

# https://docs.python.org/3/library/multiprocessing.html#using-a-pool-of-workers
POOL_OF_WORKERS = """
from multiprocessing import Pool, TimeoutError
import time
import os

def f(x):
    return x*x

if __name__ == '__main__':
    # start 4 worker processes
    with Pool(processes=4) as pool:

        # print "[0, 1, 4,..., 81]"
        print(pool.map(f, range(10)))

        # print same numbers in arbitrary order
        for i in pool.imap_unordered(f, range(10)):
            print(i)

        # evaluate "f(20)" asynchronously
        res = pool.apply_async(f, (20,))      # runs in *only* one process
        print(res.get(timeout=1))             # prints "400"

        # evaluate "os.getpid()" asynchronously
        res = pool.apply_async(os.getpid, ()) # runs in *only* one process
        print(res.get(timeout=1))             # prints the PID of that process

        # launching multiple evaluations asynchronously *may* use more processes
        multiple_results = [pool.apply_async(os.getpid, ()) for i in range(4)]
        print([res.get(timeout=1) for res in multiple_results])

        # make a single worker sleep for 10 seconds
        res = pool.apply_async(time.sleep, (10,))
        try:
            print(res.get(timeout=1))
        except TimeoutError:
            print("We lacked patience and got a multiprocessing.TimeoutError")

        print("For the moment, the pool remains available for more work")

    # exiting the 'with'-block has stopped the pool
    print("Now the pool is closed and no longer available")
"""

# https://docs.python.org/3/library/multiprocessing.html#exchanging-objects-between-processes
QUEUES = """
from multiprocessing import Process, Queue

def f(q):
    q.put([42, None, 'hello'])

if __name__ == '__main__':
    q = Queue()
    p = Process(target=f, args=(q,))
    p.start()
    print(q.get())    # prints "[42, None, 'hello']"
    p.join()
"""

PIPES = """
from multiprocessing import Process, Pipe

def f(conn):
    conn.send([42, None, 'hello'])
    conn.close()

if __name__ == '__main__':
    parent_conn, child_conn = Pipe()
    p = Process(target=f, args=(child_conn,))
    p.start()
    print(parent_conn.recv())   # prints "[42, None, 'hello']"
    p.join()
"""

# https://docs.python.org/3/library/multiprocessing.html#synchronization-between-processes
LOCK = """
from multiprocessing import Process, Lock

def f(l, i):
    l.acquire()
    try:
        print('hello world', i)
    finally:
        l.release()

if __name__ == '__main__':
    lock = Lock()

    for num in range(10):
        Process(target=f, args=(lock, num)).start()
"""

# https://docs.python.org/3/library/multiprocessing.html#sharing-state-between-processes
SHARED_MEMORY = """
from multiprocessing import Process, Value, Array

def f(n, a):
    n.value = 3.1415927
    for i in range(len(a)):
        a[i] = -a[i]

if __name__ == '__main__':
    num = Value('d', 0.0)
    arr = Array('i', range(10))

    p = Process(target=f, args=(num, arr))
    p.start()
    p.join()

    print(num.value)
    print(arr[:])
"""

# The documentation's advice for Value (https://docs.python.org/3/library/multiprocessing.html
# #multiprocessing.Value): "with counter.get_lock(): counter.value += 1", in a program.
LOCKED_COUNTER = """
from multiprocessing import Process, Value

def work(counter):
    for _ in range(25):
        with counter.get_lock():
            counter.value += 1

if __name__ == '__main__':
    counter = Value('i', 0)
    processes = [Process(target=work, args=(counter,)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    print(counter.value)
"""

# https://docs.python.org/3/library/multiprocessing.html#managers
MANAGER = """
from multiprocessing import Process, Manager

def f(d, l):
    d[1] = '1'
    d['2'] = 2
    d[0.25] = None
    l.reverse()

if __name__ == '__main__':
    with Manager() as manager:
        d = manager.dict()
        l = manager.list(range(10))

        p = Process(target=f, args=(d, l))
        p.start()
        p.join()

        print(d)
        print(l)
"""

# multiprocessing.Barrier has the interface of threading.Barrier, whose documentation has no
# complete program: this one uses parties, wait's index, the action and n_waiting.
BARRIER = """
from multiprocessing import Barrier, Process, Queue

def announce():
    print('all arrived')

def runner(barrier, results, name):
    index = barrier.wait()
    results.put((name, index))

if __name__ == '__main__':
    barrier = Barrier(3, action=announce, timeout=60)
    results = Queue()
    processes = [Process(target=runner, args=(barrier, results, n)) for n in 'abc']
    for p in processes:
        p.start()
    got = sorted(results.get() for _ in processes)
    for p in processes:
        p.join()
    print([name for name, _ in got], sorted(index for _, index in got))
    print(barrier.parties, barrier.n_waiting, barrier.broken)
"""


def _lithops(source: str) -> str:
    return source.replace("from multiprocessing import", "from lithops.multiprocessing import")


# (source, whether the output's line order is deterministic)
EXAMPLES = {
    "queues": (QUEUES, True),
    "pipes": (PIPES, True),
    "lock": (LOCK, False),
    "shared-memory": (SHARED_MEMORY, True),
    "locked-counter": (LOCKED_COUNTER, True),
    "manager": (MANAGER, True),
    "barrier": (BARRIER, False),
}


@pytest.fixture(scope="module")
def example_runs(run_program: Any) -> dict[str, tuple[Any, Any]]:
    """Every example, with the standard library and with lithops, a few at a time (they spend most
    of their time starting interpreters)."""
    jobs = {(name, flavour): source if flavour == "stdlib" else _lithops(source)
            for name, (source, _) in EXAMPLES.items() for flavour in ("stdlib", "lithops")}
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as threads:
        futures = {key: threads.submit(run_program, source) for key, source in jobs.items()}
        return {name: (futures[(name, "stdlib")].result(), futures[(name, "lithops")].result())
                for name in EXAMPLES}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_prints_what_the_standard_library_prints(name: str, example_runs: dict[str, tuple[Any, Any]]) -> None:
    expected, got = example_runs[name]
    assert expected.returncode == 0, expected.stderr
    assert got.returncode == 0, got.stderr
    if EXAMPLES[name][1]:
        assert got.stdout == expected.stdout
    else:
        assert sorted(got.stdout.splitlines()) == sorted(expected.stdout.splitlines())
    assert got.stdout.strip()
    assert "Traceback" not in got.stderr, got.stderr


def test_pool_of_workers_example(run_program: Any) -> None:
    result = run_program(_lithops(POOL_OF_WORKERS))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    squares = [x * x for x in range(10)]
    assert lines[0] == str(squares)
    assert sorted(int(line) for line in lines[1:11]) == squares
    assert lines[11] == "400"
    assert re.fullmatch(r"\d+", lines[12])
    assert re.fullmatch(r"\[\d+, \d+, \d+, \d+\]", lines[13])
    assert lines[14:] == [
        "We lacked patience and got a multiprocessing.TimeoutError",
        "For the moment, the pool remains available for more work",
        "Now the pool is closed and no longer available",
    ]
