"""Lithops k8s backend: each lithops job runs as one Kubernetes Indexed Job on any cluster.

The ``kubernetes`` client is imported when the backend is created, never when this package is imported.
"""

__version__ = "4.0.0a1"
