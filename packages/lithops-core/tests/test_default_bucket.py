"""lithops.spi.DefaultBucket: the default bucket of a storage backend is named and created once."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from lithops.errors import StorageError
from lithops.spi import DefaultBucket


class _Store:
    """Buckets in memory, counting the calls the helper makes."""

    def __init__(self, *existing: str) -> None:
        self.buckets = set(existing)
        self.generated = 0
        self.checks: list[str] = []
        self.created: list[str] = []
        self.guarded: list[str] = []

    def generate(self) -> str:
        self.generated += 1
        return "lithops-here-0123"

    def exists(self, bucket: str) -> bool:
        self.checks.append(bucket)
        return bucket in self.buckets

    def create(self, bucket: str) -> None:
        self.created.append(bucket)
        self.buckets.add(bucket)

    @contextlib.contextmanager
    def errors(self, bucket: str) -> Iterator[None]:
        self.guarded.append(bucket)
        try:
            yield
        except KeyError as exc:
            raise StorageError(f"bucket {bucket}: {exc}") from None

    def bucket(self, configured: str | None, **options: bool) -> DefaultBucket:
        return DefaultBucket(configured, self.generate, self.exists, self.create, self.errors, **options)


def test_a_generated_bucket_is_created_once_whatever_the_threads() -> None:
    store = _Store()
    bucket = store.bucket(None)
    names: list[str] = []
    threads = [threading.Thread(target=lambda: names.append(bucket.name)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert names == ["lithops-here-0123"] * 8
    assert (store.generated, store.checks, store.created) == (1, ["lithops-here-0123"], ["lithops-here-0123"])
    assert store.guarded == ["lithops-here-0123"]


def test_an_existing_generated_bucket_is_not_created() -> None:
    store = _Store("lithops-here-0123")
    assert store.bucket(None).name == "lithops-here-0123"
    assert store.created == []


def test_a_configured_bucket_is_used_as_is_unless_asked() -> None:
    store = _Store()
    assert store.bucket("mine").name == "mine"
    assert (store.generated, store.checks, store.created) == (0, [], [])
    checked = store.bucket("mine", check_configured=True)
    assert checked.name == "mine" and checked.name == "mine"
    assert (store.generated, store.checks, store.created) == (0, ["mine"], ["mine"])


def test_errors_of_the_check_go_through_the_backend_s_translation() -> None:
    store = _Store()

    def broken(bucket: str) -> bool:
        raise KeyError("denied")

    bucket = DefaultBucket(None, store.generate, broken, store.create, store.errors)
    with pytest.raises(StorageError, match="bucket lithops-here-0123: 'denied'"):
        _ = bucket.name
    assert store.created == []
