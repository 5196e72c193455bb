"""Names Lithops 3.x programs import from ``lithops.storage.utils``."""

from lithops.errors import StorageNoSuchBucketError, StorageNoSuchKeyError
from lithops.storage.cloud_object import CloudObject

__all__ = ["CloudObject", "StorageNoSuchBucketError", "StorageNoSuchKeyError"]
