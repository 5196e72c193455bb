"""``Pipe()`` and its ``Connection`` ends, over Redis lists (one per direction).

End-of-file works as with the standard library: an end counts its handles (pickling one into
another process duplicates it, as fork duplicates a file descriptor; a process's handles close
when it ends), and when the last handle of an end closes, a marker tells the other end's ``recv``
to raise ``EOFError`` once the messages before it are read.
"""

from __future__ import annotations

from multiprocessing import BufferTooShort
from typing import Any

from lithops_multiprocessing import _runtime
from lithops_multiprocessing._redis import Namespace, RedisObject, blocking_pop, dumps, loads, run_script

_DATA = b"d"
_EOF = b"e"

_CLOSE_END = """
local n = redis.call('DECR', KEYS[1])
if n <= 0 then
  redis.call('DEL', KEYS[1])
  if KEYS[2] ~= '' then
    redis.call('RPUSH', KEYS[2], ARGV[2])
    redis.call('EXPIRE', KEYS[2], ARGV[1])
  end
else
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
"""


class Connection(RedisObject):
    """One end of a :func:`Pipe`: ``send``/``recv`` pickled objects, or ``send_bytes``/``recv_bytes``."""

    def __init__(self, namespace: Namespace, read_key: str | None, write_key: str | None,
                 refs_key: str) -> None:
        self._bind(namespace, refs_key)
        self._read_key = read_key
        self._write_key = write_key
        self._closed = False

    # handles
    def __getstate__(self) -> dict[str, Any]:
        if self._closed:
            raise OSError("handle is closed: a closed Connection cannot be sent to another process")
        pipe = self._pipeline()
        pipe.incr(self._key)
        self._expire(pipe)
        pipe.execute()
        return {"_ns": self._ns, "_key": self._key, "_read_key": self._read_key,
                "_write_key": self._write_key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._closed = False
        _runtime.register_handle(self.close)

    @property
    def closed(self) -> bool:
        """Whether this handle is closed."""
        return self._closed

    @property
    def readable(self) -> bool:
        """Whether this end can receive."""
        return self._read_key is not None

    @property
    def writable(self) -> bool:
        """Whether this end can send."""
        return self._write_key is not None

    def _check_readable(self) -> str:
        if self._closed:
            raise OSError("handle is closed")
        if self._read_key is None:
            raise OSError("connection is write-only")
        return self._read_key

    def _check_writable(self) -> str:
        if self._closed:
            raise OSError("handle is closed")
        if self._write_key is None:
            raise OSError("connection is read-only")
        return self._write_key

    def close(self) -> None:
        """Close this handle; when it was the end's last, the other end gets EOF after the data."""
        if self._closed:
            return
        self._closed = True
        run_script(self._client, _CLOSE_END, [self._key, self._write_key or ""], [self._ns.expiry, _EOF])

    def fileno(self) -> int:
        """Not available: the connection lives in Redis.

        Raises:
            OSError: always; use ``poll(timeout)`` to wait for data instead.
        """
        raise OSError("A lithops.multiprocessing Connection lives in Redis and has no file descriptor:"
                      " wait for data with poll(timeout) instead of select or connection.wait.")

    # sending
    def send_bytes(self, buf: bytes | bytearray | memoryview, offset: int = 0, size: int | None = None) -> None:
        """Send ``buf[offset:offset + size]`` as one message."""
        key = self._check_writable()
        view = memoryview(buf).cast("B")
        if offset < 0:
            raise ValueError("offset is negative")
        if len(view) < offset:
            raise ValueError("buffer length < offset")
        if size is None:
            size = len(view) - offset
        elif size < 0:
            raise ValueError("size is negative")
        elif offset + size > len(view):
            raise ValueError("buffer length < offset + size")
        self._push(key, _DATA + bytes(view[offset:offset + size]))

    def send(self, obj: Any) -> None:
        """Send a picklable object."""
        key = self._check_writable()
        self._push(key, _DATA + dumps(obj, "An object sent through a Pipe"))

    def _push(self, key: str, message: bytes) -> None:
        pipe = self._pipeline()
        pipe.rpush(key, message)
        self._expire(pipe, key)
        pipe.execute()

    # receiving
    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        """Receive one message as bytes, waiting for it.

        Raises:
            EOFError: nothing left and the other end is closed.
            OSError: the message is longer than ``maxlength``.
        """
        if maxlength is not None and maxlength < 0:
            raise ValueError("negative maxlength")
        key = self._check_readable()
        message = blocking_pop(self._client, key, True, None) or _EOF
        if message[:1] == _EOF:
            self._push_back(key, _EOF)  # later calls see the end too
            raise EOFError
        data = message[1:]
        if maxlength is not None and len(data) > maxlength:
            raise OSError("bad message length")
        return data

    def recv(self) -> Any:
        """Receive one object sent with ``send``, waiting for it.

        Raises:
            EOFError: nothing left and the other end is closed.
        """
        return loads(self.recv_bytes())

    def recv_bytes_into(self, buf: bytearray | memoryview, offset: int = 0) -> int:
        """Receive one message into ``buf`` at ``offset``; return its size.

        Raises:
            multiprocessing.BufferTooShort: the buffer is too small (the message is its ``args[0]``).
        """
        view = memoryview(buf).cast("B")
        if offset < 0 or offset > len(view):
            raise ValueError("offset out of bounds")
        data = self.recv_bytes()
        if len(data) > len(view) - offset:
            raise BufferTooShort(data)
        view[offset:offset + len(data)] = data
        return len(data)

    def poll(self, timeout: float | None = 0.0) -> bool:
        """Whether there is something to receive, waiting up to ``timeout`` seconds for it
        (``None``: forever)."""
        key = self._check_readable()
        redis_client = self._client
        if int(redis_client.llen(key)) > 0:
            return True
        if timeout is not None and timeout <= 0:
            return False
        message = blocking_pop(redis_client, key, True, timeout)
        if message is None:
            return False
        self._push_back(key, message)  # only looked at: put it back at the head
        return True

    def _push_back(self, key: str, message: bytes) -> None:
        pipe = self._pipeline()
        pipe.lpush(key, message)
        self._expire(pipe, key)
        pipe.execute()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "duplex" if self.readable and self.writable else ("read" if self.readable else "write")
        return f"<Connection({mode}{', closed' if self._closed else ''}) {self._key}>"


def Pipe(duplex: bool = True) -> tuple[Connection, Connection]:
    """A pair of connected ends ``(conn1, conn2)``.

    Args:
        duplex: both ends send and receive; when false, ``conn1`` only receives and ``conn2`` only
            sends.
    """
    namespace, base = _runtime.new_key("pipe")
    forward, backward = base + ":12", base + ":21"
    refs1, refs2 = base + ":refs1", base + ":refs2"
    redis_client = namespace.client
    pipe = redis_client.pipeline(transaction=False)
    pipe.set(refs1, 1, ex=namespace.expiry)
    pipe.set(refs2, 1, ex=namespace.expiry)
    pipe.execute()
    if duplex:
        return (Connection(namespace, backward, forward, refs1), Connection(namespace, forward, backward, refs2))
    return Connection(namespace, forward, None, refs1), Connection(namespace, None, forward, refs2)
