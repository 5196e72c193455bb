"""``lithops runtime build|deploy|list|delete`` and ``lithops clean`` with ``-b k8s``, as a user runs
them (in this process, through click's runner: the kubernetes client is slow to import)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from k8s_cluster import Cluster
from lithops import __version__ as lithops_version
from lithops.cli import main

IMAGE = "registry.example.com/lithops/cli-test:2"


def test_runtime_commands(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = cluster.config(tmp_path / "storage", build_dir=str(tmp_path / "build"))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(json.dumps(config))  # YAML is a superset of JSON
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(config_file))
    runner = CliRunner()

    def lithops(*args: str, ok: bool = True) -> str:
        done = runner.invoke(main, list(args), catch_exceptions=False)
        assert (done.exit_code == 0) == ok, done.output
        return done.output

    deployed = lithops("runtime", "deploy", IMAGE, "-b", "k8s")
    assert IMAGE in deployed and f"lithops {lithops_version}" in deployed
    assert IMAGE in lithops("runtime", "list", "-b", "k8s")
    monkeypatch.setenv("PATH", str(tmp_path / "no-docker"))
    assert f"docker push {IMAGE}" in lithops("runtime", "build", IMAGE, "-b", "k8s", ok=False)
    assert list((tmp_path / "build").glob("*/Dockerfile"))
    lithops("runtime", "delete", IMAGE, "-b", "k8s")
    assert IMAGE not in lithops("runtime", "list", "-b", "k8s")
    lithops("clean", "-b", "k8s")
