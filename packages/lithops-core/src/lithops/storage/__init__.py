"""The Storage API (``Storage``) and, in :mod:`lithops.storage.cloud_proxy`, the Storage OS API."""

from lithops.storage.api import Storage
from lithops.storage.cloud_object import CloudObject

__all__ = ["CloudObject", "Storage"]
