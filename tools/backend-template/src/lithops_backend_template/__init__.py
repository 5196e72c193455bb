"""A template lithops backend package: a FaaS-style compute backend and an in-memory storage."""

__version__ = "0.1.0"
