"""The shared runtime helper (``lithops.runtimes``): archives, runtime records, container builds."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from lithops.errors import RuntimeBuildError, RuntimeMismatchError
from lithops.runtimes import (
    RegistryLogin,
    RuntimeMeta,
    RuntimeStore,
    build_image,
    client_python_version,
    client_requirements,
    core_version,
    dependencies_archive,
    find_docker_engine,
    lithops_archive,
    requirements_archive,
    runtime_distributions,
    update_command,
    write_build_context,
)
from lithops.spi import runtime_meta_key
from lithops.storage import Storage


def _names(content: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return archive.namelist()


# archives

def test_lithops_archive_is_deterministic_and_complete() -> None:
    first, second = lithops_archive("lithops-localhost"), lithops_archive("lithops-localhost")
    assert first.content == second.content and first.sha256 == second.sha256
    names = _names(first.content)
    assert "lithops/__init__.py" in names and "lithops/worker/handler.py" in names
    assert "lithops_localhost/compute.py" in names
    version = metadata.version("lithops-localhost")
    assert f"lithops_localhost-{version}.dist-info/entry_points.txt" in names
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    optional = [f"{name}=={metadata.version(name)}" for name in runtime_distributions() if name != "lithops-core"]
    assert first.packages == tuple(sorted([f"lithops-core=={core_version()}", f"lithops-localhost=={version}",
                                           *optional]))
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_lithops_archive_runs_from_where_it_is_unpacked(tmp_path: Path) -> None:
    """Unpacked and put first on sys.path, the archive is the lithops that runs, entry points included."""
    lithops_archive("lithops-localhost").extract(tmp_path / "code")
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import lithops, lithops_localhost; from importlib import metadata as m;"
        "print(lithops.__file__); print(lithops_localhost.__file__);"
        "print(sorted(e.value for e in m.entry_points(group='lithops.compute_backends', name='localhost')))"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "code")], capture_output=True,
                         text=True, check=True, timeout=120).stdout.splitlines()
    assert out[0].startswith(str(tmp_path / "code")) and out[1].startswith(str(tmp_path / "code"))
    assert "lithops_localhost.compute:LocalhostBackend" in out[2]


def test_an_installed_lithops_multiprocessing_travels_with_every_runtime(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Processes of lithops.multiprocessing unpickle its objects on the workers: when the client has
    the package, runtimes hold it and its dependencies (here a stand-in distribution needing pytest)."""
    site = tmp_path / "site"
    (site / "lithops_multiprocessing").mkdir(parents=True)
    (site / "lithops_multiprocessing" / "__init__.py").write_text("MARK = 'stand-in'\n")
    dist_info = site / f"lithops_multiprocessing-{core_version()}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: lithops-multiprocessing\n"
                                        f"Version: {core_version()}\nRequires-Dist: pytest\n")
    (dist_info / "top_level.txt").write_text("lithops_multiprocessing\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "lithops_multiprocessing", raising=False)
    assert runtime_distributions("lithops-localhost") == ("lithops-core", "lithops-localhost",
                                                          "lithops-multiprocessing")
    archive = lithops_archive("lithops-localhost")
    assert f"lithops-multiprocessing=={core_version()}" in archive.packages
    assert "lithops_multiprocessing/__init__.py" in _names(archive.content)
    assert f"pytest=={metadata.version('pytest')}" in client_requirements("lithops-localhost")


def test_lithops_archive_names_a_missing_distribution() -> None:
    with pytest.raises(RuntimeBuildError, match="lithops-nosuch is not installed.*pip install lithops-nosuch"):
        lithops_archive("lithops-nosuch")


def test_dependencies_archive_holds_lithops_dependencies_without_compiled_files() -> None:
    deps = dependencies_archive("lithops-localhost")
    names = _names(deps.content)
    assert "python/cloudpickle/__init__.py" in names and "python/yaml/__init__.py" in names
    assert not [n for n in names if n.startswith("python/lithops/") or n.endswith((".so", ".pyc"))]
    assert f"cloudpickle=={metadata.version('cloudpickle')}" in deps.packages
    assert dependencies_archive("lithops-localhost").sha256 == deps.sha256


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel, so that pip installs without any index."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}/__init__.py", f"VALUE = {version!r}\n")
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


