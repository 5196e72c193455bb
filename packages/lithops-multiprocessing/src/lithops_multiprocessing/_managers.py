"""``Manager()``: shared Python objects (``dict``, ``list``, ``Namespace``, ``Value``...) in Redis.

The standard library's manager is a server process holding the objects, reached through proxies.
Here Redis is the server: a proxy is a reference to Redis keys, and each method is one atomic
Redis operation (a command, a Lua script, or a ``WATCH``/``MULTI`` transaction for list methods
that need Python's own comparisons, such as ``sort`` or ``remove``). A manager's objects live under
its own key prefix and are deleted by ``shutdown()`` (or at the end of its ``with`` block).

A ``dict`` keeps insertion order (a sorted set of insertion numbers next to the hash), and its keys
are encoded canonically, so equal keys built in different processes find the same entry.
"""

from __future__ import annotations

import builtins
import pickle
import struct
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import ProcessError
from typing import Any, NoReturn

from lithops_multiprocessing import _pool, _queues, _runtime, _sharedctypes, _synchronize
from lithops_multiprocessing._redis import RedisObject, delete_keys, dumps, import_redis, loads, run_script

_MISSING = object()

# --- dict --------------------------------------------------------------------------------------

_DICT_SET = """
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[i])
  end
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return 1
"""

_DICT_SETDEFAULT = """
local value = redis.call('HGET', KEYS[1], ARGV[2])
if value then return value end
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return ARGV[3]
"""

_DICT_POP = """
local field = ARGV[1]
if field == '' then
  local last = redis.call('ZRANGE', KEYS[2], -1, -1)
  if #last == 0 then return false end
  field = last[1]
end
local value = redis.call('HGET', KEYS[1], field)
if not value then return false end
redis.call('HDEL', KEYS[1], field)
redis.call('ZREM', KEYS[2], field)
return {field, value}
"""


def encode_key(key: Any) -> bytes:
    """A canonical byte encoding of a dict key: equal keys give equal bytes in any process."""
    kind = type(key)
    if kind is str:
        return b"s" + str(key).encode("utf-8", "surrogatepass")
    if kind is int:
        return b"i" + str(key).encode()
    if kind is bool:
        return b"i1" if key else b"i0"
    if kind is float:
        number = float(key)
        return b"i" + str(int(number)).encode() if number.is_integer() else b"f" + struct.pack("<d", number)
    if key is None:
        return b"n"
    if kind is bytes:
        return b"b" + bytes(key)
    if kind is tuple:
        parts = [encode_key(item) for item in key]
        return b"t" + b"".join(struct.pack("<I", len(part)) + part for part in parts)
    if kind is frozenset:
        parts = sorted(encode_key(item) for item in key)
        return b"z" + b"".join(struct.pack("<I", len(part)) + part for part in parts)
    try:
        hash(key)
    except TypeError:
        raise TypeError(f"unhashable type: '{kind.__name__}'") from None
    return b"p" + pickle.dumps(key, protocol=4)


def decode_key(data: bytes) -> Any:
    """The key :func:`encode_key` encoded."""
    tag, body = data[:1], data[1:]
    if tag == b"s":
        return body.decode("utf-8", "surrogatepass")
    if tag == b"i":
        return int(body)
    if tag == b"f":
        return struct.unpack("<d", body)[0]
    if tag == b"n":
        return None
    if tag == b"b":
        return bytes(body)
    if tag in (b"t", b"z"):
        items, offset = [], 0
        while offset < len(body):
            (size,) = struct.unpack_from("<I", body, offset)
            items.append(decode_key(body[offset + 4:offset + 4 + size]))
            offset += 4 + size
        return tuple(items) if tag == b"t" else frozenset(items)
    return pickle.loads(body)


