"""Git URLs: parsing (with browser URLs and #subdir), safety checks, and credential removal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from mlrun_cli.errors import UsageError

_BROWSER = re.compile(r"^(https?://[^/]+/[^/]+/[^/#?]+?)(?:\.git)?/(?:-/)?(?:tree|blob)/([^/]+)(?:/(.*))?$")
_SCP = re.compile(r"^[\w.+-]+@[\w.-]+:(?!//)")
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    return _USERINFO.sub("***@", text)


def credentials_of(url: str) -> tuple[str, str] | None:
    """(user, password) written into an http(s) URL, decoded; None when it has none. An ssh
    user name (ssh://git@host/...) is not a credential: it stays in the URL, where ssh needs it."""
    if (
        not url.lower().startswith(("http://", "https://"))
        or "@" not in url.split("://", 1)[1].split("/", 1)[0]
    ):
        return None
    parts = urlsplit(url)
    return unquote(parts.username or ""), unquote(parts.password or "")


def clean_url(url: str) -> str:
    """The URL without user name, password or token, as it may be recorded."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # a bad port or IPv6 host: check_url refuses it; redact what is shown
        return redact(url)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@dataclass(frozen=True)
class GitUri:
    url: str
    subdir: str
    version: str | None  # from a browser URL (…/tree/REF/…), when -v is not given


def check_url(url: str) -> None:
    """Refuse URLs that could make git run a program or read an option."""
    lowered = url.lower()
    if url.startswith("-") or "--upload-pack" in lowered or "--config" in lowered or url == "-u":
        raise UsageError(f"refusing git URL {redact(url)!r}: it looks like a git option")
    if "::" in url or lowered.startswith(("ext:", "fd:")):
        raise UsageError(
            f"refusing git URL {redact(url)!r}: transport helpers (ext::, fd::) can run programs"
        )
    if any(c in url for c in "\n\r\0 "):
        raise UsageError(f"refusing git URL {redact(url)!r}: it contains whitespace")
    try:
        urlsplit(url).port  # noqa: B018 - parsing it is the check
    except ValueError as err:
        raise UsageError(f"refusing git URL {redact(url)!r}: {err}") from None


def parse_git_uri(base: str, subdir: str) -> GitUri:
    check_url(base)
    browser = _BROWSER.match(base)
    if browser:
        url, ref, rest = browser.groups()
        return GitUri(url, subdir or (rest or "").strip("/"), ref)
    return GitUri(base, subdir, None)


def looks_remote(uri: str) -> bool:
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError:  # "https://[::1/x": remote-looking, and check_url says what is wrong
        return "://" in uri
    return (
        scheme in ("http", "https", "ssh", "git", "git+ssh", "git+https", "ext", "fd")
        or bool(_SCP.match(uri))
        or "::" in uri
    )
