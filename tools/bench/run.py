"""Runs the lithops benchmarks: ``python tools/bench/run.py [--quick] [--self-check] ...``.

A script: ``tools/bench`` (its directory, first on ``sys.path``) holds the package ``lithops_bench``,
which the runner subprocesses import too; this calls ``lithops_bench.cli.main``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    cli = importlib.import_module("lithops_bench.cli")
    sys.exit(cli.main())
