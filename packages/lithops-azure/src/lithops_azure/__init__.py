"""Lithops Azure backends: ``azure_storage`` (Blob), ``azure_functions`` and ``azure_containers``.

Backends are found by core through entry points; importing this package imports no Azure SDK.
"""

__version__ = "4.0.0a1"
