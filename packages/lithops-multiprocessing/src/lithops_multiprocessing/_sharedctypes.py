"""``Value``, ``Array``, ``RawValue`` and ``RawArray``: ctypes values kept in Redis.

A value or an array is one Redis string holding the ctypes bytes (native layout), so an element
is read with ``GETRANGE`` and written with ``SETRANGE``: element reads and writes are atomic,
and read-modify-write sequences (``counter.value += 1``) need the lock, as with the standard
library. ``Value``/``Array`` come with a recursive lock (``get_lock()``) unless ``lock=False``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Iterator
from typing import Any, Literal, overload

from lithops_multiprocessing import _runtime
from lithops_multiprocessing._redis import RedisObject
from lithops_multiprocessing._synchronize import Lock, RLock

#: The standard library's typecodes (``multiprocessing.sharedctypes.typecode_to_type``).
TYPECODES: dict[str, type[Any]] = {
    "c": ctypes.c_char, "u": ctypes.c_wchar,
    "b": ctypes.c_byte, "B": ctypes.c_ubyte,
    "h": ctypes.c_short, "H": ctypes.c_ushort,
    "i": ctypes.c_int, "I": ctypes.c_uint,
    "l": ctypes.c_long, "L": ctypes.c_ulong,
    "q": ctypes.c_longlong, "Q": ctypes.c_ulonglong,
    "f": ctypes.c_float, "d": ctypes.c_double,
    "?": ctypes.c_bool,
}
_SIMPLE_TYPES = frozenset(TYPECODES.values())


def _ctype(typecode_or_type: Any) -> type[Any]:
    if isinstance(typecode_or_type, str):
        ctype = TYPECODES.get(typecode_or_type)
        if ctype is None:
            raise TypeError(f"bad typecode {typecode_or_type!r} (must be one of {''.join(TYPECODES)})")
        return ctype
    if typecode_or_type in _SIMPLE_TYPES:
        return typecode_or_type  # type: ignore[no-any-return]
    name = getattr(typecode_or_type, "__name__", repr(typecode_or_type))
    raise TypeError(
        f"{name} cannot be shared with lithops processes: they run remotely and share values through"
        f" Redis, which holds plain numbers and characters. Use a typecode ({''.join(TYPECODES)}) or"
        " a simple ctypes type (c_int, c_double...); pointers, structures and unions cannot be"
        " shared (use a Manager's dict or Namespace for structured data)."
    )


def _missing(key: str) -> RuntimeError:
    return RuntimeError(
        f"The shared value {key} is gone from Redis: the program that made it ended (or its keys"
        " expired). Shared objects live as long as the program that created them."
    )


def _resolve_lock(lock: Any) -> Lock | RLock | None:
    if lock is False:
        return None
    if lock is True or lock is None:
        return RLock()
    if isinstance(lock, (Lock, RLock)):
        return lock
    raise AttributeError(f"{lock!r} has no method 'acquire': pass a lithops.multiprocessing Lock or RLock")


class _Synchronized:
    """The lock methods of ``Value``/``Array`` results (``get_lock``, context manager)."""

    _lock: Lock | RLock | None

    def get_lock(self) -> Lock | RLock:
        """The lock protecting read-modify-write sequences."""
        if self._lock is None:
            raise AttributeError("this shared object was created with lock=False: it has no lock")
        return self._lock

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Acquire the lock."""
        return self.get_lock().acquire(block, timeout)

    def release(self) -> None:
        """Release the lock."""
        self.get_lock().release()

    def __enter__(self) -> bool:
        return self.get_lock().acquire()

    def __exit__(self, *exc: object) -> None:
        self.get_lock().release()


class SharedValue(RedisObject):
    """A single ctypes value in Redis (``RawValue``); ``Synchronized`` adds a lock."""

    _lock: Lock | RLock | None = None

    def __init__(self, typecode_or_type: Any, *args: Any) -> None:
        self._type = _ctype(typecode_or_type)
        initial = bytes(self._type(*args))
        self._bind(*_runtime.new_key("value"))
        self._client.set(self._key, initial, ex=self._ns.expiry)

    @property
    def value(self) -> Any:
        """The current value (read from Redis)."""
        data = self._client.get(self._key)
        if data is None:
            raise _missing(self._key)
        return self._type.from_buffer_copy(data).value

    @value.setter
    def value(self, new: Any) -> None:
        self._client.set(self._key, bytes(self._type(new)), ex=self._ns.expiry)

    def get_obj(self) -> SharedValue:
        """The value object itself (the standard library returns the raw ctypes object)."""
        return self

    def __repr__(self) -> str:
        try:
            shown = f"{self._type.__name__}({self.value!r})"
        except Exception:
            shown = self._type.__name__
        return f"<{type(self).__name__} wrapper for {shown}>"


class Synchronized(_Synchronized, SharedValue):
    """A ``Value`` with its lock."""

    def __init__(self, typecode_or_type: Any, *args: Any, lock: Lock | RLock) -> None:
        super().__init__(typecode_or_type, *args)
        self._lock = lock


