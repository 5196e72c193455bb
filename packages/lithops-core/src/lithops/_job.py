"""Turning a function and its iterdata into a job: binding, validation, batches and payloads.

Everything here runs on the client before anything is invoked, so signature mismatches and
unpicklable data are reported at once, naming the call.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from lithops._serialize import dumps
from lithops.errors import IterdataError, SerializationError
from lithops.spi import CallBatch

INJECTED_PARAMS = ("storage", "id")
OBJ_PARAM = "obj"
#: Parameters Lithops 3 also filled in by name, which are not injected here, and what to use instead.
NOT_INJECTED = {
    "ibm_cos": "Lithops 3 passed an IBM COS client there; take a 'storage' parameter instead and use"
               " storage.get_client() (the client of the configured storage backend, e.g. ibm_cos)",
    "rabbitmq": "Lithops 3 passed a pika connection there (from the 'rabbitmq' config section); open the"
                " connection inside the function instead (pika.BlockingConnection(pika.URLParameters(url)))",
}


def wants_obj(func: Callable[..., Any]) -> bool:
    """The function takes data partitions: it has an ``obj`` parameter that can be passed by name
    (a positional-only ``obj``, as in ``len(obj, /)``, is an ordinary argument)."""
    try:
        param = inspect.signature(func).parameters.get(OBJ_PARAM)
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


def _user_signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None  # builtins without a signature: let the call itself check
    params = [p for name, p in sig.parameters.items() if name not in INJECTED_PARAMS]
    return sig.replace(parameters=params)


def as_iterdata_list(iterdata: Any) -> list[Any]:
    """The elements of ``iterdata``: a bare string (``'bucket/prefix/'``) or dict is one element."""
    if isinstance(iterdata, (str, bytes, dict)):
        return [iterdata]
    try:
        return list(iterdata)
    except TypeError as exc:
        raise IterdataError(
            f"iterdata must be an iterable of call arguments (list, range, tuple, set, generator), got"
            f" {type(iterdata).__name__}. Wrap a single argument in a list: [{iterdata!r}]."
        ) from exc


def apply_extra_args(data: list[Any], extra_args: Sequence[Any] | Mapping[str, Any] | None) -> list[Any]:
    """Append ``extra_args`` to every element: tuples are concatenated, dicts merged."""
    if not extra_args:
        return data
    result: list[Any] = []
    for element in data:
        if isinstance(element, dict):
            if not isinstance(extra_args, Mapping):
                raise IterdataError("extra_args must be a dict when the iterdata elements are dicts")
            result.append({**element, **extra_args})
        else:
            if isinstance(extra_args, Mapping):
                raise IterdataError("extra_args must be a tuple when the iterdata elements are not dicts")
            head = element if isinstance(element, tuple) else (element,)
            result.append((*head, *extra_args))
    return result


def bind_iterdata(
    func: Callable[..., Any],
    iterdata: Any,
    extra_args: Sequence[Any] | Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The keyword arguments of each call: dicts by name, tuples by position, other values as
    the first argument; checked against the function's signature.

    Raises:
        IterdataError: an element does not fit the signature; the message names the call.
    """
    data = apply_extra_args(as_iterdata_list(iterdata), extra_args)
    if wants_obj(func):
        data = [e if isinstance(e, dict) else {OBJ_PARAM: e} for e in data]
    sig = _user_signature(func)
    name = getattr(func, "__qualname__", repr(func))
    bound: list[dict[str, Any]] = []
    # The names an element of a given shape binds to; a shape whose binding is not one name per
    # value, in order (packed *args/**kwargs, an error), goes through Signature.bind every time.
    shapes: dict[Any, tuple[str, ...] | None] = {}
    for index, element in enumerate(data):
        if sig is None:
            bound.append(dict(element) if isinstance(element, dict) else {"__args__": element if isinstance(element, tuple) else (element,)})
            continue
        shape: Any = (tuple(element) if isinstance(element, dict) else
                      len(element) if isinstance(element, tuple) else -1)
        if shape not in shapes:
            shapes[shape] = _plain_binding(sig, shape)
        names = shapes[shape]
        if names is not None:
            if isinstance(element, dict):
                bound.append({n: element[n] for n in names})
            else:
                bound.append(dict(zip(names, element if isinstance(element, tuple) else (element,))))
            continue
        try:
            if isinstance(element, dict):
                bound.append(_bind_dict(sig, element))
            elif isinstance(element, tuple):
                bound.append(dict(sig.bind(*element).arguments))
            else:
                bound.append(dict(sig.bind(element).arguments))
        except TypeError as exc:
            shown = repr(element)
            shown = shown if len(shown) < 200 else shown[:200] + "..."
            hint = "".join(f" '{param}' is not injected: {text}." for param, text in NOT_INJECTED.items()
                           if f"'{param}'" in str(exc))
            hint = hint or (" Use a value per call for one parameter, a tuple for positional arguments,"
                            " or a dict for keyword arguments.")
            raise IterdataError(
                f"Call {index} of {name}{sig}: the iterdata element {shown} does not match the"
                f" signature ({exc}).{hint}"
            ) from None
    # Positional-only and *args parameters cannot be passed by name: keep them positional.
    if sig is not None and any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL, p.VAR_KEYWORD)
                               for p in sig.parameters.values()):
        bound = [_to_call_form(sig, kwargs) for kwargs in bound]
    return bound


