"""A warm worker process of the localhost pool: runs batches with core's worker handler.

Started as ``python -m lithops_localhost._worker CONN_FD SLOT_FD``. Messages are pickled tuples
over a ``multiprocessing.connection.Connection``:

- from the pool: ``("init", storage_configs)``, ``("batch", token, batch, package, first_call,
  data_follows)``, ``("stop",)``
- to the pool: ``("report", token, CallReport, output_follows)`` per call, ``("done", token)`` per
  batch.

Large call data and outputs travel as a raw frame right after their message (``*_follows``), so
they are copied once, not pickled again inside the message.

Before each call the worker writes ``(token, index, start_ns)`` into a shared memory slot, so the
pool knows which call is running and since when without a message per call. The slot also holds
``(token, limit)``: the index where the worker's share of a divisible batch ends. The pool lowers it
to hand calls not started yet to a worker that fell idle; both sides read and write the slot under a
POSIX record lock on it, so a call is either started here or taken away, never both.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import pickle
import signal
import struct
import sys
import threading
import time
from dataclasses import replace
from multiprocessing.connection import Connection

SLOT = struct.Struct("<qqq")  # token, call index, start time (ns) of the running call
LIMIT = struct.Struct("<qq")  # token, index where the worker stops (divisible batches), after SLOT
SLOT_SIZE = SLOT.size + LIMIT.size
#: Data and outputs larger than this travel as their own frame.
RAW_FRAME_MIN = 64 * 1024


#: Seconds between two checks that the client still runs.
PARENT_CHECK_INTERVAL = 0.5


def _watch_client(client_pid: int) -> None:
    """Stop this worker (and what its call started) once the client is gone.

    A client killed by SIGKILL or SIGTERM cannot stop its workers, and a call blocked in user
    code never reads the closed pipe: nobody would enforce its timeout or collect its result.
    """
    while True:
        time.sleep(PARENT_CHECK_INTERVAL)
        if os.getppid() != client_pid:
            if os.getpgid(0) == os.getpid():  # a session leader (the pool starts us so): take the group
                os.killpg(os.getpid(), signal.SIGKILL)
            os._exit(1)


def main(conn_fd: int, slot_fd: int) -> None:
    from lithops.spi import CallReport
    from lithops.worker import WorkerEnvironment, mark_worker_process, run_batch

    mark_worker_process()
    threading.Thread(target=_watch_client, args=(os.getppid(),), name="lithops-client-watch", daemon=True).start()

    conn = Connection(conn_fd)
    slot = mmap.mmap(slot_fd, SLOT_SIZE)
    first = pickle.loads(conn.recv_bytes())
    env = WorkerEnvironment(storage_configs=first[1] if first[0] == "init" else None)
    dumps = pickle.dumps
    protocol = pickle.HIGHEST_PROTOCOL
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except EOFError:  # the client went away
            return
        if message[0] == "stop":
            return
        _, token, batch, package, first_call, data_follows = message
        if data_follows:
            batch = replace(batch, data=conn.recv_bytes())

        def report(call_report: CallReport, token: int = token) -> None:
            output = call_report.output
            if output is not None and len(output) >= RAW_FRAME_MIN:
                call_report.output = None
                conn.send_bytes(dumps(("report", token, call_report, True), protocol))
                conn.send_bytes(output)
            else:
                conn.send_bytes(dumps(("report", token, call_report, False), protocol))

        def before_call(index: int, token: int = token, divisible: bool = batch.divisible) -> bool:
            if not divisible:
                SLOT.pack_into(slot, 0, token, index, time.time_ns())
                return True
            fcntl.lockf(slot_fd, fcntl.LOCK_EX)
            try:
                limit_token, limit = LIMIT.unpack_from(slot, SLOT.size)
                if limit_token == token and index >= limit:
                    return False  # the pool gave this call and the ones after it to another worker
                SLOT.pack_into(slot, 0, token, index, time.time_ns())
                return True
            finally:
                fcntl.lockf(slot_fd, fcntl.LOCK_UN)

        run_batch(batch, env, report, package, before_call, first_call)
        fcntl.lockf(slot_fd, fcntl.LOCK_EX)
        SLOT.pack_into(slot, 0, token, -1, 0)
        fcntl.lockf(slot_fd, fcntl.LOCK_UN)
        conn.send_bytes(dumps(("done", token), protocol))
        if env.tainted:  # a call changed what cannot be put back: the pool starts a fresh worker
            return


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
