"""The Storage OS API (``from lithops.storage.cloud_proxy import os, open``) on localhost storage."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from lithops.storage import Storage, cloud_proxy
from lithops.storage.cloud_proxy import CloudOS


@pytest.fixture
def cos(tmp_path: Path) -> CloudOS:
    storage = Storage(storage_config={"backend": "localhost",
                                      "localhost": {"storage_root": str(tmp_path / "root")}})
    return CloudOS(storage)


def test_default_storage_comes_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    config = tmp_path / "config.yaml"
    config.write_text(f"lithops:\n  storage: localhost\nlocalhost:\n  storage_root: {root}\n"
                      "  storage_bucket: proxied\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(config))
    monkeypatch.setattr(cloud_proxy.os, "_storage", None)
    with cloud_proxy.open("/hello.txt", "w") as handle:
        handle.write("hello from the proxy")
    with cloud_proxy.open("hello.txt") as handle:
        assert handle.read() == "hello from the proxy"
    assert cloud_proxy.os.storage.bucket == "proxied"
    assert (root / "proxied" / "hello.txt").read_text() == "hello from the proxy"


def test_text_and_binary_round_trips(cos: CloudOS) -> None:
    with cos.open("dir/text.txt", "w") as handle:
        handle.write("línea 1\n")
        handle.writelines(["línea 2\n", "línea 3\n"])
    with cos.open("dir/text.txt", "r") as handle:
        assert handle.readline() == "línea 1\n"
        assert list(handle) == ["línea 2\n", "línea 3\n"]
    with cos.open("dir/data.bin", "wb") as handle:
        handle.write(b"\x00\x01")
        handle.write(bytearray(b"\x02"))
    with cos.open("dir/data.bin", "rb") as handle:
        assert handle.read() == b"\x00\x01\x02"
    assert cos.storage.get_object(cos.bucket, "dir/text.txt") == "línea 1\nlínea 2\nlínea 3\n".encode()


def test_written_file_appears_only_when_closed(cos: CloudOS) -> None:
    handle = cos.open("pending.txt", "w")
    handle.write("not yet")
    assert not cos.path.exists("pending.txt")
    handle.close()
    assert cos.path.isfile("pending.txt")


def test_large_writes_spill_to_disk_and_upload(cos: CloudOS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloud_proxy, "SPOOL_LIMIT", 1024)
    with cos.open("large.bin", "wb") as handle:
        for _ in range(100):
            handle.write(b"z" * 1000)
    assert cos.path.getsize("large.bin") == 100_000


def test_append_and_exclusive_modes(cos: CloudOS) -> None:
    with cos.open("log.txt", "a") as handle:
        handle.write("one\n")
    with cos.open("log.txt", "a") as handle:
        handle.write("two\n")
    with cos.open("log.txt") as handle:
        assert handle.read() == "one\ntwo\n"
    with pytest.raises(FileExistsError):
        cos.open("log.txt", "x")
    with cos.open("new.txt", "x") as handle:
        handle.write("created")
    assert cos.open("new.txt").read() == "created"


def test_unsupported_modes_and_missing_files(cos: CloudOS) -> None:
    with pytest.raises(ValueError, match="Unsupported mode 'r\\+'"):
        cos.open("x.txt", "r+")
    with pytest.raises(FileNotFoundError) as info:
        cos.open("missing.txt")
    assert info.value.errno == errno.ENOENT and info.value.filename == "missing.txt"
    with pytest.raises(FileNotFoundError):
        cos.path.getsize("missing.txt")
    cos.remove("missing.txt")  # as in Lithops 3: nothing stored there, nothing to do
    assert not cos.path.exists("missing.txt")
    with pytest.raises(IsADirectoryError):
        cos.open("/", "w")


def _make_tree(cos: CloudOS) -> None:
    for name in ("top.txt", "a/one.txt", "a/two.txt", "a/b/three.txt", "a/b/c/four.txt", "z/five.txt"):
        with cos.open(name, "w") as handle:
            handle.write(name)


def test_listdir(cos: CloudOS) -> None:
    _make_tree(cos)
    assert cos.listdir() == ["a", "top.txt", "z"]
    assert cos.listdir("/") == ["a", "top.txt", "z"]
    assert cos.listdir("a") == ["b", "one.txt", "two.txt"]
    assert cos.listdir("a/") == ["b", "one.txt", "two.txt"]
    assert cos.listdir("/a/b") == ["c", "three.txt"]
    assert cos.listdir("a", suffix_dirs=True) == ["b/", "one.txt", "two.txt"]
    # Lithops 3: nothing stored under a path lists as [] (object stores have no directories).
    assert cos.listdir("nothing") == []
    assert cos.listdir("top.txt") == []


def test_path_queries(cos: CloudOS) -> None:
    _make_tree(cos)
    assert cos.path.isfile("a/one.txt") and not cos.path.isdir("a/one.txt")
    assert cos.path.isdir("a") and cos.path.isdir("a/b/") and not cos.path.isfile("a")
    assert cos.path.isdir("") and cos.path.isdir("/")
    assert cos.path.exists("a/b/c/four.txt") and cos.path.exists("a/b")
    assert not cos.path.exists("a/on") and not cos.path.exists("nothing")
    assert cos.path.getsize("a/b/c/four.txt") == len("a/b/c/four.txt")
    assert cos.path.join("a", "b") == "a/b" and cos.path.basename("a/b.txt") == "b.txt"


def test_walk(cos: CloudOS) -> None:
    _make_tree(cos)
    assert list(cos.walk("a")) == [
        ("a", ["b"], ["one.txt", "two.txt"]),
        ("a/b", ["c"], ["three.txt"]),
        ("a/b/c", [], ["four.txt"]),
    ]
    assert [entry[0] for entry in cos.walk("a", topdown=False)] == ["a/b/c", "a/b", "a"]
    top = list(cos.walk("/"))
    assert top[0] == ("/", ["a", "z"], ["top.txt"])
    assert len(top) == 5
    pruned = []
    for dirpath, dirnames, _ in cos.walk(""):
        pruned.append(dirpath)
        dirnames[:] = [name for name in dirnames if name != "a"]
    assert pruned == ["", "z"]
    errors: list[OSError] = []
    assert list(cos.walk("nothing", onerror=errors.append)) == []
    assert isinstance(errors[0], FileNotFoundError)


def test_remove_and_rename(cos: CloudOS) -> None:
    _make_tree(cos)
    cos.remove("a/one.txt")
    assert cos.listdir("a") == ["b", "two.txt"]
    cos.rename("a/two.txt", "moved/two.txt")
    assert not cos.path.exists("a/two.txt")
    assert cos.open("moved/two.txt").read() == "a/two.txt"


def test_makedirs_and_rmdir(cos: CloudOS) -> None:
    cos.makedirs("empty/dir")
    assert cos.path.isdir("empty/dir") and cos.path.isdir("empty")
    assert cos.listdir("empty") == ["dir"]
    assert cos.listdir("empty/dir") == []
    assert list(cos.walk("empty")) == [("empty", ["dir"], []), ("empty/dir", [], [])]
    with pytest.raises(FileExistsError):
        cos.makedirs("empty/dir")
    cos.makedirs("empty/dir", exist_ok=True)
    with cos.open("empty/dir/file.txt", "w") as handle:
        handle.write("x")
    with pytest.raises(OSError) as info:
        cos.rmdir("empty/dir")
    assert info.value.errno == errno.ENOTEMPTY
    cos.remove("empty/dir/file.txt")
    cos.rmdir("empty/dir")
    assert not cos.path.exists("empty/dir")
    with pytest.raises(FileNotFoundError):
        cos.rmdir("empty/dir")
    with cos.open("afile", "w") as handle:
        handle.write("x")
    with pytest.raises(FileExistsError):
        cos.makedirs("afile")


def test_lithops_3_import_names() -> None:
    from lithops.storage.cloud_proxy import open as cloud_open
    from lithops.storage.cloud_proxy import os as cloud_os

    assert callable(cloud_open)
    assert callable(cloud_os.listdir) and callable(cloud_os.path.exists)


def test_storage_urls_name_a_bucket_of_a_backend(cos: CloudOS) -> None:
    with cos.open("localhost://other-bucket/dir/file.txt", "w") as handle:
        handle.write("in another bucket")
    assert cos.storage.get_object("other-bucket", "dir/file.txt") == b"in another bucket"
    assert not cos.path.exists("dir/file.txt")  # not in the default bucket
    assert cos.path.isfile("localhost://other-bucket/dir/file.txt")
    assert cos.path.getsize("localhost://other-bucket/dir/file.txt") == 17
    assert cos.listdir("localhost://other-bucket/dir") == ["file.txt"]
    assert list(cos.walk("localhost://other-bucket/")) == [
        ("localhost://other-bucket", ["dir"], []), ("localhost://other-bucket/dir", [], ["file.txt"])]
    cos.rename("localhost://other-bucket/dir/file.txt", "moved.txt")
    assert cos.open("moved.txt").read() == "in another bucket"
    assert not cos.path.exists("localhost://other-bucket/dir/file.txt")


def test_storage_for_a_named_backend_reads_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Storage(backend=...) (what a scheme://bucket/key path creates) reads that backend's section.
    config = tmp_path / "config.yaml"
    config.write_text(f"localhost:\n  storage_root: {tmp_path / 'from-file'}\n")
    monkeypatch.setenv("LITHOPS_CONFIG_FILE", str(config))
    storage = Storage(backend="localhost")
    storage.put_object("bucket", "key", b"v")
    assert (tmp_path / "from-file" / "bucket" / "key").read_bytes() == b"v"
