"""A small Lambda Invoke endpoint on 127.0.0.1 that answers from a script, for failure tests.

Each request to ``POST /2015-03-31/functions/<name>/invocations`` takes the next scripted answer:
an HTTP status with a Lambda error type (``429``/``TooManyRequestsException``...), or ``forward``
to pass the request to another endpoint (a Runtime Interface Emulator) and return its answer.
When the script runs out, the last answer repeats. Every request body is recorded.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORWARD = "forward"


@dataclass
class Answer:
    """One scripted answer: ``status`` and ``error_type``, or ``FORWARD`` to ``target``."""

    status: int | str
    error_type: str = ""
    message: str = ""


@dataclass
class FakeLambda:
    endpoint: str
    script: list[Answer]
    target: str | None = None
    bodies: list[bytes] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self, body: bytes) -> Answer:
        with self.lock:
            self.bodies.append(body)
            index = min(len(self.bodies) - 1, len(self.script) - 1)
            return self.script[index]


def _handler(fake: FakeLambda) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = fake.next_answer(body)
            if answer.status == FORWARD:
                assert fake.target is not None
                request = urllib.request.Request(f"{fake.target}/2015-03-31/functions/function/invocations",
                                                 data=body, method="POST")
                with urllib.request.urlopen(request, timeout=120) as response:
                    status, data = response.status, response.read()
                headers = {"Content-Type": "application/json"}
            else:
                assert isinstance(answer.status, int)
                status = answer.status
                data = json.dumps({"Type": "User", "message": answer.message or answer.error_type}).encode()
                headers = {"Content-Type": "application/json", "x-amzn-ErrorType": answer.error_type}
            with fake.lock:
                fake.answered.append(status)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("x-amzn-RequestId", f"fake-{len(fake.bodies)}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def fake_lambda(script: list[Answer], target: str | None = None) -> Iterator[FakeLambda]:
    """Serve the script on 127.0.0.1 (a free port) in a thread; stop it at the end."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fake = FakeLambda(f"http://127.0.0.1:{server.server_address[1]}", script, target)
    server.RequestHandlerClass = _handler(fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
