"""A real fault shared by the tests: a TCP listener on 127.0.0.1 that accepts every connection
and never answers a byte (a hung server, index, registry or git remote)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def hung_port() -> Iterator[int]:
    """The port of a listener that accepts and never answers; its sockets close on exit."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed on exit
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for conn in held:
            conn.close()


@contextmanager
def hung_server() -> Iterator[str]:
    """The same listener as an http:// URL (a tracking server, package index, API server...)."""
    with hung_port() as port:
        yield f"http://127.0.0.1:{port}"
