"""A TCP proxy in front of a server (S3, Redis) that misbehaves on command.

Modes:

- ``pass``: forward bytes both ways.
- ``freeze``: accept connections and keep them open, but forward nothing (a silent endpoint).
- ``delay``: forward after ``delay`` seconds per chunk.
- ``reset``: reset every open connection and each new one at once (an unreachable endpoint that
  still holds its port).
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

HOST = "127.0.0.1"


def _reset(sock: socket.socket) -> None:
    try:  # linger 0: close sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to ``target_port``."""

    def __init__(self, target_port: int, target_host: str = HOST) -> None:
        self.target = (target_host, target_port)
        self.mode = "pass"
        self.delay = 0.0
        self._listener = socket.create_server((HOST, 0))
        self.port: int = self._listener.getsockname()[1]
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.connections = 0
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def set_mode(self, mode: str, delay: float = 0.0) -> None:
        assert mode in ("pass", "freeze", "delay", "reset"), mode
        self.delay = delay
        self.mode = mode
        if mode == "reset":
            with self._lock:
                pairs, self._pairs = set(self._pairs), set()
            for client, server in pairs:
                _reset(client)
                _reset(server)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.set_mode("reset")

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.mode == "reset":
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._pairs.add((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while not self._closed:
                if self.mode == "freeze":
                    time.sleep(0.05)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if self.mode == "delay":
                        time.sleep(self.delay)
                    while self.mode == "freeze" and not self._closed:
                        time.sleep(0.05)
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._pairs.discard((client, server))
            for sock in (client, server):
                try:
                    sock.close()
                except OSError:
                    pass
