"""``lithops.multiprocessing.config``, as Lithops 3.x programs import it: this module is
``lithops_multiprocessing.config`` itself (see :mod:`lithops.multiprocessing`, imported first,
which names the package to install when it is missing)."""

from __future__ import annotations

import sys

import lithops_multiprocessing.config as _implementation
from lithops_multiprocessing.config import *  # noqa: F403

# The same module object under both names, so its settings are one state.
sys.modules[__name__] = _implementation
