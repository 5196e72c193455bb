"""References to objects in storage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CloudObject:
    """A reference to an object in a storage backend (``backend://bucket/key``)."""

    backend: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"<CloudObject at {self.backend}://{self.bucket}/{self.key}>"
