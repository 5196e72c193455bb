"""A local stand-in for the Lambda API endpoint, for the L1 workload (invocation throughput).

``python -m lithops_bench.lambda_front --port P --upstream http://127.0.0.1:MOTO`` answers every
``Invoke`` with ``InvocationType: Event`` at once, as Lambda's asynchronous API does (202 and a
request id, without running anything), and forwards every other request (the control plane:
functions, layers, IAM) to moto. ``GET /__bench/count`` gives the number of invocations received,
``GET /__bench/last`` the last invocation's body, ``POST /__bench/reset`` zeroes the count.
Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import itertools
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class _State:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.count = 0
        self.last = b""
        self.ids = itertools.count()
        self.lock = threading.Lock()


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _forward(self, body: bytes | None) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            request = urllib.request.Request(state.upstream + self.path, data=body, method=self.command,
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    status, data, reply_headers = response.status, response.read(), dict(response.headers)
            except urllib.error.HTTPError as exc:
                status, data, reply_headers = exc.code, exc.read(), dict(exc.headers)
            self._reply(status, data, {k: v for k, v in reply_headers.items() if k.lower() not in _HOP_HEADERS})

        def do_GET(self) -> None:
            if self.path == "/__bench/count":
                self._reply(200, str(state.count).encode())
            elif self.path == "/__bench/last":
                self._reply(200, state.last)
            else:
                self._forward(None)

        def do_DELETE(self) -> None:
            self._forward(None)

        def do_PUT(self) -> None:
            self._forward(self._body())

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/__bench/reset":
                with state.lock:
                    state.count = 0
                self._reply(200, b"0")
            elif self.path.endswith("/invocations") and self.headers.get("X-Amz-Invocation-Type") == "Event":
                with state.lock:
                    state.count += 1
                    state.last = body
                    number = next(state.ids)
                self._reply(202, b"", {"x-amzn-RequestId": f"bench-{number}"})
            else:
                self._forward(body)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    # The default listen backlog (5) makes concurrent clients wait for SYN retries (1 s, 3 s...).
    ThreadingHTTPServer.request_queue_size = 512
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(_State(args.upstream)))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
