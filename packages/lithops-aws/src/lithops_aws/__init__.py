"""Lithops AWS backends: ``aws_s3`` storage and the S3-compatible ``minio`` and ``ceph`` ids.

Backends are found by core through entry points; importing this package imports no AWS SDK.
"""

__version__ = "4.0.0a1"
