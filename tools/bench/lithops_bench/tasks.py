"""The functions the workloads send to the targets.

They live in their own module, importable by name in every worker (``tools/bench`` is on the
workers' ``PYTHONPATH``), so every target receives them by reference, the same way, and none of them pays
for shipping bench code by value.
"""

from __future__ import annotations

MIB = 1024 * 1024


def noop(x: object) -> object:
    """Returns its argument: the cheapest call a target can run."""
    return x


def burn(iterations: int) -> int:
    """Spins the CPU in pure Python (holding the GIL) for ``iterations`` loop turns.

    Args:
        iterations: loop turns; ``w3_cpu`` calibrates how many take about one second here.

    Returns:
        A checksum, so that the loop cannot be skipped and the caller can verify the result.
    """
    acc = 0
    for i in range(iterations):
        acc = (acc + i * i) % 1_000_003
    return acc


def blob(index: int, size: int) -> bytes:
    """Builds ``size`` bytes that differ for each ``index`` (cheap: one repeat of 8 bytes)."""
    unit = index.to_bytes(8, "little")
    return (unit * (size // 8 + 1))[:size]


def blob_size(data: bytes) -> int:
    """Receives a large argument and returns its length."""
    return len(data)


def make_blob(args: tuple[int, int]) -> bytes:
    """Returns a large result: ``blob(index, size)`` for ``args = (index, size)``."""
    index, size = args
    return blob(index, size)
