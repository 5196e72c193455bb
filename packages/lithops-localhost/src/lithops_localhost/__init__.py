"""Lithops localhost backends: local worker processes and filesystem storage."""

__version__ = "4.0.0a1"
