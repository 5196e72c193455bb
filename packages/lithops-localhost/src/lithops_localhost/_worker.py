"""A warm worker process of the localhost pool: runs batches with core's worker handler.

Started as ``python -m lithops_localhost._worker CONN_FD SLOT_FD``. Messages are pickled tuples
over a ``multiprocessing.connection.Connection``:

- from the pool: ``("init", storage_configs)``, ``("batch", token, batch, package, first_call)``,
  ``("stop",)``
- to the pool: ``("report", token, CallReport)`` per call, ``("done", token)`` per batch.

Before each call the worker writes ``(token, index, start_ns)`` into a shared memory slot, so the
pool knows which call is running and since when without a message per call.
"""

from __future__ import annotations

import mmap
import os
import pickle
import struct
import sys
import time
from multiprocessing.connection import Connection

SLOT = struct.Struct("<qqq")  # token, call index, start time (ns)


def main(conn_fd: int, slot_fd: int) -> None:
    os.environ["LITHOPS_WORKER"] = "1"
    from lithops.spi import CallReport
    from lithops.worker.handler import WorkerEnvironment, run_batch

    conn = Connection(conn_fd)
    slot = mmap.mmap(slot_fd, SLOT.size)
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
        _, token, batch, package, first_call = message

        def report(call_report: CallReport, token: int = token) -> None:
            conn.send_bytes(dumps(("report", token, call_report), protocol))

        def before_call(index: int, token: int = token) -> None:
            SLOT.pack_into(slot, 0, token, index, time.time_ns())

        run_batch(batch, env, report, package, before_call, first_call)
        SLOT.pack_into(slot, 0, token, -1, 0)
        conn.send_bytes(dumps(("done", token), protocol))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