def _plain_binding(sig: inspect.Signature, shape: Any) -> tuple[str, ...] | None:
    """The parameter names that the values of an element of ``shape`` bind to, one each and in
    order (``shape``: the keys of a dict element, the length of a tuple, -1 for a single value);
    None when binding that shape is anything else (packed, special keys, an error)."""
    if isinstance(shape, tuple):
        special = {name for name, p in sig.parameters.items() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if special & set(shape):
            return None
        markers = {key: object() for key in shape}
        try:
            arguments = sig.bind(**markers).arguments
        except TypeError:
            return None
        if len(arguments) != len(markers) or any(arguments.get(k) is not m for k, m in markers.items()):
            return None
        return tuple(arguments)
    values = [object() for _ in range(1 if shape < 0 else shape)]
    try:
        arguments = sig.bind(*values).arguments
    except TypeError:
        return None
    if len(arguments) != len(values) or any(a is not v for a, v in zip(arguments.values(), values)):
        return None
    return tuple(arguments)


def _bind_dict(sig: inspect.Signature, element: dict[str, Any]) -> dict[str, Any]:
    """Bind a dict element. As in Lithops 3, a key naming the function's ``*args`` parameter
    holds the extra positional values and a key naming its ``**kwargs`` parameter a dict of
    keywords (``{"args": (1, 2), "d": 3}`` calls ``f(1, 2, d=3)``), also when ``f`` is a wrapper
    taking ``(*args, **kwargs)``; other keys are keyword arguments."""
    var_positional = var_keyword = None
    for name, param in sig.parameters.items():
        if param.kind == param.VAR_POSITIONAL:
            var_positional = name
        elif param.kind == param.VAR_KEYWORD:
            var_keyword = name
    if var_positional not in element and var_keyword not in element:
        return dict(sig.bind(**element).arguments)
    payload = dict(element)
    extra_args = tuple(payload.pop(var_positional) or ()) if var_positional in payload else ()
    extra_kwargs = dict(payload.pop(var_keyword) or {}) if var_keyword in payload else {}
    args: list[Any] = []
    if extra_args:
        # The named parameters before *args go by position, so that *args can follow them.
        for name, param in sig.parameters.items():
            if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD) or name not in payload:
                break
            args.append(payload.pop(name))
    return dict(sig.bind(*args, *extra_args, **{**extra_kwargs, **payload}).arguments)


