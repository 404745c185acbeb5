"""Tracking URIs with credentials in them (`http://user:pw@host`): the password is used to
authenticate and nowhere else; whatever is shown, logged, recorded or written uses these forms."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit


def _netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port else shown


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """(the URI without user name and password, the user name, the password), decoded."""
    if "://" not in uri or "@" not in uri.split("://", 1)[1].split("/", 1)[0]:
        return uri, None, None
    parts = urlsplit(uri)
    clean = urlunsplit(
        (parts.scheme, _netloc(parts.hostname or "", parts.port), parts.path, parts.query, parts.fragment)
    )
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return clean, user, password


def redact_uri(uri: str) -> str:
    """The URI as it may be printed: a password (or a lone token) replaced by `***`."""
    clean, user, password = split_credentials(uri)
    if user is None and password is None:
        return uri
    scheme, rest = clean.split("://", 1)
    # A user name alone is often a token (https://TOKEN@host), so it is hidden as well.
    shown = f"{user}:***" if password is not None and user else "***"
    return f"{scheme}://{shown}@{rest}"


def store_key(uri: str) -> str:
    """One spelling per store, without credentials: how the outbox knows a run's own store."""
    scheme = urlsplit(uri).scheme.lower()
    if uri == "none":
        return uri
    if len(scheme) <= 1 or scheme == "file":  # a path (or a Windows drive letter)
        path = unquote(urlsplit(uri).path) if scheme == "file" else uri
        return Path(path).expanduser().absolute().as_uri()
    return split_credentials(uri)[0].rstrip("/")
