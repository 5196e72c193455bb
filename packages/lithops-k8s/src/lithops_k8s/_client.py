"""The connection to the cluster: kubeconfig or in-cluster configuration, JSON in and out, and
API refusals turned into errors that name the verb, the resource and the fix."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lithops.errors import ConfigError, InvocationError
from lithops.spi import ClientTimeouts

from lithops_k8s import __version__

logger = logging.getLogger(__name__)

#: The User-Agent of every request lithops sends to the API server.
USER_AGENT = f"lithops-k8s/{__version__}"
_IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class KubeApi:
    """A cluster connection: the typed APIs of the official client, asked for raw JSON.

    Reads use ``_preload_content=False`` and ``json.loads``: the client's model classes validate
    every field of every pod, which costs more than the request itself on a big job.

    Args:
        kubecfg_path: a kubeconfig file, or ``None`` for the default lookup.
        context: a context of that file, or ``None`` for its current one.
        namespace: the namespace to use, or ``None`` for the context's (else ``default``).
        timeouts: connect and read timeouts of every request (default: the shared defaults).
    """

    def __init__(self, kubecfg_path: str | None, context: str | None, namespace: str | None,
                 timeouts: ClientTimeouts | None = None) -> None:
        import kubernetes

        # The client's config helpers are untyped: use them as Any.
        client: Any = kubernetes.client
        config: Any = kubernetes.config
        self.in_cluster = False
        context_namespace: str | None = None
        path = os.path.expanduser(kubecfg_path) if kubecfg_path else None
        if path is None and not os.environ.get("KUBECONFIG") and not Path("~/.kube/config").expanduser().exists() \
                and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            self.api_client: Any = client.ApiClient(configuration)
            self.in_cluster = True
            if _IN_CLUSTER_NAMESPACE.exists():
                context_namespace = _IN_CLUSTER_NAMESPACE.read_text().strip() or None
            self.where = "the in-cluster service account"
        else:
            try:
                contexts, current = config.list_kube_config_contexts(config_file=path)
                chosen = next((c for c in contexts if c["name"] == context), None) if context else current
                if context and chosen is None:
                    names = ", ".join(c["name"] for c in contexts)
                    raise ConfigError(f"Context {context!r} (kubecfg_context in section 'k8s') is not in the"
                                      f" kubeconfig {path or '~/.kube/config'}: it has {names}.")
                context_namespace = ((chosen or {}).get("context") or {}).get("namespace")
                self.api_client = config.new_client_from_config(config_file=path, context=context)
            except config.ConfigException as exc:
                raise ConfigError(
                    f"Cannot load the Kubernetes configuration ({path or os.environ.get('KUBECONFIG') or '~/.kube/config'}):"
                    f" {exc}. Set kubecfg_path (and kubecfg_context) in the 'k8s' section, or KUBECONFIG."
                ) from exc
            self.where = f"kubeconfig {path or os.environ.get('KUBECONFIG') or '~/.kube/config'}" + (
                f" context {context}" if context else "")
        self.api_client.user_agent = USER_AGENT
        self.timeouts = timeouts or ClientTimeouts()
        #: ``_request_timeout`` of every request: (connect, read) seconds, so a silent server fails.
        self.request_timeout = (self.timeouts.connect, self.timeouts.read)
        self.namespace = namespace or context_namespace or "default"
        self.host = str(self.api_client.configuration.host)
        self.batch = client.BatchV1Api(self.api_client)
        self.core = client.CoreV1Api(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    def call(self, verb: str, resource: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one API call; the answer's JSON, or :class:`InvocationError` naming ``verb``/``resource``.

        A 404 on ``get``/``delete`` answers ``None`` (the object is gone).
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            answer = method(*args, _preload_content=False, _request_timeout=self.request_timeout, **kwargs)
        except ApiException as exc:
            if exc.status == 404 and verb in ("get", "delete"):
                return None
            raise self.refusal(exc, verb, resource) from None
        except (OSError, HTTPError) as exc:  # refused, reset, or no answer within the timeouts
            raise InvocationError(
                f"Cannot reach the Kubernetes API server at {self.host} ({self.where}) to {verb} {resource},"
                f" or it did not answer within {self.timeouts.connect:g} s (connect) / {self.timeouts.read:g} s"
                f" (read): {exc}. Check that the cluster is up and reachable, or raise 'connect_timeout' or"
                " 'read_timeout' in the 'k8s' section.") from exc
        data = answer.data
        return json.loads(data) if data else None

    def refusal(self, exc: Any, verb: str, resource: str) -> InvocationError:
        """The error for an API refusal: what was refused, the server's words, and what to do."""
        status = int(getattr(exc, "status", 0) or 0)
        message = _server_message(getattr(exc, "body", None)) or str(getattr(exc, "reason", "") or exc)
        where = f"in namespace {self.namespace!r}"
        if status == 403:
            return InvocationError(
                f"The Kubernetes API server refused to {verb} {resource} {where} (403 Forbidden): {message}."
                f" Grant the identity of {self.where} the verb {verb!r} on {resource!r} (a Role and RoleBinding"
                " like the one in the k8s backend docs), or set another namespace in the 'k8s' section.")
        if status == 401:
            return InvocationError(
                f"The Kubernetes API server did not accept the credentials of {self.where} to {verb} {resource}"
                f" (401 Unauthorized): {message}. Refresh the kubeconfig's token or certificate.")
        if status == 404 and "namespace" in message:
            return InvocationError(
                f"Cannot {verb} {resource} {where}: {message}. Create it (kubectl create namespace"
                f" {self.namespace}) or set namespace in the 'k8s' section.")
        if status == 422:
            return InvocationError(f"The Kubernetes API server rejected the {resource} lithops sent (422): {message}")
        return InvocationError(f"The Kubernetes API server answered {status} to {verb} {resource} {where}: {message}")


def _server_message(body: Any) -> str:
    if not body:
        return ""
    try:
        status: Mapping[str, Any] = json.loads(body)
    except (TypeError, ValueError):
        return str(body)[:500]
    return str(status.get("message") or "")
