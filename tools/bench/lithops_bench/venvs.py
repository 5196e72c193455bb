"""Virtualenvs for the baseline targets, under ``tools/bench/.venvs/`` (gitignored).

A venv is reused while the requirements it was built with are unchanged; ``--rebuild-venvs``
builds it again. It is created from the interpreter running the bench, so every target runs the
same Python.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .api import BenchError

logger = logging.getLogger(__name__)

VENVS_DIR = Path(__file__).resolve().parent.parent / ".venvs"
_MARKER = "bench-requirements.txt"


def venv_python(name: str) -> Path:
    """Where the interpreter of venv ``name`` is (not resolved: the symlink *is* the venv)."""
    return VENVS_DIR / name / "bin" / "python"


def ensure_venv(name: str, requirements: Sequence[str], rebuild: bool = False) -> Path:
    """Returns the interpreter of venv ``name``, creating it and installing ``requirements`` if needed.

    Raises:
        BenchError: the venv could not be created or the requirements not installed; the message
            ends with pip's output.
    """
    root = VENVS_DIR / name
    marker = root / _MARKER
    wanted = "\n".join(requirements) + "\n"
    python = venv_python(name)
    if not rebuild and python.exists() and marker.exists() and marker.read_text() == wanted:
        return python

    logger.info("building venv %s with %s (once; reused afterwards)", root, " ".join(requirements))
    _run([sys.executable, "-m", "venv", "--clear", str(root)], f"creating venv {root}")
    _run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *requirements],
        f"installing {' '.join(requirements)} into {root}",
    )
    marker.write_text(wanted)
    return python


def _run(command: list[str], what: str) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-3000:]
        raise BenchError(f"{what} failed (exit {proc.returncode}):\n{output}")
