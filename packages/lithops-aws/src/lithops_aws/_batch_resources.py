"""AWS Batch's resource rules and lithops' names for its Batch resources, checked on the client.

Fargate accepts a fixed set of vCPU and memory combinations per container (the task sizes of
Fargate): 0.25 vCPU with 512, 1024 or 2048 MiB; 0.5 vCPU with 1-4 GiB; 1 vCPU with 2-8 GiB;
2 vCPU with 4-16 GiB; 4 vCPU with 8-30 GiB (1 GiB steps); 8 vCPU with 16-60 GiB (4 GiB steps);
16 vCPU with 32-120 GiB (8 GiB steps). EC2 and Spot containers take any vCPU count and memory the
instances of the compute environment can hold.
"""

from __future__ import annotations

import hashlib
import re

from lithops.errors import ConfigError

__all__ = ["ENV_TYPES", "FARGATE_TYPES", "fargate_memories", "resource_name", "resource_requirements"]

#: The compute environment types lithops can create (``env_type``).
ENV_TYPES = ("FARGATE", "FARGATE_SPOT", "EC2", "SPOT")
FARGATE_TYPES = ("FARGATE", "FARGATE_SPOT")

_FARGATE: dict[float, tuple[int, int, int]] = {  # vCPU: (smallest MiB, largest MiB, step)
    0.25: (512, 2048, 512),
    0.5: (1024, 4096, 1024),
    1.0: (2048, 8192, 1024),
    2.0: (4096, 16384, 1024),
    4.0: (8192, 30720, 1024),
    8.0: (16384, 61440, 4096),
    16.0: (32768, 122880, 8192),
}


def fargate_memories(cpu: float) -> list[int]:
    """The memory amounts (MiB) Fargate accepts with ``cpu`` vCPU (none for another vCPU value)."""
    if cpu not in _FARGATE:
        return []
    low, high, step = _FARGATE[cpu]
    memories = list(range(low, high + 1, step))
    return [512, 1024, 2048] if cpu == 0.25 else memories


def _cpu_text(cpu: float) -> str:
    return f"{cpu:g}"


def resource_requirements(env_type: str, cpu: float, memory_mb: int) -> list[dict[str, str]]:
    """The ``resourceRequirements`` of a container of ``cpu`` vCPU and ``memory_mb`` MiB.

    Raises:
        ConfigError: a combination Fargate does not accept (the message lists those it does), or
            a non-positive size.
    """
    if cpu <= 0 or memory_mb <= 0:
        raise ConfigError(f"runtime_cpu ({cpu:g}) and runtime_memory ({memory_mb}) of the 'aws_batch' section"
                          " must be positive.")
    if env_type in FARGATE_TYPES:
        if cpu not in _FARGATE:
            raise ConfigError(
                f"runtime_cpu {cpu:g} in the 'aws_batch' section is not a Fargate vCPU value ({env_type})."
                f" Accepted values: {', '.join(_cpu_text(c) for c in _FARGATE)}.")
        accepted = fargate_memories(cpu)
        if memory_mb not in accepted:
            others = [_cpu_text(c) for c in _FARGATE if memory_mb in fargate_memories(c)]
            hint = f" Or keep {memory_mb} MiB with runtime_cpu {' or '.join(others)}." if others else ""
            low, high, step = _FARGATE[cpu]
            raise ConfigError(
                f"runtime_memory {memory_mb} MiB with runtime_cpu {cpu:g} (the 'aws_batch' section, or runtime_memory"
                f" of the job) is not a Fargate combination. With {cpu:g} vCPU use"
                f" {', '.join(str(m) for m in accepted) if cpu == 0.25 else f'{low} to {high} MiB in steps of {step}'}."
                f"{hint}")
    elif cpu != int(cpu):
        raise ConfigError(f"runtime_cpu {cpu:g} in the 'aws_batch' section: EC2 and SPOT containers take whole vCPUs"
                          " (1, 2, 4...); fractions are for FARGATE and FARGATE_SPOT.")
    return [{"type": "VCPU", "value": _cpu_text(cpu)}, {"type": "MEMORY", "value": str(memory_mb)}]


def resource_name(prefix: str, *parts: object) -> str:
    """A Batch resource name (letters, digits, '-' and '_', at most 128 characters) made of
    ``prefix`` and a hash of ``parts``."""
    digest = hashlib.sha256("\0".join(str(part) for part in parts).encode()).hexdigest()[:10]
    clean = re.sub(r"[^A-Za-z0-9_-]+", "-", prefix).strip("-")[:100]
    return f"{clean}-{digest}"
