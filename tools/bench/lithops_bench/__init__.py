"""Benchmark harness for lithops: workloads run against several targets, ratios in one run.

Run it with ``python tools/bench/run.py`` (see ``tools/bench/README.md``). ``tools/bench`` goes on
``sys.path``, both for the orchestrator and for the runner that executes inside each target's
interpreter (maybe another venv), so every module here imports only the standard library at import
time. The package holds only code: the venvs and results beside it (``tools/bench/.venvs``,
``tools/bench/results``) stay out of what a lithops client ships with the functions.
"""