def test_requirements_archive_installs_for_the_given_platform(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "tinydep", "1.2")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tinydep==1.2\n")
    index = ["--no-index", "--find-links", str(wheels)]
    archive = requirements_archive(requirements, python_version=client_python_version(),
                                   platforms=["manylinux2014_x86_64"], extra_args=index)
    assert "python/tinydep/__init__.py" in _names(archive.content)
    assert archive.packages == ("tinydep==1.2",)
    requirements.write_text("tinydep==9.9\n")
    with pytest.raises(RuntimeBuildError, match=r"(?s)pip could not install .*requirement tinydep==9.9"):
        requirements_archive(requirements, python_version=client_python_version(),
                             platforms="manylinux2014_x86_64", extra_args=index)
    with pytest.raises(RuntimeBuildError, match="does not exist"):
        requirements_archive(tmp_path / "nope.txt", python_version="3.11", platforms="any")


# runtime records

@pytest.fixture()
def store(tmp_path: Path) -> RuntimeStore:
    storage = Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(tmp_path)}})
    return RuntimeStore(storage.storage_backend, storage.bucket, "fake_faas")


def _deployer(calls: list[str], **fields: Any) -> Any:
    def deploy() -> RuntimeMeta:
        calls.append("deploy")
        return RuntimeMeta(backend="fake_faas", runtime_name="default", runtime_key="r1", runtime_memory=256,
                           details={"function": "f1"}, **fields)
    return deploy


