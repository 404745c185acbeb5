"""A TCP proxy on 127.0.0.1 that counts the bytes a server sends back: what a client's calls
really cost on the wire, whatever the protocol (HTTP, WebSocket)."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator

_REQUEST = re.compile(rb"(?:GET|POST|PUT|DELETE) \S+ HTTP/1\.[01]")


class ByteProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.received = 0
        """Bytes the server sent to the clients."""
        self.requests: list[str] = []
        """The HTTP request lines the clients sent (`GET /api/jobs/ HTTP/1.1`), in order."""
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                with self._lock:
                    if counted:
                        self.received += len(data)
                    else:
                        self.requests += [m.decode() for m in _REQUEST.findall(data)]
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        source.close()  # the other direction's pipe closes the sink, once it sees the shutdown

    def close(self) -> None:
        self._listener.close()


@contextlib.contextmanager
def byte_proxy(host: str, port: int) -> Iterator[ByteProxy]:
    proxy = ByteProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.close()
