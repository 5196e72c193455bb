"""Conformance suites for lithops backends."""

__version__ = "4.0.0a1"
