"""IAM tokens for the IBM clients of one process, through ``ibm-cloud-sdk-core``.

An API key is exchanged at IAM's ``/identity/token`` for a short-lived access token (a JWT). One
:class:`IamTokenSource` per (API key, IAM endpoint) serves every client of the process (the COS
client and the Code Engine client alike): the token is fetched once, cached, and fetched again
when 80% of its lifetime has passed, before it expires (``ibm-cloud-sdk-core``'s
``IAMAuthenticator`` does the caching and the timing).

A refused key raises :class:`IamError`, whose message names the configuration section and key
that hold it, never the key itself.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, ClassVar

from lithops.errors import ConfigError

__all__ = ["IamError", "IamTokenSource"]


class IamError(ConfigError):
    """IAM did not give a token: the API key was refused, or IAM could not be reached."""


class IamTokenSource:
    """Access tokens for one API key, shared by every client of this process.

    Use :meth:`shared` rather than the constructor, so that clients share one token.

    Args:
        api_key: the IBM Cloud API key (kept only inside the SDK's authenticator).
        iam_endpoint: the IAM service URL (``https://iam.cloud.ibm.com``).
    """

    _shared: ClassVar[dict[tuple[str, str], IamTokenSource]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, api_key: str, iam_endpoint: str) -> None:
        from ibm_cloud_sdk_core.authenticators import IAMAuthenticator

        self.iam_endpoint = iam_endpoint.rstrip("/")
        self._authenticator: Any = IAMAuthenticator(api_key, url=self.iam_endpoint)

    @classmethod
    def shared(cls, api_key: str, iam_endpoint: str) -> IamTokenSource:
        """The process's token source for this key and endpoint, created on first use."""
        # Keyed by a hash: the key itself stays only inside the authenticator.
        identity = (hashlib.sha256(api_key.encode()).hexdigest(), iam_endpoint.rstrip("/"))
        with cls._shared_lock:
            source = cls._shared.get(identity)
            if source is None:
                source = cls._shared[identity] = cls(api_key, iam_endpoint)
            return source

    def __repr__(self) -> str:
        return f"<IamTokenSource at {self.iam_endpoint}>"

    def __reduce__(self) -> Any:
        raise TypeError("An IAM token source holds an API key and is never pickled.")

    @property
    def authenticator(self) -> Any:
        """The SDK authenticator, for IBM service clients (``CodeEngineV2(authenticator=...)``)."""
        return self._authenticator

    def token(self, where: str) -> str:
        """A valid access token: the cached one, or a new one when it is due for refresh.

        Args:
            where: where the key is configured, for error messages
                (``"'iam_api_key' of the 'ibm' section"``).

        Raises:
            IamError: the key was refused or IAM could not be reached.
        """
        manager = self._authenticator.token_manager
        try:
            token: str = manager.get_token()
        except Exception as exc:  # the SDK raises ApiException or requests' errors
            # The SDK marks a token request as under way for 60 s and leaves the mark after a
            # failure: every later caller would wait a minute before asking again.
            manager.request_time = 0
            raise self.error(exc, where) from None
        return token

    def expire_token(self) -> None:
        """Forget the cached token: the next :meth:`token` fetches a new one (after a service
        refused the current one before its expiry)."""
        manager = self._authenticator.token_manager
        with manager.lock:
            manager.expire_time = 0
            manager.refresh_time = 0

    def error(self, exc: BaseException, where: str) -> IamError:
        """The :class:`IamError` for a failure of a token request (never quoting the key)."""
        from ibm_cloud_sdk_core import ApiException

        if isinstance(exc, ApiException):
            return IamError(
                f"IAM at {self.iam_endpoint} refused the API key set as {where}"
                f" (HTTP {exc.status_code}: {exc.message}). Check that the key exists and is active"
                " (ibmcloud iam api-keys), or create one with `ibmcloud iam api-key-create lithops`."
            )
        return IamError(
            f"Could not get an IAM token from {self.iam_endpoint} for the API key set as {where}"
            f" ({type(exc).__name__}: {exc}). Check the network and 'iam_endpoint' in the 'ibm' section."
        )

    def is_iam_request(self, exc: BaseException) -> bool:
        """Whether ``exc``, a ``requests`` error raised by an SDK call, failed a token request to this
        IAM service (unreachable, silent); the token request pacing is reset, so that the next call
        asks again at once instead of waiting for the SDK's 60 s mark."""
        request = getattr(exc, "request", None)
        url = str(getattr(request, "url", "") or "")
        if not url.startswith(self.iam_endpoint):
            return False
        self._authenticator.token_manager.request_time = 0
        return True

    def is_iam_failure(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised by an SDK call, comes from a token request to this IAM service."""
        response = getattr(exc, "http_response", None)
        url = str(getattr(response, "url", "") or "")
        return url.startswith(self.iam_endpoint)

    def cos_token_manager(self, where: str) -> Any:
        """A token manager for ``ibm_boto3`` sessions that hands out this source's tokens."""
        from ibm_botocore.credentials import TokenManager

        source = self

        class _SharedTokenManager(TokenManager):  # type: ignore[misc]
            def get_token(self) -> str:
                return source.token(where)

        return _SharedTokenManager()
