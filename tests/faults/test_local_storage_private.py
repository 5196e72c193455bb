"""Cases 3 and 4: the localhost storage root is private and nothing resolves outside it."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lithops.errors import StorageError
from lithops.storage import Storage


def _storage(root: Path) -> Storage:
    return Storage(storage_config={"backend": "localhost", "localhost": {"storage_root": str(root)}})


def test_prefix_with_dotdot_does_not_walk_outside(tmp_path: Path) -> None:
    storage = _storage(tmp_path / "root")
    storage.put_object(storage.bucket, "a/b", b"x")
    for prefix in ("../../etc/", "../", "a/../../", "/etc/"):
        with pytest.raises(StorageError, match="Invalid prefix"):
            storage.list_keys(storage.bucket, prefix=prefix)
        with pytest.raises(StorageError, match="Invalid prefix"):
            storage.list_objects(storage.bucket, prefix=prefix)
    assert storage.list_keys(storage.bucket, prefix="a/") == ["a/b"]


def test_bucket_outside_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with pytest.raises(StorageError, match="Invalid bucket name"):
        Storage(storage_config={"backend": "localhost",
                                "localhost": {"storage_root": str(root), "storage_bucket": "../../x"}})
    storage = _storage(root)
    for bucket in ("..", "../x", "a/../../x"):
        with pytest.raises(StorageError, match="Invalid bucket name"):
            storage.create_bucket(bucket)
    assert not (tmp_path / "x").exists()


def test_symlinks_planted_in_a_bucket_are_not_followed(tmp_path: Path) -> None:
    storage = _storage(tmp_path / "root")
    bucket_dir = tmp_path / "root" / storage.bucket
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"secret")
    (bucket_dir / "link").symlink_to(secret)
    (bucket_dir / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    assert storage.list_keys(storage.bucket) == []
    with pytest.raises(StorageError, match="symlink|outside"):
        storage.get_object(storage.bucket, "link")
    with pytest.raises(StorageError, match="outside"):
        storage.get_object(storage.bucket, "dirlink/secret.txt")
    with pytest.raises(StorageError, match="outside"):
        storage.list_keys(storage.bucket, prefix="dirlink/")


def test_root_writable_by_others_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "open"
    root.mkdir()
    root.chmod(0o777)
    with pytest.raises(StorageError, match="chmod 700"):
        _storage(root)


def test_default_root_is_private(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    code = "from lithops.storage import Storage; print(Storage(storage_config={'backend': 'localhost'}).get_client())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    root = Path(out.stdout.strip())
    assert root.is_relative_to(tmp_path)
    for path in (root, root.parent):
        assert path.stat().st_mode & 0o777 == 0o700
        assert path.stat().st_uid == os.getuid()


@pytest.fixture(scope="module")
def other_user() -> str:
    """A second local user (created when the machine allows it: root with useradd)."""
    name = "lithopsfault"
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        pass
    if os.getuid() != 0 or shutil.which("useradd") is None or shutil.which("setpriv") is None:
        pytest.skip("a second Unix user needs root, useradd and setpriv; not available here")
    done = subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"useradd failed: {done.stderr.strip()}")
    return name


def test_default_root_taken_over_by_another_user_is_refused(tmp_path: Path, other_user: str) -> None:
    """Another user creates the predictable default root first, mode 0777: the victim refuses it."""
    import tempfile

    shared_tmp = Path(tempfile.mkdtemp(prefix="lithops-faults-shared-"))  # like /tmp: sticky, 1777
    shared_tmp.chmod(0o1777)
    try:
        _takeover(shared_tmp, other_user)
    finally:
        shutil.rmtree(shared_tmp)


def _takeover(shared_tmp: Path, other_user: str) -> None:
    victim_code = (
        "import getpass, os; from lithops.storage import Storage\n"
        "Storage(storage_config={'backend': 'localhost'})"
    )
    import getpass

    planted = shared_tmp / f"lithops-{getpass.getuser()}"
    # the attacker (another uid) plants the directory, world-writable
    subprocess.run(["setpriv", f"--reuid={other_user}", f"--regid={other_user}", "--clear-groups",
                    "mkdir", "-m", "0777", "-p", str(planted / "storage")], check=True, timeout=30)
    env = {**os.environ, "TMPDIR": str(shared_tmp)}
    out = subprocess.run([sys.executable, "-c", victim_code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "StorageError" in out.stderr and "not to you" in out.stderr, out.stderr
    assert planted.stat().st_uid != os.getuid()
