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
    server.settimeout(0.1)  # closing a socket does not wake an accept() blocked in another thread
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()  # nothing is accepted after this: every held socket is closed below
        server.close()
        for conn in held:
            conn.close()


@contextmanager
def hung_server() -> Iterator[str]:
    """The same listener as an http:// URL (a tracking server, package index, API server...)."""
    with hung_port() as port:
        yield f"http://127.0.0.1:{port}"