class DictProxy(RedisObject):
    """A dict shared by every process (``manager.dict()``); methods return copies, as proxies do."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._bind(*_runtime.new_key("dict"))
        initial = builtins.dict(*args, **kwargs)
        if initial:
            self.update(initial)

    @property
    def _keys(self) -> list[str]:
        return [self._key, self._key + ":order", self._key + ":seq"]

    def _set_many(self, items: Iterable[tuple[Any, Any]]) -> None:
        args: list[Any] = [self._ns.expiry]
        for key, value in items:
            args += [encode_key(key), dumps(value, "A value stored in a manager dict")]
        if len(args) > 1:
            run_script(self._client, _DICT_SET, self._keys, args)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._set_many([(key, value)])

    def __getitem__(self, key: Any) -> Any:
        data = self._client.hget(self._key, encode_key(key))
        if data is None:
            raise KeyError(key)
        return loads(data)

    def __delitem__(self, key: Any) -> None:
        if run_script(self._client, _DICT_POP, self._keys, [encode_key(key)]) is None:
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return bool(self._client.hexists(self._key, encode_key(key)))

    def __len__(self) -> int:
        return int(self._client.hlen(self._key))

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def _getvalue(self) -> builtins.dict[Any, Any]:
        """A copy of the dict."""
        pipe = self._client.pipeline(transaction=True)
        pipe.zrange(self._key + ":order", 0, -1)
        pipe.hgetall(self._key)
        order, values = pipe.execute()
        return {decode_key(field): loads(values[field]) for field in order if field in values}

    copy = _getvalue

    def keys(self) -> builtins.list[Any]:
        """The keys, in insertion order (a list, as the standard library's proxy returns)."""
        return [decode_key(field) for field in self._client.zrange(self._key + ":order", 0, -1)]

    def values(self) -> builtins.list[Any]:
        """The values, in insertion order."""
        return builtins.list(self._getvalue().values())

    def items(self) -> builtins.list[tuple[Any, Any]]:
        """The ``(key, value)`` pairs, in insertion order."""
        return builtins.list(self._getvalue().items())

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        data = self._client.hget(self._key, encode_key(key))
        return default if data is None else loads(data)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, storing ``default`` first when it is missing (atomically)."""
        data = run_script(self._client, _DICT_SETDEFAULT, self._keys,
                          [self._ns.expiry, encode_key(key), dumps(default, "A value stored in a manager dict")])
        return loads(data)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (or ``default``; ``KeyError`` without one)."""
        popped = run_script(self._client, _DICT_POP, self._keys, [encode_key(key)])
        if popped is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return loads(popped[1])

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return the last inserted ``(key, value)``."""
        popped = run_script(self._client, _DICT_POP, self._keys, [b""])
        if popped is None:
            raise KeyError("popitem(): dictionary is empty")
        return decode_key(popped[0]), loads(popped[1])

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Set several keys at once (atomically)."""
        pairs = builtins.list(other.items() if hasattr(other, "keys") else other)
        self._set_many([*pairs, *kwargs.items()])

    def clear(self) -> None:
        """Remove every key."""
        self._client.delete(*self._keys)

    def __str__(self) -> str:
        return str(self._getvalue())

    def __repr__(self) -> str:
        return f"<DictProxy object, typeid 'dict' {self._key}>"


# --- list --------------------------------------------------------------------------------------

_LIST_DELETE = """
if not redis.call('LINDEX', KEYS[1], ARGV[1]) then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LREM', KEYS[1], 1, ARGV[2])
return 1
"""


class ListProxy(RedisObject):
    """A list shared by every process (``manager.list()``)."""

    def __init__(self, sequence: Iterable[Any] = ()) -> None:
        self._bind(*_runtime.new_key("list"))
        self.extend(sequence)

    def _encode(self, value: Any) -> bytes:
        return dumps(value, "A value stored in a manager list")

    def _mutate(self, change: Callable[[builtins.list[Any]], Any]) -> Any:
        """Apply ``change`` to the whole list atomically (WATCH/MULTI, retried on conflict)."""
        outcome: builtins.list[Any] = []

        def transaction(pipe: Any) -> None:
            values = [loads(item) for item in pipe.lrange(self._key, 0, -1)]
            outcome[:] = [change(values)]
            pipe.multi()
            pipe.delete(self._key)
            if values:
                pipe.rpush(self._key, *[self._encode(value) for value in values])
                pipe.expire(self._key, self._ns.expiry)

        self._client.transaction(transaction, self._key)
        return outcome[0]

    def _getvalue(self) -> builtins.list[Any]:
        """A copy of the list."""
        return [loads(item) for item in self._client.lrange(self._key, 0, -1)]

    def __len__(self) -> int:
        return int(self._client.llen(self._key))

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self._getvalue()[index]
        data = self._client.lindex(self._key, index)
        if data is None:
            raise IndexError("list index out of range")
        return loads(data)

    def __setitem__(self, index: int | slice, value: Any) -> None:
        if isinstance(index, slice):
            items = builtins.list(value)

            def assign(values: builtins.list[Any]) -> None:
                values[index] = items

            self._mutate(assign)
            return
        redis = import_redis()
        try:
            pipe = self._pipeline()
            pipe.lset(self._key, index, self._encode(value))
            self._expire(pipe)
            pipe.execute()
        except redis.exceptions.ResponseError:
            raise IndexError("list assignment index out of range") from None

    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice):

            def delete(values: builtins.list[Any]) -> None:
                del values[index]

            self._mutate(delete)
            return
        tombstone = b"\x00lithops-deleted"
        if not run_script(self._client, _LIST_DELETE, [self._key], [index, tombstone]):
            raise IndexError("list assignment index out of range")

    def __iter__(self) -> Iterator[Any]:
        return iter(self._getvalue())

    def __reversed__(self) -> Iterator[Any]:
        return iter(self._getvalue()[::-1])

    def __contains__(self, value: object) -> bool:
        return value in self._getvalue()

    def __add__(self, other: Iterable[Any]) -> builtins.list[Any]:
        return self._getvalue() + builtins.list(other)

    def __mul__(self, times: int) -> builtins.list[Any]:
        return self._getvalue() * times

    def __iadd__(self, other: Iterable[Any]) -> ListProxy:
        self.extend(other)
        return self

    def __imul__(self, times: int) -> ListProxy:
        def repeat(values: builtins.list[Any]) -> None:
            values *= times

        self._mutate(repeat)
        return self

    def append(self, value: Any) -> None:
        """Append ``value``."""
        pipe = self._pipeline()
        pipe.rpush(self._key, self._encode(value))
        self._expire(pipe)
        pipe.execute()

    def extend(self, values: Iterable[Any]) -> None:
        """Append every value of ``values`` (atomically)."""
        encoded = [self._encode(value) for value in values]
        if encoded:
            pipe = self._pipeline()
            pipe.rpush(self._key, *encoded)
            self._expire(pipe)
            pipe.execute()

    def insert(self, index: int, value: Any) -> None:
        """Insert ``value`` before ``index``."""
        self._mutate(lambda values: values.insert(index, value))

    def pop(self, index: int = -1) -> Any:
        """Remove and return the item at ``index`` (default: the last)."""
        if index in (-1, 0):
            data = self._client.rpop(self._key) if index == -1 else self._client.lpop(self._key)
            if data is None:
                raise IndexError("pop from empty list")
            return loads(data)
        return self._mutate(lambda values: values.pop(index))

    def remove(self, value: Any) -> None:
        """Remove the first item equal to ``value`` (``ValueError`` when there is none)."""
        self._mutate(lambda values: values.remove(value))

    def index(self, value: Any, start: int = 0, stop: int = 2**62) -> int:
        """The position of the first item equal to ``value``."""
        return self._getvalue().index(value, start, stop)

    def count(self, value: Any) -> int:
        """How many items equal ``value``."""
        return self._getvalue().count(value)

    def sort(self, *, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> None:
        """Sort the list in place."""
        self._mutate(lambda values: values.sort(key=key, reverse=reverse))

    def reverse(self) -> None:
        """Reverse the list in place."""
        self._mutate(lambda values: values.reverse())

    def clear(self) -> None:
        """Remove every item."""
        self._client.delete(self._key)

    def __str__(self) -> str:
        return str(self._getvalue())

    def __repr__(self) -> str:
        return f"<ListProxy object, typeid 'list' {self._key}>"


# --- Namespace and Value -----------------------------------------------------------------------


class NamespaceProxy(RedisObject):
    """An object whose public attributes are shared by every process (``manager.Namespace()``);
    names starting with ``_`` stay local, as with the standard library."""

    def __init__(self, **kwargs: Any) -> None:
        self._bind(*_runtime.new_key("namespace"))
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        data = self._client.hget(self._key, name)
        if data is None:
            raise AttributeError(f"'Namespace' object has no attribute {name!r}")
        return loads(data)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        pipe = self._pipeline()
        pipe.hset(self._key, name, dumps(value, f"The value of Namespace attribute {name!r}"))
        self._expire(pipe)
        pipe.execute()

    def __delattr__(self, name: str) -> None:
        if name.startswith("_"):
            object.__delattr__(self, name)
            return
        if not self._client.hdel(self._key, name):
            raise AttributeError(name)

    def _getvalue(self) -> builtins.dict[str, Any]:
        return {name.decode(): loads(value) for name, value in self._client.hgetall(self._key).items()}

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in sorted(self._getvalue().items()))
        return f"Namespace({shown})"


