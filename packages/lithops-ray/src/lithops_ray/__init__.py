"""Lithops ray backend: calls run as Ray tasks on a local, remote or KubeRay cluster.

Ray is imported when the backend is created, never when this package is imported.
"""

__version__ = "4.0.0a1"
