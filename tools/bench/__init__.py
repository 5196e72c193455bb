"""Benchmark harness for lithops: workloads run against several targets, ratios in one run.

Run it with ``python tools/bench/run.py`` (see ``README.md``). The package is imported as ``bench``
(``tools/`` goes on ``sys.path``), both by the orchestrator and by the runner that executes inside
each target's interpreter, so every module here imports only the standard library at import time.
"""
