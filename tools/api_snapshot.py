"""The public API, as text: names and signatures of what users and provider packages rely on.

``tests/test_public_api.py`` compares it with ``tests/public_api.txt`` and fails when it changes
by accident. After an intended change, regenerate the snapshot and commit it with the change::

    python tools/api_snapshot.py > tests/public_api.txt
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import sys
import typing
from collections.abc import Iterator
from typing import Any

#: Modules whose ``__all__`` is public, in full.
MODULES = ("lithops", "lithops.spi", "lithops.worker", "lithops.runtimes", "lithops.storage", "lithops.errors",
           "lithops.wait", "lithops.storage.utils", "lithops.storage.cloud_proxy", "lithops.concurrent.futures")
#: Public names of modules without ``__all__``.
NAMES = ("lithops.config:default_config", "lithops.config:load_yaml_config", "lithops.config:extract_storage_config")
#: More classes whose public methods and properties are part of the API (DESIGN section 2);
#: ``FunctionExecutor`` and ``Storage`` come with ``lithops.__all__``.
CLASSES = ("lithops.future:ResponseFuture", "lithops.utils:FuturesList")


def _signature(obj: Any) -> str:
    """Parameter names, kinds and defaults (annotations left out: their spelling is not the API)."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parts: list[str] = []
    seen_keyword_only = False
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.POSITIONAL_ONLY:
            text = parameter.name
        elif parameter.kind is parameter.VAR_POSITIONAL:
            text, seen_keyword_only = f"*{parameter.name}", True
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = f"**{parameter.name}"
        else:
            text = parameter.name
            if parameter.kind is parameter.KEYWORD_ONLY and not seen_keyword_only:
                parts.append("*")
                seen_keyword_only = True
        if parameter.default is not parameter.empty:
            default = parameter.default
            text += "=" + (default.__name__ if callable(default) and hasattr(default, "__name__") else repr(default))
        parts.append(text)
    return f"({', '.join(parts)})"


def _describe_class(cls: type, prefix: str) -> Iterator[str]:
    bases = ", ".join(b.__qualname__ for b in cls.__bases__ if b is not object)
    yield f"{prefix} class({bases})"
    if issubclass(cls, enum.Enum):
        for member in cls:
            yield f"{prefix}.{member.name} = {member.value!r}"
        return
    if typing.is_typeddict(cls):
        for key in cls.__annotations__:
            yield f"{prefix}[{key!r}]"
        return
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            yield f"{prefix}.{f.name}: field"
    protocol = bool(getattr(cls, "_is_protocol", False))
    if protocol:
        for name in sorted(vars(cls).get("__annotations__", {})):
            yield f"{prefix}.{name}: declared"
    for name, value in sorted(vars(cls).items()):
        # A Protocol's __init__ is typing's own, and differs between Python versions.
        if name.startswith("_") and (name != "__init__" or protocol):
            continue
        if isinstance(value, property):
            yield f"{prefix}.{name}: property"
        elif isinstance(value, (staticmethod, classmethod)):
            yield f"{prefix}.{name}{_signature(getattr(cls, name))}"
        elif inspect.isfunction(value):
            yield f"{prefix}.{name}{_signature(value)}"
        elif not callable(value) and not name.startswith("__"):
            yield f"{prefix}.{name}: attribute"


def describe(name: str, obj: Any) -> Iterator[str]:
    if typing.get_origin(obj) is not None:  # ``Callable[..., None]`` and the like
        yield f"{name}: type alias"
    elif (inspect.isclass(obj) or inspect.isroutine(obj)) and not str(getattr(obj, "__module__", "")).startswith("lithops"):
        # Re-exported from the standard library: its details vary between Python versions.
        yield f"{name}: re-exported"
    elif inspect.isclass(obj):
        yield from _describe_class(obj, name)
    elif inspect.isroutine(obj):
        yield f"{name}{_signature(obj)}"
    elif inspect.ismodule(obj):
        yield f"{name}: module"
    else:
        yield f"{name}: {type(obj).__name__}"


def snapshot() -> list[str]:
    lines: list[str] = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in sorted(getattr(module, "__all__", ())):
            lines += describe(f"{module_name}.{name}", getattr(module, name))
    for spec in NAMES:
        module_name, _, name = spec.partition(":")
        lines += describe(f"{module_name}.{name}", getattr(importlib.import_module(module_name), name))
    for spec in CLASSES:
        module_name, _, class_name = spec.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        lines += _describe_class(cls, f"{module_name}.{class_name}")
    return lines


def main() -> int:
    sys.stdout.write("\n".join(snapshot()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