class ValueProxy(RedisObject):
    """A shared Python object with ``get()``/``set()`` and ``.value`` (``manager.Value()``)."""

    def __init__(self, typecode: Any, value: Any) -> None:
        self._bind(*_runtime.new_key("mvalue"))
        self._typecode = typecode
        self.set(value)

    def get(self) -> Any:
        """The current value."""
        data = self._client.get(self._key)
        if data is None:
            raise RuntimeError(f"The managed value {self._key} is gone from Redis: its manager was shut down"
                               " or its program ended.")
        return loads(data)

    def set(self, value: Any) -> None:
        """Replace the value."""
        self._client.set(self._key, dumps(value, "A manager Value"), ex=self._ns.expiry)

    value = property(get, set, doc="The current value.")

    def __repr__(self) -> str:
        return f"<ValueProxy({self._typecode!r}) {self._key}>"


# --- the manager -------------------------------------------------------------------------------


class SyncManager:
    """Creates shared objects in Redis (``multiprocessing.Manager()`` returns a started one).

    ``address``, ``authkey`` and ``serializer`` are accepted for compatibility: Redis, configured
    in the ``redis`` section, is the server.
    """

    def __init__(self, address: Any = None, authkey: bytes | None = None, serializer: str = "pickle",
                 ctx: Any = None, *, shutdown_timeout: float = 1.0) -> None:
        self._prefix: str | None = None
        self._namespace: Any = None
        self._state = "initial"

    @classmethod
    def register(cls, typeid: str, callable: Any = None, proxytype: Any = None, exposed: Any = None,
                 method_to_typeid: Any = None, create_method: bool = True) -> NoReturn:
        """Not available: managed objects of custom types need a server process running their
        methods, and lithops keeps shared state in Redis instead."""
        raise NotImplementedError(
            f"lithops.multiprocessing managers cannot register custom types ({typeid!r}): shared state"
            " lives in Redis, which stores data but cannot run your class's methods. Share the data"
            " with manager.dict()/list()/Namespace() and keep the behaviour in plain functions."
        )

    def start(self, initializer: Callable[..., object] | None = None, initargs: Iterable[Any] = ()) -> None:
        """Start the manager: reserve its key prefix in Redis (``initializer`` runs here)."""
        if self._state == "started":
            raise ProcessError("Already started server")
        if self._state == "shutdown":
            raise ProcessError("Manager has shut down")
        self._namespace, self._prefix = _runtime.new_key("manager")
        self._state = "started"
        if initializer is not None:
            initializer(*initargs)

    def connect(self) -> None:
        """Start the manager (there is no separate server to connect to)."""
        if self._state == "initial":
            self.start()

    def shutdown(self) -> None:
        """Delete every object this manager created; their proxies stop working."""
        if self._state == "started" and self._namespace is not None:
            delete_keys(self._namespace, f"{self._prefix}:*")
        self._state = "shutdown"

    def join(self, timeout: float | None = None) -> None:
        """Nothing to wait for: there is no server process."""

    @property
    def address(self) -> str:
        """Where the objects live: the Redis server and the manager's key prefix."""
        if self._namespace is None:
            return ""
        return f"redis://{self._namespace.params.address}/{self._prefix}"

    def __enter__(self) -> SyncManager:
        if self._state == "initial":
            self.start()
        if self._state != "started":
            raise ProcessError("Unable to start server")
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _create(self, factory: Callable[[], Any]) -> Any:
        if self._state != "started":
            raise ProcessError(f"Manager is {self._state}: call start() (or use it in a with block) first")
        with _runtime.key_scope(self._namespace, str(self._prefix)):
            return factory()

    # factories (the standard library's names)
    def dict(self, *args: Any, **kwargs: Any) -> DictProxy:
        """A shared ``dict``."""
        return self._create(lambda: DictProxy(*args, **kwargs))  # type: ignore[no-any-return]

    def list(self, sequence: Iterable[Any] = ()) -> ListProxy:
        """A shared ``list``."""
        return self._create(lambda: ListProxy(sequence))  # type: ignore[no-any-return]

    def Namespace(self, **kwargs: Any) -> NamespaceProxy:
        """A shared namespace object."""
        return self._create(lambda: NamespaceProxy(**kwargs))  # type: ignore[no-any-return]

    def Value(self, typecode: Any, value: Any, lock: bool = True) -> ValueProxy:
        """A shared value (any picklable object; ``typecode`` is kept for display)."""
        return self._create(lambda: ValueProxy(typecode, value))  # type: ignore[no-any-return]

    def Array(self, typecode: Any, sequence: Iterable[Any], lock: bool = True) -> _sharedctypes.SharedArray:
        """A shared ctypes array."""
        return self._create(lambda: _sharedctypes.SharedArray(typecode, sequence))  # type: ignore[no-any-return]

    def Queue(self, maxsize: int = 0) -> _queues.JoinableQueue:
        """A shared queue (with ``task_done``/``join``, as ``queue.Queue``)."""
        return self._create(lambda: _queues.JoinableQueue(maxsize))  # type: ignore[no-any-return]

    JoinableQueue = Queue

    def Lock(self) -> _synchronize.Lock:
        """A shared lock."""
        return self._create(_synchronize.Lock)  # type: ignore[no-any-return]

    def RLock(self) -> _synchronize.RLock:
        """A shared recursive lock."""
        return self._create(_synchronize.RLock)  # type: ignore[no-any-return]

    def Semaphore(self, value: int = 1) -> _synchronize.Semaphore:
        """A shared semaphore."""
        return self._create(lambda: _synchronize.Semaphore(value))  # type: ignore[no-any-return]

    def BoundedSemaphore(self, value: int = 1) -> _synchronize.BoundedSemaphore:
        """A shared bounded semaphore."""
        return self._create(lambda: _synchronize.BoundedSemaphore(value))  # type: ignore[no-any-return]

    def Condition(self, lock: _synchronize.Lock | _synchronize.RLock | None = None) -> _synchronize.Condition:
        """A shared condition variable."""
        return self._create(lambda: _synchronize.Condition(lock))  # type: ignore[no-any-return]

    def Event(self) -> _synchronize.Event:
        """A shared event."""
        return self._create(_synchronize.Event)  # type: ignore[no-any-return]

    def Barrier(self, parties: int, action: Callable[[], object] | None = None,
                timeout: float | None = None) -> _synchronize.Barrier:
        """A shared barrier."""
        return self._create(lambda: _synchronize.Barrier(parties, action, timeout))  # type: ignore[no-any-return]

    def Pool(self, processes: int | None = None, initializer: Callable[..., object] | None = None,
             initargs: Iterable[Any] = ()) -> _pool.Pool:
        """A pool of workers."""
        return _pool.Pool(processes, initializer, initargs)

    def __repr__(self) -> str:
        return f"<SyncManager {self._state} {self.address}>"
