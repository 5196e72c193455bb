"""Runs the lithops benchmarks: ``python tools/bench/run.py [--quick] [--self-check] ...``.

A script, not a module: it puts ``tools/`` on ``sys.path`` and imports this directory as the
package ``bench`` (the name the runner subprocesses use too), then calls ``bench.cli.main``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    cli = importlib.import_module("bench.cli")
    sys.exit(cli.main())
