"""The Kubernetes API stand-in of the test kit, through the official client: the gaps of kmock it
fills are what the backend relies on, so they are checked here on their own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from k8s_cluster import NAMESPACE, Cluster


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Any:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    return client.CoreV1Api(api_client), client.VersionApi(api_client)


def _config_map(name: str, labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}, **meta},
            "data": {"k": "v"}}


def test_version_and_metadata_defaults(api: Any) -> None:
    core, version = api
    assert version.get_code().major == "1"
    created = core.create_namespaced_config_map(NAMESPACE, _config_map("emu-meta"))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    assert created.metadata.namespace == NAMESPACE
    generated = core.create_namespaced_config_map(NAMESPACE, {**_config_map(""), "metadata": {"generateName": "emu-"}})
    assert generated.metadata.name.startswith("emu-") and len(generated.metadata.name) == 9
    patched = core.patch_namespaced_config_map("emu-meta", NAMESPACE, {"data": {"k": "w"}})
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)


def test_names_and_labels_are_validated(api: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    core, _ = api
    with pytest.raises(ApiException) as bad_name:
        core.create_namespaced_config_map(NAMESPACE, _config_map("Not_A_Name"))
    assert bad_name.value.status == 422 and "RFC 1123" in bad_name.value.body
    with pytest.raises(ApiException) as bad_label:
        core.create_namespaced_config_map(NAMESPACE, _config_map("emu-label", {"a": "x" * 64}))
    assert bad_label.value.status == 422


def test_label_selectors_and_delete_collection(api: Any) -> None:
    core, _ = api
    for name, labels in (("emu-a", {"app": "x", "tier": "1"}), ("emu-b", {"app": "x", "tier": "2"}),
                         ("emu-c", {"app": "y"})):
        core.create_namespaced_config_map(NAMESPACE, _config_map(name, labels))

    def names(selector: str) -> list[str]:
        return sorted(i.metadata.name for i in core.list_namespaced_config_map(NAMESPACE, label_selector=selector).items)

    assert names("app=x") == ["emu-a", "emu-b"]
    assert names("app=x,tier!=1") == ["emu-b"]
    assert names("app in (x,y),!tier") == ["emu-c"]
    assert names("tier") == ["emu-a", "emu-b"]
    core.delete_collection_namespaced_config_map(NAMESPACE, label_selector="app=x")
    assert names("app") == ["emu-c"]


def test_forbidden_requests_get_the_real_message(cluster: Cluster, api: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    core, _ = api
    cluster.server.api.forbid("list", "configmaps", NAMESPACE)
    try:
        with pytest.raises(ApiException) as refused:
            core.list_namespaced_config_map(NAMESPACE)
    finally:
        cluster.server.api.allow_all()
    assert refused.value.status == 403
    assert ('configmaps is forbidden: User "lithops-tester" cannot list resource "configmaps" in API group ""'
            f' in the namespace "{NAMESPACE}"') == json.loads(refused.value.body)["message"]
