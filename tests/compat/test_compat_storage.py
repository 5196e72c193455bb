"""``Storage`` and the Storage OS API as Lithops 3 programs use them."""

from __future__ import annotations

import inspect

import lithops
import pytest
from lithops.storage.cloud_proxy import open as cloud_open
from lithops.storage.cloud_proxy import os as cloud_os
from lithops.storage.utils import CloudObject, StorageNoSuchKeyError


def test_storage_signatures() -> None:
    assert list(inspect.signature(lithops.Storage).parameters)[:3] == ["config", "backend", "storage_config"]
    get_object = inspect.signature(lithops.Storage.get_object).parameters
    assert list(get_object)[1:5] == ["bucket", "key", "stream", "extra_get_args"]
    list_objects = inspect.signature(lithops.Storage.list_objects).parameters
    assert list(list_objects)[1:4] == ["bucket", "prefix", "match_pattern"]


def test_object_round_trip_and_missing_key() -> None:
    storage = lithops.Storage()
    bucket = storage.bucket
    storage.put_object(bucket, "compat/a.txt", b"0123456789")
    assert storage.get_object(bucket, "compat/a.txt") == b"0123456789"
    assert storage.get_object(bucket, "compat/a.txt", extra_get_args={"Range": "bytes=2-4"}) == b"234"
    assert storage.get_object(bucket, "compat/a.txt", stream=True).read() == b"0123456789"
    assert "compat/a.txt" in storage.list_keys(bucket, prefix="compat/")
    assert int(storage.head_object(bucket, "compat/a.txt")["content-length"]) == 10
    storage.delete_object(bucket, "compat/a.txt")
    with pytest.raises(StorageNoSuchKeyError):
        storage.get_object(bucket, "compat/a.txt")


def test_cloudobjects() -> None:
    storage = lithops.Storage()
    cobj = storage.put_cloudobject(b"payload")
    assert isinstance(cobj, CloudObject)
    assert storage.get_cloudobject(cobj) == b"payload"
    storage.delete_cloudobject(cobj)


def test_listdir_of_an_emptied_directory_is_empty() -> None:
    with cloud_open("compat-os/dir/only.txt", "w") as handle:
        handle.write("x")
    assert cloud_os.listdir("compat-os/dir") == ["only.txt"]
    cloud_os.remove("compat-os/dir/only.txt")
    assert cloud_os.listdir("compat-os/dir") == []  # object stores have no directories
    assert cloud_os.listdir("compat-os/never-written") == []
    assert not cloud_os.path.exists("compat-os/dir/only.txt")
