"""The bucket a storage backend keeps lithops' own data in: named once, created once when missing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DefaultBucket"]

logger = logging.getLogger(__name__)


@dataclass
class DefaultBucket:
    """A storage backend's ``default_bucket``: the configured ``storage_bucket``, or a name the
    backend makes (``lithops-<region>-<id>``), created when missing.

    The name is made and the bucket checked at the first :attr:`name`, once per backend whatever
    the number of threads asking; later calls cost nothing. A backend keeps one from its
    ``__init__`` and answers ``default_bucket`` with it::

        self._bucket = DefaultBucket(config.get("storage_bucket"), self._generated_name,
                                     self._bucket_exists, self.create_bucket, self._errors)

        @property
        def default_bucket(self) -> str:
            return self._bucket.name

    Args:
        configured: the section's ``storage_bucket``, or ``None``.
        generate: makes the name when none is configured (called at most once; may raise a
            :class:`lithops.errors.StorageError` saying what to configure).
        exists: whether a bucket of that name exists.
        create: creates a bucket of that name.
        errors: turns the SDK's errors about a bucket into lithops' (``errors(bucket)`` is a
            context manager around the existence check).
        check_configured: also check (and create) a configured bucket; by default a configured
            bucket is used as is.
        kind: what the provider calls a bucket, for the log (``"container"``).
    """

    configured: str | None
    generate: Callable[[], str] = field(repr=False)
    exists: Callable[[str], bool] = field(repr=False)
    create: Callable[[str], None] = field(repr=False)
    errors: Callable[[str], AbstractContextManager[Any]] = field(repr=False)
    check_configured: bool = field(default=False, kw_only=True)
    kind: str = field(default="bucket", kw_only=True)

    def __post_init__(self) -> None:
        self._name: str | None = self.configured
        self._ready = self.configured is not None and not self.check_configured
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The bucket's name; it exists once this returns."""
        if self._ready and self._name is not None:
            return self._name
        with self._lock:
            if self._name is None:
                self._name = self.generate()
            if not self._ready:
                with self.errors(self._name):
                    exists = self.exists(self._name)
                if not exists:
                    logger.info("Creating %s %r for lithops' data", self.kind, self._name)
                    self.create(self._name)
                self._ready = True
            return self._name
