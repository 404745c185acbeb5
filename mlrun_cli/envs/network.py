"""Whether a failed install or pull met a service that did not answer (a package index, a conda
channel, an image registry): infrastructure, exit 75 and worth a retry, not the user's input.

uv, pip, rattler and Docker's engine say so only in their messages, so their words for a failed
connection are listed here, in one place: a service that answered "no such package" or "no such
image" matches none of them and stays bad input (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlparse

from mlrun_cli.errors import ServiceUnreachable

NETWORK_FAILURES = (
    # uv and rattler (reqwest): refused, unresolvable, timed out, a 5xx
    "error sending request for url",
    "tcp connect error",
    "dns error",
    "operation timed out",
    "http status server error",
    # an external conda (libcurl, conda's requests), MLRUN_CONDA_EXE
    "connection failed for url",
    "could not resolve host",
    "couldn't connect to server",
    "timeout was reached",
    # pip (urllib3)
    "newconnectionerror",
    "connecttimeouterror",
    "readtimeouterror",
    "failed to establish a new connection",
    "connection broken by",
    # Docker's engine (Go's net/http)
    "dial tcp",
    "context deadline exceeded",
    "i/o timeout",
    "no such host",
    "tls handshake timeout",
    "client.timeout exceeded",
    "connection reset by peer",
    "connection refused",
)


def network_failure(text: str) -> bool:
    """True when a tool's message says a service did not answer."""
    lowered = text.lower()
    return any(words in lowered for words in NETWORK_FAILURES)


def check_channels_answer(channels: Iterable[str]) -> None:
    """Each http(s) conda channel answers within mlrun's budget (shared/budget.py), or ServiceUnreachable.

    rattler waits without end on a channel that accepts and never answers, and mlrun calls it
    in-process: this one short request per channel, before a solve (a cold build only), is what
    bounds that wait. Any HTTP answer will do, a 404 too (rattler then says what is wrong)."""
    import urllib.error
    import urllib.request

    from mlrun_cli.shared.budget import budget

    limits = budget()
    deadline = limits.deadline()
    for channel in channels:
        url = _channel_url(channel)
        if url is None:
            continue
        request = urllib.request.Request(f"{url.rstrip('/')}/noarch/repodata.json", method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=deadline.cap(limits.call_s)):
                pass
        except urllib.error.HTTPError as error:
            if error.code < 500 or error.code == 501:  # 501: no HEAD here, an answer all the same
                continue
            reason = f"HTTP {error.code}"
        except (OSError, ValueError) as error:  # URLError, a timeout, a refused connection
            reason = str(getattr(error, "reason", None) or error)
        else:
            continue
        raise ServiceUnreachable(
            f"the conda channel {url} did not answer: {reason}",
            hint="nothing is wrong with the project: retry later, or check the channel's address",
        )


def _channel_url(channel: str) -> str | None:
    """The channel's http(s) address without credentials (a name goes through rattler's channel
    alias), else None. Asked without them, a private channel answers 401: an answer."""
    from mlrun_cli.shared.uri_credentials import split_credentials

    if not urlparse(channel).scheme:
        from rattler import Channel

        channel = str(Channel(channel).base_url)
    return split_credentials(channel)[0] if urlparse(channel).scheme in ("http", "https") else None