def _to_call_form(sig: inspect.Signature, arguments: dict[str, Any]) -> dict[str, Any]:
    """Bound arguments as the worker calls them: ``__args__`` for what must go by position
    (positional-only parameters, ``*args`` and the parameters before a non-empty ``*args``)."""
    spread = any(p.kind == p.VAR_POSITIONAL and arguments.get(n) for n, p in sig.parameters.items())
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, param in sig.parameters.items():
        if name not in arguments:
            continue
        value = arguments[name]
        if param.kind == param.POSITIONAL_ONLY:
            args.append(value)
        elif param.kind == param.VAR_POSITIONAL:
            args.extend(value)
        elif param.kind == param.VAR_KEYWORD:
            kwargs.update(value)
        elif param.kind == param.POSITIONAL_OR_KEYWORD and (spread or args):
            args.append(value)
        else:
            kwargs[name] = value
    return {"__args__": tuple(args), **kwargs} if args else kwargs


def auto_chunksize(total_calls: int, workers: int) -> int:
    """Batch size for pools: a few batches per worker for balance, bounded for latency."""
    if total_calls <= workers:
        return 1
    return max(1, min(256, math.ceil(total_calls / (workers * 4))))


def split_batches(call_ids: Sequence[str], chunksize: int) -> list[tuple[int, int]]:
    """``(start, stop)`` index ranges of batches of ``chunksize`` calls."""
    size = max(1, chunksize)
    return [(i, min(i + size, len(call_ids))) for i in range(0, len(call_ids), size)]


def serialize_batch_data(calls: list[dict[str, Any]], first_index: int) -> bytes:
    try:
        return dumps(calls)
    except Exception as exc:
        for offset, kwargs in enumerate(calls):
            try:
                dumps(kwargs)
            except Exception as call_exc:
                raise SerializationError(
                    f"The arguments of call {first_index + offset} cannot be pickled:"
                    f" {type(call_exc).__name__}: {call_exc}. Pass plain data (or objects picklable"
                    " with cloudpickle); open files, locks and clients cannot travel."
                ) from call_exc
        raise SerializationError(f"The call arguments cannot be pickled: {exc}") from exc


def check_data_limit(data: bytes, calls: int, limit_mib: int | bool, first_index: int) -> None:
    if limit_mib is False or limit_mib is True or not isinstance(limit_mib, int):
        return
    if calls and len(data) / calls > limit_mib * 1024 * 1024:
        raise IterdataError(
            f"The arguments of the calls from {first_index} are {len(data) / calls / 2**20:.1f} MiB per"
            f" call, over data_limit ({limit_mib} MiB). Put large data in storage and pass its key,"
            " or raise data_limit in the 'lithops' config section (false: no limit)."
        )


def make_batches(
    *,
    executor_id: str,
    job_id: str,
    call_kwargs: list[dict[str, Any]],
    chunksize: int,
    function_key: str,
    function_hash: str,
    storage: dict[str, Any],
    data_limit: int | bool,
    common: Mapping[str, Any],
    serialize: bool = True,
) -> list[CallBatch]:
    """The job's batches, with each batch's call data serialized inline (``serialize``), or
    without data for backends that move the arguments as objects (:func:`batch_call_data`)."""
    call_ids = [f"{i:05d}" for i in range(len(call_kwargs))]
    batches = []
    for start, stop in split_batches(call_ids, chunksize):
        data = None
        if serialize:
            data = serialize_batch_data(call_kwargs[start:stop], start)
            check_data_limit(data, stop - start, data_limit, start)
        batches.append(CallBatch(
            executor_id=executor_id, job_id=job_id, call_ids=tuple(call_ids[start:stop]),
            function_key=function_key, function_hash=function_hash, storage=storage, data=data,
            **dict(common),
        ))
    return batches


def batch_call_data(call_kwargs: Sequence[dict[str, Any]],
                    batches: Sequence[CallBatch]) -> tuple[tuple[dict[str, Any], ...], ...]:
    """The calls' arguments cut along ``batches`` (``JobSpec.call_data`` of NATIVE_DATA backends)."""
    cut: list[tuple[dict[str, Any], ...]] = []
    start = 0
    for batch in batches:
        stop = start + len(batch.call_ids)
        cut.append(tuple(call_kwargs[start:stop]))
        start = stop
    return tuple(cut)


def flatten(values: Iterable[Any]) -> list[Any]:
    return [v for value in values for v in (value if isinstance(value, list) else [value])]
