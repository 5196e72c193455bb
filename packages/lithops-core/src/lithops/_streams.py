"""A buffered binary stream over a pull function: the building block of streamed object reads.

Storage backends return it from ``open_object`` (``PullStream(body.read, body.close)``) and the
data partitioner wraps ranged reads in it. Re-exported by :mod:`lithops.spi` for provider packages.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

#: Bytes asked of the pull function for a whole read; lines are pulled in smaller steps.
_PULL_SIZE = 8 << 20
_LINE_PULL = 64 * 1024


class PullStream(io.BufferedIOBase):
    """A buffered binary stream over ``pull(n)``, a function returning up to ``n`` more bytes
    (``b""`` at the end). Large reads are handed over without copies; ``readline`` and line
    iteration buffer only what they need."""

    def __init__(self, pull: Callable[[int], bytes], close: Callable[[], None]) -> None:
        super().__init__()
        self._pull = pull
        self._close = close
        self._buffer = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def _more(self, size: int) -> bytes:
        if self._eof:
            return b""
        data = self._pull(size)
        if not data:
            self._eof = True
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            pieces = [self._buffer]
            self._buffer = b""
            while piece := self._more(_PULL_SIZE):
                pieces.append(piece)
            return b"".join(pieces)
        if self._buffer:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            if len(data) == size:
                return data
            pieces, missing = [data], size - len(data)
        else:
            pieces, missing = [], size
        while missing > 0:
            piece = self._more(missing)
            if not piece:
                break
            pieces.append(piece)
            missing -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def read1(self, size: int = -1) -> bytes:
        if self._buffer:
            data = self._buffer if size < 0 else self._buffer[:size]
            self._buffer = self._buffer[len(data):]
            return data
        return self._more(size if size > 0 else _PULL_SIZE)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        limit = size if size is not None and size >= 0 else None
        pieces: list[bytes] = []
        taken = 0
        while True:
            end = self._buffer.find(b"\n") + 1
            if end == 0:
                end = len(self._buffer)
                complete = False
            else:
                complete = True
            if limit is not None and taken + end > limit:
                end, complete = limit - taken, True
            pieces.append(self._buffer[:end])
            taken += end
            self._buffer = self._buffer[end:]
            if complete:
                return b"".join(pieces)
            self._buffer = self._more(_LINE_PULL)
            if not self._buffer:
                return b"".join(pieces)

    def close(self) -> None:
        if not self.closed:
            try:
                self._close()
            finally:
                super().close()