def test_resolve_deploys_once_across_threads(store: RuntimeStore) -> None:
    calls: list[str] = []
    deploy = _deployer(calls)
    fix = update_command("fake_faas", "default", "localhost")
    results: list[RuntimeMeta] = []
    threads = [threading.Thread(target=lambda: results.append(store.resolve("r1", deploy, fix, content_sha256="aa")))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert calls == ["deploy"] and len(results) == 8
    record = json.loads(store.storage.get_object(store.bucket, runtime_meta_key("fake_faas", "r1")))
    assert record["content_sha256"] == "aa" and record["lithops_version"] == core_version()
    assert record["details"] == {"function": "f1"}
    # Another client (a new store) finds it deployed with the same content: no deployment.
    again = RuntimeStore(store.storage, store.bucket, "fake_faas")
    assert again.resolve("r1", deploy, fix, content_sha256="aa").details == {"function": "f1"}
    assert calls == ["deploy"]
    # The client's content changed (same versions: a development install): deployed again.
    third = RuntimeStore(store.storage, store.bucket, "fake_faas")
    third.resolve("r1", deploy, fix, content_sha256="bb")
    assert calls == ["deploy", "deploy"]
    assert [m.runtime_key for m in third.list()] == ["r1"]


def test_resolve_refuses_a_runtime_of_another_version_with_the_fix(store: RuntimeStore) -> None:
    store.save(RuntimeMeta(backend="fake_faas", runtime_name="mine", runtime_key="r2", lithops_version="0.0.1",
                           python_version="2.7"))
    calls: list[str] = []
    fix = update_command("fake_faas", "mine", "localhost")
    assert fix == "lithops runtime update mine -b fake_faas -s localhost"
    for _ in range(2):  # remembered: the second refusal reads nothing; never replaced behind users
        with pytest.raises(RuntimeMismatchError) as info:
            store.resolve("r2", _deployer(calls), fix, content_sha256="cc")
        message = str(info.value)
        assert "lithops 0.0.1" in message and f"this client runs lithops {core_version()}" in message
        assert "Python 2.7" in message and message.endswith(f"Update it with: {fix}")
        store.storage.delete_object(store.bucket, store.key("r2"))  # the refusal is remembered
    assert calls == [] and store.load("r2") is None
    store.delete("r2")  # what delete_runtime does: forgets the refusal too
    assert store.resolve("r2", _deployer(calls), fix).runtime_key == "r1" and calls == ["deploy"]


def test_runtime_meta_reads_flat_records_of_older_clients() -> None:
    meta = RuntimeMeta.from_json({"runtime_name": "default", "runtime_memory": 256, "function_name": "f",
                                  "python_version": "3.11", "lithops_version": "1.0"})
    assert meta.details == {"function_name": "f"} and meta.runtime_memory == 256
    assert RuntimeMeta.from_json(meta.to_json()) == meta


# containers

def test_build_context_from_the_clients_packages(tmp_path: Path) -> None:
    user = tmp_path / "user-requirements.txt"
    user.write_text("numpy==2.0.0\n")
    dockerfile = write_build_context(tmp_path / "ctx", "python:3.11-slim", ["lithops-localhost"],
                                     requirements=user, command=["python", "-m", "lithops.worker", "run-job"],
                                     env={"EXTRA": "1"})
    text = dockerfile.read_text()
    assert text.splitlines()[1] == "FROM python:3.11-slim"
    assert 'LITHOPS_WORKER="1"' in text and 'PYTHONPATH="/opt/lithops"' in text and 'EXTRA="1"' in text
    assert text.rstrip().endswith('CMD ["python", "-m", "lithops.worker", "run-job"]')
    requirements = (tmp_path / "ctx" / "requirements.txt").read_text().splitlines()
    assert f"cloudpickle=={metadata.version('cloudpickle')}" in requirements and "numpy==2.0.0" in requirements
    assert not [r for r in requirements if r.lower().startswith("lithops")]
    assert (tmp_path / "ctx" / "lithops" / "lithops" / "worker" / "__main__.py").is_file()
    assert (tmp_path / "ctx" / "lithops" / "lithops_localhost" / "compute.py").is_file()


def _fake_docker(folder: Path, engine: bool) -> Path:
    """A docker command line that records its calls; ``engine=False`` answers like a client
    without a daemon."""
    script = folder / "docker"
    log = folder / "docker.log"
    info = ('echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1'
            if not engine else "echo 27.0.1; exit 0")
    script.write_text(f"""#!/bin/sh
if [ "$1" = info ]; then {info}; fi
echo "$@" >> {log}
if [ "$1" = login ]; then read password; echo "stdin=$password" >> {log}; fi
exit 0
""")
    script.chmod(0o755)
    return script


def test_build_image_without_an_engine_says_what_to_run(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\n")
    docker = _fake_docker(tmp_path, engine=False)
    with pytest.raises(RuntimeBuildError, match="no Docker engine answers") as info:
        build_image(dockerfile, "registry.example/lithops/rt:1", platform="linux/amd64", docker=str(docker),
                    hint="use a zip runtime.")
    assert str(info.value).endswith("Or use a zip runtime.")
    assert (f"docker build --platform linux/amd64 -t registry.example/lithops/rt:1 -f {dockerfile} {tmp_path}"
            f" && docker push registry.example/lithops/rt:1") in str(info.value)
    assert not (tmp_path / "docker.log").exists()
    with pytest.raises(RuntimeBuildError, match="could not run"):
        build_image(dockerfile, "x:1", docker=str(tmp_path / "missing-docker"))


def test_build_image_builds_logs_in_by_stdin_and_pushes(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\n")
    docker = _fake_docker(tmp_path, engine=True)
    assert find_docker_engine(str(docker)) == str(docker)
    login = RegistryLogin("registry.example", "AWS", "s3cr3t-token")
    assert "s3cr3t" not in repr(login)
    image = build_image(dockerfile, "registry.example/rt:2", login=login, docker=str(docker))
    assert image == "registry.example/rt:2"
    lines = (tmp_path / "docker.log").read_text().splitlines()
    assert lines == [f"build -t registry.example/rt:2 -f {dockerfile} {tmp_path}",
                     "login --username AWS --password-stdin registry.example", "stdin=s3cr3t-token",
                     "push registry.example/rt:2"]
