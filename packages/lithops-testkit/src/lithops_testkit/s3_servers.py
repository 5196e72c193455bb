"""Local S3 servers: moto and SeaweedFS. Kept for existing imports; the modules are
:mod:`lithops_testkit.emulators.moto` and :mod:`lithops_testkit.emulators.seaweedfs`."""

from __future__ import annotations

from lithops_testkit.emulators import EmulatorUnavailable, free_port
from lithops_testkit.emulators.moto import S3Server, moto_s3_server
from lithops_testkit.emulators.seaweedfs import seaweedfs_server, weed_binary

#: The old name of :class:`~lithops_testkit.emulators.EmulatorUnavailable`.
S3ServerUnavailable = EmulatorUnavailable

__all__ = ["S3Server", "S3ServerUnavailable", "free_port", "moto_s3_server", "seaweedfs_server", "weed_binary"]
