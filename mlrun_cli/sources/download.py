"""A file fetched over http(s), held to the network budget (`mlrun_cli/shared/budget.py`).

Opening the connection (TCP and TLS) gets `connect_s`; after that, every read waits at most
`call_s` for the next bytes, so a server that accepts and never answers, or stalls halfway,
costs seconds, while a download that keeps making progress is never cut off. Redirects are
followed (http and https only); user name and password in the URL go as basic auth to that host
only, and no message shows them. A proxy is used as `pip`, `requests` (and so `mlflow run`) use
one: `http_proxy`/`https_proxy` (or upper case), bypassed for hosts in `no_proxy`; https goes
through it as a CONNECT tunnel; a `user:password@` in the proxy's URL is its credential.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ssl
import sys
import urllib.request
from typing import BinaryIO
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

from mlrun_cli.errors import EXIT_INFRA, InfrastructureError, UsageError
from mlrun_cli.shared.budget import CALL_VAR, CONNECT_VAR, Budget, budget

MAX_REDIRECTS = 5
_CHUNK = 1 << 16


class DownloadError(UsageError):
    """The server answered, and what it said is the user's to fix (404, 403, too big)."""


class DownloadUnreachable(DownloadError, InfrastructureError):
    """The server did not answer, or failed (5xx): worth a retry."""

    exit_code = EXIT_INFRA


def shown_url(url: str) -> str:
    """The URL as it may be printed or recorded: no user name, password or query (a signed URL's
    query is a credential)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def download(url: str, target: BinaryIO, *, max_bytes: int) -> str:
    """Write what `url` serves into `target`; its sha256. DownloadError (exit 2) for what the
    server refused or a file over `max_bytes`, DownloadUnreachable (exit 75) for no answer."""
    limits = budget()
    origin = urlsplit(url)
    auth = _basic_auth(url)
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DownloadError(f"cannot download {shown_url(current)}: only http(s) URLs are fetched")
        same_host = (parts.hostname, parts.port) == (origin.hostname, origin.port)
        connection, response = _get(current, limits, auth if same_host else None)
        try:
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                current = urljoin(current, response.getheader("Location", ""))
                continue
            _check_status(response.status, response.reason, current)
            return _copy(response, target, limits, max_bytes, current)
        finally:
            connection.close()
    raise DownloadError(f"cannot download {shown_url(url)}: more than {MAX_REDIRECTS} redirects")


def _basic_auth(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _get(
    url: str, limits: Budget, auth: str | None
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = shown_url(url)
    proxy = _proxy_for(parts)
    headers = {"User-Agent": "mlrun", "Accept-Encoding": "identity"}
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if proxy is None:
        connect_to, port = host, parts.port
    else:
        connect_to, port = proxy.hostname or "", proxy.port or 80
    if parts.scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(connect_to, port, timeout=limits.connect_s, context=context)
        if proxy is not None:  # TLS to the server itself, through the proxy's tunnel
            connection.set_tunnel(host, parts.port or 443, headers=_proxy_auth(proxy))
    else:
        connection = http.client.HTTPConnection(connect_to, port, timeout=limits.connect_s)
        if proxy is not None:  # the proxy is asked for the whole URL
            target = parts._replace(fragment="").geturl()
            headers.update(_proxy_auth(proxy))
    try:
        connection.connect()
    except ssl.SSLCertVerificationError as error:
        connection.close()
        raise DownloadError(f"cannot download {shown}: {error.verify_message or error}") from None
    except TimeoutError:
        connection.close()
        raise DownloadUnreachable(
            f"cannot download {shown}: no connection within {limits.connect_s:g} s",
            hint=f"{CONNECT_VAR} sets the limit",
        ) from None
    except OSError as error:
        connection.close()
        through = f" (through the proxy {shown_url(proxy.geturl())})" if proxy is not None else ""
        raise DownloadUnreachable(f"cannot download {shown}{through}: {error.strerror or error}") from None
    assert connection.sock is not None
    connection.sock.settimeout(limits.call_s)  # from here on: the longest wait for the next bytes
    if auth is not None:
        headers["Authorization"] = auth
    try:
        connection.request("GET", target, headers=headers)
        return connection, connection.getresponse()
    except BaseException as error:
        connection.close()
        raise _no_answer(error, shown, limits) from None


def _proxy_for(parts: SplitResult) -> SplitResult | None:
    """The proxy the environment names for this URL, as urllib reads it (None: go direct)."""
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.netloc.rpartition("@")[2]):
        return None
    found = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if found.scheme != "http" or not found.hostname:
        raise DownloadError(
            f"cannot download {shown_url(parts.geturl())}: the {parts.scheme} proxy "
            f"{shown_url(found.geturl())} is not an http:// proxy, the one kind mlrun's download speaks"
        )
    return found


def _proxy_auth(proxy: SplitResult) -> dict[str, str]:
    if proxy.username is None:
        return {}
    pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def _no_answer(error: BaseException, shown: str, limits: Budget) -> BaseException:
    if isinstance(error, TimeoutError):
        return DownloadUnreachable(
            f"cannot download {shown}: no answer for {limits.call_s:g} s",
            hint=f"{CALL_VAR} sets how long mlrun waits for the next bytes",
        )
    if isinstance(error, (OSError, http.client.HTTPException)):
        return DownloadUnreachable(f"cannot download {shown}: {type(error).__name__}: {error}")
    return error


def _check_status(status: int, reason: str, url: str) -> None:
    if status < 300:
        return
    message = f"cannot download {shown_url(url)}: HTTP {status} {reason}".rstrip()
    if status >= 500 or status in (408, 429):
        raise DownloadUnreachable(message, hint="the server failed or is busy; a retry may succeed")
    raise DownloadError(message)


def _copy(
    response: http.client.HTTPResponse, target: BinaryIO, limits: Budget, max_bytes: int, url: str
) -> str:
    shown = shown_url(url)
    too_big = f"cannot download {shown}: it is larger than {max_bytes // (1 << 20)} MiB"
    length = response.getheader("Content-Length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise DownloadError(too_big)
    sys.stderr.write(f"mlrun: downloading {shown}\n")
    digest = hashlib.sha256()
    total = 0
    while True:
        try:
            chunk = response.read1(_CHUNK)
        except BaseException as error:
            raise _no_answer(error, shown, limits) from None
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise DownloadError(too_big)
        digest.update(chunk)
        target.write(chunk)
    if length is not None and length.isdigit() and total != int(length):
        raise DownloadUnreachable(f"cannot download {shown}: the connection ended after {total} bytes")
    return digest.hexdigest()
