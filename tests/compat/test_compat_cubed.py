"""A library built on Lithops 3 passes its own Lithops tests here, unchanged.

Cubed (an array library) drives Lithops as its distributed executor: its ``map_unordered`` uses
``RetryingFunctionExecutor(LocalhostExecutor())``, ``wait(return_when=ALWAYS|ANY_COMPLETED)``,
retries, backup tasks for stragglers (``RetryingFuture.cancel``), ``future.input`` and the
stats keys. Its test module ``cubed.tests.runtime.test_lithops`` checks results and the exact
number of invocations of each input (retries and backups included), with injected failures,
timeouts and a 60 s straggler. It runs as Cubed's own CI runs it (``-W error::UserWarning``, from
Cubed's pytest configuration), in a subprocess, against the lithops installed here; the only
thing this test sets is the Lithops configuration file (localhost, storage in a temporary folder).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lithops_testkit.emulators import skip_or_fail

# Cubed's test module takes about a minute on an idle 2-core machine (its tests sleep: a 10 s
# call timeout twice, injected failures, a straggler); several under load.
DEADLINE_S = 900


@pytest.mark.timeout(DEADLINE_S + 60)
@pytest.mark.skipif(sys.version_info < (3, 11), reason="Cubed needs Python 3.11 or newer")
def test_cubed_lithops_tests_pass(tmp_path: Path) -> None:
    try:
        import cubed  # noqa: F401
        import obstore  # noqa: F401  (Cubed's test helpers count invocations with it)
    except ImportError as exc:
        skip_or_fail(f"Cubed's tests need {exc.name}: install the root pyproject's 'cross' group")
    config = tmp_path / "lithops_config.yaml"
    config.write_text(
        "lithops:\n  backend: localhost\n  storage: localhost\n"
        f"localhost:\n  storage_root: {tmp_path / 'storage'}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LITHOPS_"))}
    env["LITHOPS_CONFIG_FILE"] = str(config)
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "cubed.tests.runtime.test_lithops",
        "-W", "error::UserWarning",  # Cubed's own pytest configuration
        "-p", "no:cacheprovider", "-p", "no:kmock", "-q", "-rfE", f"--basetemp={tmp_path / 'pytest'}",
    ]
    # From a folder without a pytest configuration, so that ours does not apply to Cubed's tests.
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=DEADLINE_S)
    report = (run.stdout + run.stderr)[-6000:]
    assert run.returncode == 0, f"Cubed's Lithops tests failed:\n{report}"
    summary = run.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    # Cubed 0.27 has 11 (retries, failures, backups, a straggler); none may be skipped.
    assert passed and int(passed.group(1)) >= 11 and "skipped" not in summary, report
