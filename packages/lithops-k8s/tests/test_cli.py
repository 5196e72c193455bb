"""``lithops runtime build|deploy|list|delete`` and ``lithops clean`` with ``-b k8s``, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from k8s_cluster import Cluster
from lithops import __version__ as lithops_version

IMAGE = "registry.example.com/lithops/cli-test:2"


def test_runtime_commands(cluster: Cluster, tmp_path: Path) -> None:
    config = cluster.config(tmp_path / "storage", build_dir=str(tmp_path / "build"))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(json.dumps(config))  # YAML is a superset of JSON
    env = {**os.environ, "LITHOPS_CONFIG_FILE": str(config_file)}

    def lithops(*args: str, ok: bool = True, path: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "lithops.cli", *args], env={**env, "PATH": path or env["PATH"]},
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert (done.returncode == 0) == ok, (done.stdout, done.stderr)
        return done

    deployed = lithops("runtime", "deploy", IMAGE, "-b", "k8s").stdout
    assert IMAGE in deployed and f"lithops {lithops_version}" in deployed
    assert IMAGE in lithops("runtime", "list", "-b", "k8s").stdout
    build = lithops("runtime", "build", IMAGE, "-b", "k8s", ok=False, path=str(tmp_path / "no-docker"))
    assert f"docker push {IMAGE}" in build.stdout + build.stderr
    assert list((tmp_path / "build").glob("*/Dockerfile"))
    lithops("runtime", "delete", IMAGE, "-b", "k8s")
    assert IMAGE not in lithops("runtime", "list", "-b", "k8s").stdout
    lithops("clean", "-b", "k8s")
