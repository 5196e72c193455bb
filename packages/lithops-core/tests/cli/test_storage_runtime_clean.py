"""``lithops storage``, ``lithops runtime`` and ``lithops clean`` on localhost storage."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from lithops import _keys as keys
from lithops.storage import Storage


def _storage(tmp_path: Path) -> Storage:
    return Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(tmp_path / "storage")}})


def test_storage_put_list_get_delete(cli: Callable[..., Result], tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    result = cli("storage", "put", str(source), "mybucket", "-k", "input/data.csv")
    assert result.exit_code == 0
    assert result.output == f"Uploaded {source} (8 B) to localhost://mybucket/input/data.csv\n"
    assert _storage(tmp_path).get_object("mybucket", "input/data.csv") == b"a,b\n1,2\n"

    cli("storage", "put", str(source), "mybucket")
    listing = cli("storage", "list", "mybucket").output.splitlines()
    assert listing[0].split() == ["KEY", "SIZE", "LAST", "MODIFIED"]
    assert [line.split()[0] for line in listing[1:3]] == ["data.csv", "input/data.csv"]
    assert listing[-1] == "2 objects, 16 B in localhost://mybucket/"
    assert cli("storage", "list", "mybucket", "-p", "input/").output.splitlines()[-1] == (
        "1 objects, 8 B in localhost://mybucket/input/")

    result = cli("storage", "get", "mybucket", "input/data.csv", "-o", str(tmp_path / "copy.csv"))
    assert result.exit_code == 0
    assert (tmp_path / "copy.csv").read_bytes() == b"a,b\n1,2\n"

    assert cli("storage", "delete", "mybucket", "input/data.csv").output == (
        "Deleted localhost://mybucket/input/data.csv\n")
    assert cli("storage", "empty", "mybucket").output == "Deleted 1 objects from localhost://mybucket\n"
    assert _storage(tmp_path).list_keys("mybucket") == []


def test_storage_errors_are_one_line(cli: Callable[..., Result]) -> None:
    result = cli("storage", "get", "mybucket", "missing.txt")
    assert result.exit_code == 1
    assert result.output == "Error: No such bucket: 'mybucket'. Create it (Storage().create_bucket) or fix the bucket name\n"
    result = cli("storage", "delete", "mybucket")
    assert result.exit_code == 2
    assert "Give either a KEY or --prefix PREFIX" in result.output


def test_storage_delete_prefix(cli: Callable[..., Result], tmp_path: Path) -> None:
    store = _storage(tmp_path)
    for name in ("logs/1", "logs/2", "keep"):
        store.put_object("b1", name, b"x")
    assert cli("storage", "delete", "b1", "-p", "logs/").output == "Deleted 2 objects under localhost://b1/logs/\n"
    assert store.list_keys("b1") == ["keep"]


def test_storage_roundtrip_in_a_real_process(run: Callable[..., subprocess.CompletedProcess[str]],
                                            tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hello from a file\n")
    assert run("storage", "put", "hello.txt", "bkt").returncode == 0
    result = run("storage", "get", "bkt", "hello.txt", "-o", "-")
    assert result.returncode == 0
    assert result.stdout == "hello from a file\n"


def test_runtime_list_deploy_update_delete(cli: Callable[..., Result], tmp_path: Path) -> None:
    listing = cli("runtime", "list").output.splitlines()
    assert listing[0].split() == ["RUNTIME", "MEMORY", "(MiB)", "VERSION"]
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert listing[1].split() == [sys.executable, "-", python]

    result = cli("runtime", "deploy")
    assert result.exit_code == 0
    assert result.output.startswith(f"Runtime {sys.executable!r} deployed on backend 'localhost' (python {python},")
    store = _storage(tmp_path)
    (meta_key,) = store.list_keys(store.bucket, keys.RUNTIMES_PREFIX + "/")
    assert json.loads(store.get_object(store.bucket, meta_key))["python_version"] == python  # type: ignore[arg-type]

    assert cli("runtime", "update").output == f"Runtime {sys.executable!r} updated on backend 'localhost'\n"
    assert cli("runtime", "delete", sys.executable).output == f"Runtime {sys.executable!r} deleted from backend 'localhost'\n"
    assert store.list_keys(store.bucket, keys.RUNTIMES_PREFIX + "/") == []


def test_runtime_build_explains_why_not(cli: Callable[..., Result]) -> None:
    result = cli("runtime", "build", "myimage")
    assert result.exit_code == 1
    assert result.output.startswith("Error: The localhost backend runs an existing Python interpreter")


def test_clean_deletes_temporary_data_only(cli: Callable[..., Result], tmp_path: Path) -> None:
    store = _storage(tmp_path)
    temporary = ["lithops.jobs/e1-M000/00000/status.json", "lithops.jobs/e1/abc.func.pickle",
                 "lithops.cloudobjects/0123"]
    for key in [*temporary, "lithops.runtimes/localhost/x.meta.json", "user/data.csv"]:
        store.put_object(store.bucket, key, b"x")

    dry = cli("clean", "--dry-run")
    assert dry.exit_code == 0
    assert "Would delete 2 objects under lithops.jobs/ in bucket 'storage' of storage 'localhost'" in dry.output
    assert len(store.list_keys(store.bucket)) == 5

    result = cli("clean")
    assert result.exit_code == 0
    assert "Deleted 1 objects under lithops.cloudobjects/" in result.output
    assert result.output.splitlines()[-1] == "Cleaned compute backend 'localhost' (3 objects deleted)"
    assert store.list_keys(store.bucket) == ["lithops.runtimes/localhost/x.meta.json", "user/data.csv"]

    result = cli("clean", "--all")
    assert "Deleted 1 objects under lithops.runtimes/" in result.output
    assert store.list_keys(store.bucket) == ["user/data.csv"]


def test_clean_in_a_real_process_with_nothing_to_clean(run: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    result = run("clean")
    assert result.returncode == 0, result.stderr
    assert "Deleted 0 objects under lithops.jobs/" in result.stdout
