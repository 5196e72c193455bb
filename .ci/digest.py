"""Print, from a nox log, what each failed session printed about its failures.

For pytest sessions: the "short test summary info" lines and the first lines of each failure's
report; for other sessions, the last lines before "Session ... failed". Used by .ci/run.
"""

from __future__ import annotations

import re
import sys

SESSION = re.compile(r"^nox > Running session (\S+)")
FAILED = re.compile(r"^nox > Session (\S+) (failed|aborted)")


def main(path: str) -> None:
    write = sys.stdout.write
    with open(path, errors="replace") as handle:
        lines = handle.read().splitlines()
    sessions: dict[str, list[str]] = {}
    current = None
    for line in lines:
        match = SESSION.match(line)
        if match:
            current = match.group(1)
            sessions[current] = []
        elif current is not None:
            sessions[current].append(line)
    failed = [match.group(1) for line in lines if (match := FAILED.match(line))]
    for name in failed:
        output = sessions.get(name, [])
        write(f"\n===== failed session {name}: its failures =====\n")
        summary = [i for i, line in enumerate(output) if "short test summary info" in line]
        if summary:
            seen: list[str] = []
            for line in output[summary[-1] + 1:]:
                if line.startswith(("FAILED ", "ERROR ")) and line[:200] not in seen:
                    seen.append(line[:200])
            write(f"--- {len(seen)} failed or erroring tests, the first 15:\n" + "\n".join(seen[:15]) + "\n")
            first = next((i for i, line in enumerate(output) if line.startswith("E   ")), summary[-1])
            errors = [line[:240] for line in output[first:first + 60] if line.startswith("E ")][:40]
            write("--- the first failure's report:\n" + "\n".join(errors) + "\n")
        else:
            write("\n".join(output[-50:]) + "\n")

if __name__ == "__main__":
    main(sys.argv[1])
