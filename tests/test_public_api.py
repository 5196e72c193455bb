"""The public API snapshot: names and signatures of lithops' public surface (``lithops.__all__``,
``FunctionExecutor``, ``Storage``, ``ResponseFuture``, ``FuturesList``, ``lithops.spi``,
``lithops.worker``, ``lithops.runtimes``, ``lithops.errors``). A change that is not in
``tests/public_api.txt`` fails here: an accident, or a change to commit together with the
regenerated snapshot (``python tools/api_snapshot.py > tests/public_api.txt``) and a note on why
users would accept it (DESIGN section 2)."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_public_api_is_the_snapshot() -> None:
    current = subprocess.run([sys.executable, str(ROOT / "tools" / "api_snapshot.py")], capture_output=True,
                             text=True, check=True, timeout=300).stdout.splitlines()
    expected = (ROOT / "tests" / "public_api.txt").read_text().splitlines()
    diff = "\n".join(difflib.unified_diff(expected, current, "tests/public_api.txt", "the installed lithops",
                                          lineterm=""))
    assert current == expected, (
        f"The public API changed:\n{diff}\nIf the change is intended, regenerate the snapshot with"
        " `python tools/api_snapshot.py > tests/public_api.txt` and commit it with the change."
    )
