"""A reverse proxy that answers chosen requests with a provider's throttling answer.

Emulators do not throttle (Azurite never answers 503 ``ServerBusy``), so the compute suite's
throttling tests put this proxy between a backend and the emulator: every request is forwarded
unchanged (signatures stay valid: they do not cover the host and port), except that, while
:meth:`ThrottlingProxy.throttle` is active, the next ``count`` requests that ``match`` get
``answer`` instead.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lithops_testkit.emulators._process import HOST, free_port

__all__ = ["AZURE_SERVER_BUSY", "ThrottlingProxy", "run_throttling_proxy"]

#: Azure Storage's throttling answer (503 ServerBusy, as the services send it).
AZURE_SERVER_BUSY = (
    503, {"x-ms-error-code": "ServerBusy", "Content-Type": "application/xml"},
    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>Ingress is over the'
    b" account limit.</Message></Error>",
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class ThrottlingProxy:
    """A running proxy.

    Attributes:
        url: ``http://127.0.0.1:PORT`` plus the upstream's path prefix: use it instead of the upstream.
        throttled: how many requests were answered with the throttling answer.
    """

    url: str
    upstream: str
    match: Callable[[str, str], bool]
    answer: tuple[int, dict[str, str], bytes]
    remaining: int = 0
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def throttle(self, count: int) -> Iterator[None]:
        """Throttle the next ``count`` matching requests while the block runs."""
        with self.lock:
            self.remaining = count
        try:
            yield
        finally:
            with self.lock:
                self.remaining = 0

    def take(self, method: str, path: str) -> bool:
        with self.lock:
            if self.remaining > 0 and self.match(method, path):
                self.remaining -= 1
                self.throttled += 1
                return True
        return False


def _handler(proxy: ThrottlingProxy, origin: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if proxy.take(self.command, self.path):
                status, headers, payload = proxy.answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            request = urllib.request.Request(origin + self.path, data=body, method=self.command,
                                             headers={k: v for k, v in self.headers.items() if k.lower() not in _HOP})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    status, headers_out, payload = response.status, response.headers.items(), response.read()
            except urllib.error.HTTPError as error:
                status, headers_out, payload = error.code, error.headers.items(), error.read()
            self.send_response(status)
            for name, value in headers_out:
                if name.lower() not in _HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler


@contextlib.contextmanager
def run_throttling_proxy(upstream: str, match: Callable[[str, str], bool],
                         answer: tuple[int, dict[str, str], bytes] = AZURE_SERVER_BUSY) -> Iterator[ThrottlingProxy]:
    """Proxy ``upstream`` (a URL, possibly with a path prefix) on a free port until the block ends.

    Args:
        upstream: the emulator's URL (``http://127.0.0.1:P/devstoreaccount1``).
        match: ``(method, path)`` of the requests that may be throttled.
        answer: ``(status, headers, body)`` of the throttling answer.
    """
    scheme, _, rest = upstream.partition("://")
    host, _, prefix = rest.partition("/")
    port = free_port()
    proxy = ThrottlingProxy(f"http://{HOST}:{port}/{prefix}".rstrip("/"), upstream, match, answer)
    server = http.server.ThreadingHTTPServer((HOST, port), _handler(proxy, f"{scheme}://{host}"))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="throttling-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
