"""urllib for mlrun's own HTTP calls, with the budget's two socket limits: `connect_s` to open the
connection, then `timeout` for each wait on the socket (a transfer that keeps moving is never
cut off; one that stalls that long is). urllib alone has a single timeout for both."""

from __future__ import annotations

import base64
import http.client
import os
import socket
import urllib.request
from collections.abc import Callable
from typing import Any


def _connection(cls: type[http.client.HTTPConnection], connect_s: float) -> Callable[..., Any]:
    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = cls(host, **kwargs)

        def create(address: tuple[str, int], timeout: Any, source_address: Any = None) -> socket.socket:
            opened = socket.create_connection(address, min(connect_s, timeout), source_address)
            opened.settimeout(timeout)
            return opened

        connection._create_connection = create  # type: ignore[attr-defined]  # see module doc
        return connection

    return make


class _Http(urllib.request.HTTPHandler):
    def __init__(self, connect_s: float) -> None:
        super().__init__()
        self.connect_s = connect_s

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(http.client.HTTPConnection, self.connect_s), req)


class _Https(urllib.request.HTTPSHandler):
    def __init__(self, connect_s: float, context: Any) -> None:
        super().__init__(context=context)
        self.connect_s = connect_s
        self.tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(http.client.HTTPSConnection, self.connect_s), req, context=self.tls)


def open_url(request: urllib.request.Request, *, connect_s: float, timeout: float, context: Any) -> Any:
    """`urlopen` (proxies from the environment included) with a separate connect limit."""
    opener = urllib.request.build_opener(_Http(connect_s), _Https(connect_s, context))
    return opener.open(request, timeout=timeout)


def headers(auth: tuple[str, str] | None) -> dict[str, str]:
    """JSON, and the credentials: the URI's own first, then MLflow's variables."""
    found = {"Content-Type": "application/json", "User-Agent": "mlrun-cli"}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if auth is not None:
        found["Authorization"] = f"Basic {base64.b64encode(':'.join(auth).encode()).decode()}"
    elif token:
        found["Authorization"] = f"Bearer {token}"
    elif user and password:
        found["Authorization"] = f"Basic {base64.b64encode(f'{user}:{password}'.encode()).decode()}"
    return found


def tls_context() -> Any:
    """MLflow's TLS variables, which describe the server, so mlrun's calls honour them too."""
    import ssl

    if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("true", "1"):
        return ssl._create_unverified_context()
    cert = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
    return ssl.create_default_context(cafile=cert) if cert else None
