"""The worker's entry point: what a cloud function's handler does, in a local process.

The backend starts ``python -m lithops_backend_template._entry`` and writes the invocation payload
(``CallBatch.to_json()``) to its stdin. Core's worker runs the calls, each in a forked child (so a
timeout or a crash fails only that call), and writes statuses and results to storage.
A real backend's handler is the same few lines: ``mark_worker_process()``, then
``handle_payload(event, deadline=invocation_deadline(seconds_left))``.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from lithops.worker import handle_payload, mark_worker_process

    mark_worker_process()

    payload = json.loads(sys.stdin.buffer.read())
    handle_payload(payload)


if __name__ == "__main__":
    main()
