"""Lithops IBM Cloud backends: ``ibm_cos`` storage and ``code_engine`` compute.

Backends are found by core through entry points; importing this package imports no IBM SDK.
"""

__version__ = "4.0.0a1"
