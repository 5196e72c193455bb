"""The Code Engine v2 client of the ``code_engine`` backend: ``ibm-code-engine-sdk`` with lithops errors.

Every call goes through :meth:`CodeEngineClient.call`, which turns the SDK's exceptions into
lithops errors that say what to do (never quoting credentials), and, when Code Engine answers 401
(a token revoked or refused before its expiry), fetches a new IAM token once and repeats the call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from lithops.errors import ConfigError, InvocationError, InvocationThrottledError
from lithops.spi import ClientTimeouts

from lithops_ibm.iam import IamTokenSource

__all__ = ["CodeEngineClient", "ce_endpoint"]

logger = logging.getLogger(__name__)

#: How long a new project may take to become active.
PROJECT_READY_TIMEOUT = 300.0


def ce_endpoint(region: str) -> str:
    """The Code Engine v2 API URL of an IBM Cloud region."""
    return f"https://api.{region}.codeengine.cloud.ibm.com/v2"


class CodeEngineClient:
    """A ``CodeEngineV2`` client authenticated by a shared IAM token source.

    Args:
        iam: the token source (shared with COS clients of the same key).
        where: where the API key is configured, for error messages.
        endpoint: the v2 API URL.
        timeouts: connect/read timeouts of every request (IAM token requests too), and the attempts
            of reads (``get_*``/``list_*``); other requests are made once, as a repeated create
            could start a job run twice.
    """

    def __init__(self, iam: IamTokenSource, where: str, endpoint: str, timeouts: ClientTimeouts | None = None) -> None:
        from ibm_code_engine_sdk.code_engine_v2 import CodeEngineV2

        self.iam = iam
        self.where = where
        self.endpoint = endpoint.rstrip("/")
        self.sdk: Any = CodeEngineV2(authenticator=iam.authenticator)
        self.sdk.set_service_url(self.endpoint)
        self.timeouts = timeouts or ClientTimeouts()
        # Also given to the authenticator's token manager: a silent IAM endpoint fails likewise.
        self.sdk.set_http_config({"timeout": (self.timeouts.connect, self.timeouts.read)})

    def call(self, operation: str, **kwargs: Any) -> Any:
        """``sdk.<operation>(**kwargs).get_result()``, with lithops errors.

        Returns ``None`` for a 404 when ``missing_ok=True`` is passed.

        Raises:
            IamError: the API key was refused.
            InvocationThrottledError: Code Engine throttled the request (429).
            InvocationError: any other refusal, with Code Engine's message.
        """
        from ibm_cloud_sdk_core import ApiException
        from requests.exceptions import RequestException

        missing_ok = bool(kwargs.pop("missing_ok", False))
        method: Callable[..., Any] = getattr(self.sdk, operation)
        attempts = self.timeouts.attempts if operation.startswith(("get_", "list_")) else 1
        refreshed = False
        failures = 0
        while True:
            try:
                return method(**kwargs).get_result()
            except ApiException as exc:
                if self.iam.is_iam_failure(exc):
                    raise self.iam.error(exc, self.where) from None
                if exc.status_code == 401 and not refreshed:
                    logger.info("Code Engine refused the IAM token (401); fetching a new one")
                    self.iam.expire_token()
                    refreshed = True
                    continue
                if exc.status_code == 404 and missing_ok:
                    return None
                raise self._error(operation, exc) from None
            except RequestException as exc:
                if self.iam.is_iam_request(exc):
                    raise self.iam.error(exc, self.where) from None
                failures += 1
                if failures < attempts:
                    time.sleep(min(0.5 * 2 ** (failures - 1), 4.0))
                    continue
                once = "" if attempts > 1 else " (not repeated: it may have been applied)"
                raise InvocationError(
                    f"Cannot reach Code Engine at {self.endpoint}, or it did not answer in time, for"
                    f" {operation}{once} after {failures} attempt(s) ({type(exc).__name__}: {exc}). Check the"
                    " network and 'region' (or 'endpoint') in the 'code_engine' section, or raise its"
                    " 'connect_timeout', 'read_timeout' or 'retries'."
                ) from None

    def _error(self, operation: str, exc: Any) -> InvocationError:
        status = exc.status_code
        message = f"Code Engine {operation} failed (HTTP {status}: {exc.message})"
        if status == 429:
            return InvocationThrottledError(f"{message}. Code Engine is throttling requests: retry later.")
        if status == 401:
            return InvocationError(f"{message}. The IAM token of the key set as {self.where} was refused twice.")
        if status == 403:
            return InvocationError(f"{message}. The API key set as {self.where} lacks a Code Engine role:"
                                   " give it Writer (service) and Viewer (platform) on the project.")
        return InvocationError(f"{message}.")

    def list_all(self, operation: str, field: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a paginated list operation (``list_job_runs``, ``job_runs``), all pages."""
        items: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            page = self.call(operation, limit=100, start=start, **kwargs)
            items += page.get(field, [])
            start = (page.get("next") or {}).get("start")
            if not start:
                return items

    def find_project(self, name: str) -> dict[str, Any] | None:
        """The project whose name or id is ``name``."""
        for project in self.list_all("list_projects", "projects"):
            if name in (project.get("name"), project.get("id")):
                return dict(project)
        return None

    def project_id(self, name: str, resource_group_id: str | None) -> str:
        """The id of project ``name``; created in ``resource_group_id`` when it does not exist.

        Raises:
            ConfigError: the project does not exist and no resource group is configured.
        """
        project = self.find_project(name)
        if project is None:
            if not resource_group_id:
                raise ConfigError(
                    f"There is no Code Engine project {name!r} in this region. Create it (ibmcloud ce project"
                    f" create --name {name}), or set 'resource_group_id' in the 'ibm' section so that"
                    " lithops creates it."
                )
            logger.info("Creating Code Engine project %r", name)
            project = self.call("create_project", name=name, resource_group_id=resource_group_id)
        deadline = time.monotonic() + PROJECT_READY_TIMEOUT
        while project.get("status") not in (None, "active"):
            if project.get("status") in ("failed", "deleting", "soft_deleted") or time.monotonic() > deadline:
                raise InvocationError(f"The Code Engine project {name!r} is {project.get('status')}, not active.")
            time.sleep(2)
            project = self.call("get_project", id=project["id"])
        return str(project["id"])