class SharedArray(RedisObject):
    """A fixed-size ctypes array in Redis (``RawArray``); ``SynchronizedArray`` adds a lock."""

    _lock: Lock | RLock | None = None

    def __init__(self, typecode_or_type: Any, size_or_initializer: int | Iterable[Any]) -> None:
        self._type = _ctype(typecode_or_type)
        if isinstance(size_or_initializer, int):
            self._length = size_or_initializer
            initial = bytes(ctypes.sizeof(self._type) * size_or_initializer)
        else:
            values = list(size_or_initializer)
            self._length = len(values)
            initial = bytes((self._type * len(values))(*values))
        if self._length < 0:
            raise ValueError("array size must be >= 0")
        self._bind(*_runtime.new_key("array"))
        self._client.set(self._key, initial, ex=self._ns.expiry)

    @property
    def _itemsize(self) -> int:
        return ctypes.sizeof(self._type)

    def __len__(self) -> int:
        return self._length

    def _read(self, start: int, count: int) -> Any:
        """``count`` elements from ``start``, as a ctypes array."""
        size = self._itemsize
        if count == 0:
            return (self._type * 0)()
        data = self._client.getrange(self._key, start * size, (start + count) * size - 1)
        if len(data) != count * size:
            raise _missing(self._key)
        return (self._type * count).from_buffer_copy(data)

    def _write(self, start: int, values: Any) -> None:
        pipe = self._pipeline()
        pipe.setrange(self._key, start * self._itemsize, bytes(values))
        self._expire(pipe)
        pipe.execute()

    def _index(self, index: int) -> int:
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("invalid index")
        return index

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step == 1:
                return self._read(start, max(0, stop - start))[:]
            return self._read(0, self._length)[index]
        return self._read(self._index(index), 1)[0]

    def __setitem__(self, index: int | slice, value: Any) -> None:
        if isinstance(index, slice):
            positions = range(*index.indices(self._length))
            values = list(value)
            if len(values) != len(positions):
                raise ValueError("Can only assign sequence of same size")
            if not positions:
                return
            if positions.step == 1:
                self._write(positions.start, (self._type * len(values))(*values))
                return
            pipe = self._client.pipeline(transaction=True)
            for position, item in zip(positions, values):
                pipe.setrange(self._key, position * self._itemsize, bytes(self._type(item)))
            self._expire(pipe)
            pipe.execute()
            return
        self._write(self._index(index), self._type(value))

    def __iter__(self) -> Iterator[Any]:
        return iter(self[:])

    def get_obj(self) -> SharedArray:
        """The array object itself (the standard library returns the raw ctypes array)."""
        return self

    # character arrays ('c'), as ctypes' c_char arrays
    def _check_chars(self) -> None:
        if self._type is not ctypes.c_char:
            raise AttributeError("value and raw exist only on character arrays (typecode 'c')")

    @property
    def value(self) -> bytes:
        """A character array's bytes up to the first NUL."""
        self._check_chars()
        return bytes(self._read(0, self._length).value)

    @value.setter
    def value(self, new: bytes) -> None:
        self._check_chars()
        array = self._read(0, self._length)
        array.value = new
        self._write(0, array)

    @property
    def raw(self) -> bytes:
        """A character array's bytes, all of them."""
        self._check_chars()
        return bytes(self._read(0, self._length).raw)

    @raw.setter
    def raw(self, new: bytes) -> None:
        self._check_chars()
        array = self._read(0, self._length)
        array.raw = new
        self._write(0, array)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} wrapper for {self._type.__name__}[{self._length}] {self._key}>"


class SynchronizedArray(_Synchronized, SharedArray):
    """An ``Array`` with its lock."""

    def __init__(self, typecode_or_type: Any, size_or_initializer: int | Iterable[Any], *,
                 lock: Lock | RLock) -> None:
        super().__init__(typecode_or_type, size_or_initializer)
        self._lock = lock


def RawValue(typecode_or_type: Any, *args: Any) -> SharedValue:
    """A shared ctypes value without a lock."""
    return SharedValue(typecode_or_type, *args)


def RawArray(typecode_or_type: Any, size_or_initializer: int | Iterable[Any]) -> SharedArray:
    """A shared ctypes array without a lock."""
    return SharedArray(typecode_or_type, size_or_initializer)


@overload
def Value(typecode_or_type: Any, *args: Any, lock: Literal[False], ctx: Any = None) -> SharedValue: ...


@overload
def Value(typecode_or_type: Any, *args: Any, lock: Literal[True] | Lock | RLock = True,
          ctx: Any = None) -> Synchronized: ...


def Value(typecode_or_type: Any, *args: Any, lock: Any = True, ctx: Any = None) -> SharedValue:
    """A shared ctypes value, e.g. ``Value('i', 0)``, with a lock (``get_lock()``) unless
    ``lock=False``; ``lock`` may also be a ``Lock`` or ``RLock`` to use."""
    resolved = _resolve_lock(lock)
    if resolved is None:
        return SharedValue(typecode_or_type, *args)
    return Synchronized(typecode_or_type, *args, lock=resolved)


@overload
def Array(typecode_or_type: Any, size_or_initializer: int | Iterable[Any], *, lock: Literal[False],
          ctx: Any = None) -> SharedArray: ...


@overload
def Array(typecode_or_type: Any, size_or_initializer: int | Iterable[Any], *,
          lock: Literal[True] | Lock | RLock = True, ctx: Any = None) -> SynchronizedArray: ...


def Array(typecode_or_type: Any, size_or_initializer: int | Iterable[Any], *, lock: Any = True,
          ctx: Any = None) -> SharedArray:
    """A shared ctypes array, e.g. ``Array('i', range(10))``, with a lock unless ``lock=False``."""
    resolved = _resolve_lock(lock)
    if resolved is None:
        return SharedArray(typecode_or_type, size_or_initializer)
    return SynchronizedArray(typecode_or_type, size_or_initializer, lock=resolved)
