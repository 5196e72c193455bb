"""A local stand-in for IBM Cloud IAM's token service, for tests and benchmarks.

It answers ``POST /identity/token`` as IAM does for the API-key grant
(``grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=...``, form-encoded): JSON with a
JWT-shaped ``access_token`` (claims ``iat``, ``exp``, ``iam_id``, ``account``...), an opaque
``refresh_token``, ``token_type: Bearer``, ``expires_in`` and ``expiration``. An unknown key gets
HTTP 400 with ``errorCode: BXNIM0415E`` and ``errorMessage: Provided API key could not be found.``,
as IAM answers. Tokens are signed (HMAC-SHA256) with a per-server secret, so that other fakes can
check the bearer tokens they receive with :meth:`IamTokenServer.validate` (an expired token is
refused there, which is how token refresh is exercised). ``token_lifetime`` can be made short.

::

    with iam_token_server({"my-api-key": "account-1"}, token_lifetime=5) as iam:
        IAMAuthenticator("my-api-key", url=iam.url)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["BAD_KEY_MESSAGE", "IamTokenServer", "iam_token_server"]

BAD_KEY_MESSAGE = "Provided API key could not be found."
_APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class IamTokenServer:
    """The token service: a threaded HTTP server on 127.0.0.1.

    Args:
        api_keys: the accepted API keys, each with the account id it belongs to.
        token_lifetime: seconds an access token is valid (IAM: 3600).

    Attributes:
        url: ``http://127.0.0.1:PORT``, the ``url`` of ``IAMAuthenticator`` and ``iam_endpoint``.
        token_requests: how many tokens were asked for, per API key (refused keys included).
    """

    def __init__(self, api_keys: Mapping[str, str], token_lifetime: int = 3600) -> None:
        self.api_keys = dict(api_keys)
        self.token_lifetime = token_lifetime
        self.token_requests: dict[str, int] = {}
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                status, body = server._answer(self.path, {k: v[0] for k, v in form.items()})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="iam-token-server", daemon=True)

    def start(self) -> IamTokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def issue(self, account: str, subject: str = "ServiceId-lithops") -> dict[str, Any]:
        """A token response for ``account``, as IAM's API-key grant returns it."""
        now = int(time.time())
        claims = {"iam_id": subject, "sub": subject, "account": {"bss": account}, "iat": now,
                  "exp": now + self.token_lifetime, "iss": f"{self.url}/identity", "grant_type": _APIKEY_GRANT,
                  "scope": "ibm openid", "jti": secrets.token_hex(8)}
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "lithops-fake"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = _b64(hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return {"access_token": f"{header}.{payload}.{signature}", "refresh_token": secrets.token_urlsafe(24),
                "ims_user_id": 0, "token_type": "Bearer", "expires_in": self.token_lifetime,
                "expiration": claims["exp"], "scope": "ibm openid"}

    def validate(self, authorization: str | None) -> dict[str, Any] | None:
        """The claims of a valid, unexpired ``Bearer`` token; ``None`` for anything else."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        parts = authorization[len("Bearer "):].strip().split(".")
        if len(parts) != 3:
            return None
        expected = hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        claims: dict[str, Any] = json.loads(_unb64(parts[1]))
        return claims if int(claims["exp"]) > time.time() else None

    def _answer(self, path: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if urllib.parse.urlsplit(path).path.rstrip("/") != "/identity/token":
            return 404, {"errorCode": "BXNIM0404E", "errorMessage": f"No such operation: {path}"}
        if form.get("grant_type") != _APIKEY_GRANT:
            return 400, {"errorCode": "BXNIM0109E", "errorMessage": "Property missing or empty: grant_type."}
        api_key = form.get("apikey", "")
        with self._lock:
            self.token_requests[api_key] = self.token_requests.get(api_key, 0) + 1
        account = self.api_keys.get(api_key)
        if account is None:
            return 400, {"errorCode": "BXNIM0415E", "errorMessage": BAD_KEY_MESSAGE,
                         "context": {"requestId": secrets.token_hex(8)}}
        return 200, self.issue(account)

    def requests_for(self, api_key: str) -> int:
        """How many tokens were asked for with ``api_key``."""
        with self._lock:
            return self.token_requests.get(api_key, 0)


@contextlib.contextmanager
def iam_token_server(api_keys: Mapping[str, str], token_lifetime: int = 3600) -> Iterator[IamTokenServer]:
    """Run an :class:`IamTokenServer` for the duration of the ``with`` block."""
    server = IamTokenServer(api_keys, token_lifetime).start()
    try:
        yield server
    finally:
        server.stop()
