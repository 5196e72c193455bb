"""Names Lithops 3.x programs import from ``lithops.utils``."""

from lithops.futures_list import FuturesList

__all__ = ["FuturesList"]
