"""Code Engine's resource rules and names, checked on the client before anything is sent.

Code Engine accepts a fixed set of CPU and memory combinations per instance: for each vCPU value,
memory of 2, 4 or 8 GB per vCPU (0.125 vCPU: 0.25, 0.5 or 1 GB; 1 vCPU: 2, 4 or 8 GB...). Lithops
configures memory in MB (``runtime_memory: 256``) as Lithops 3 did; values within 5% of a valid
amount (256 for 250 MB, 1024 for 1 GB) are taken as that amount.
"""

from __future__ import annotations

import hashlib
import re

from lithops.errors import ConfigError

__all__ = ["CPU_VALUES", "memory_limit", "resource_name", "valid_memories_mb"]

#: The vCPU values of an instance that Code Engine accepts.
CPU_VALUES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0)
#: GB of memory per vCPU that Code Engine accepts with each vCPU value.
_GB_PER_CPU = (2, 4, 8)
_TOLERANCE = 0.05


def valid_memories_mb(cpu: float) -> list[int]:
    """The memory amounts (MB) Code Engine accepts with ``cpu`` vCPU."""
    return [round(cpu * ratio * 1000) for ratio in _GB_PER_CPU]


def _format_memory(mb: int) -> str:
    return f"{mb // 1000}G" if mb % 1000 == 0 else f"{mb}M"


def memory_limit(cpu: float, memory_mb: int, section: str = "code_engine") -> tuple[str, str]:
    """The ``(scale_cpu_limit, scale_memory_limit)`` strings of a valid combination.

    Raises:
        ConfigError: the combination is not one Code Engine accepts; the message lists those that are.
    """
    if cpu not in CPU_VALUES:
        raise ConfigError(
            f"runtime_cpu {cpu:g} in the {section!r} section is not a Code Engine vCPU value."
            f" Accepted values: {', '.join(f'{value:g}' for value in CPU_VALUES)}."
        )
    for valid in valid_memories_mb(cpu):
        if abs(memory_mb - valid) <= valid * _TOLERANCE:
            return f"{cpu:g}", _format_memory(valid)
    accepted = ", ".join(f"{mb} MB" for mb in valid_memories_mb(cpu))
    others = "; ".join(f"{value:g} vCPU: {', '.join(str(mb) for mb in valid_memories_mb(value))}"
                       for value in CPU_VALUES if value != cpu and
                       any(abs(memory_mb - mb) <= mb * _TOLERANCE for mb in valid_memories_mb(value)))
    hint = f" Or keep {memory_mb} MB with another runtime_cpu ({others})." if others else ""
    raise ConfigError(
        f"runtime_memory {memory_mb} MB with runtime_cpu {cpu:g} (the {section!r} section, or runtime_memory"
        f" of the job) is not a Code Engine combination. With {cpu:g} vCPU use {accepted}.{hint}"
    )


def resource_name(prefix: str, *parts: object) -> str:
    """A Code Engine resource name (lowercase letters, digits and '-', at most 63 characters)
    made of ``prefix`` and a hash of ``parts``."""
    digest = hashlib.sha256("\0".join(str(part) for part in parts).encode()).hexdigest()[:10]
    clean = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:50]
    return f"{clean}-{digest}"
