"""Lithops Google Cloud backends: ``gcp_storage``, ``gcp_functions`` and ``gcp_cloudrun``.

Backends are found by core through entry points; importing this package imports no Google SDK.
"""

__version__ = "4.0.0a1"
