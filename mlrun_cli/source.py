"""Where a project comes from: a local folder (optionally `#subdir`); git URLs come later."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from mlrun_cli.errors import NotAvailableError, UsageError

_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
_REMOTE_SCHEMES = ("http", "https", "ssh", "git", "git+ssh", "git+https", "ext")


@dataclass(frozen=True)
class ProjectSource:
    directory: Path
    """The folder holding the MLproject (the subdirectory, when one was given)."""
    name: str
    """How the source is recorded in `mlflow.source.name`."""


def split_subdirectory(uri: str) -> tuple[str, str]:
    base, _, subdir = uri.partition("#")
    subdir = subdir.strip().strip("'\"")
    if subdir:
        pure = PurePosixPath(subdir)
        if pure.is_absolute() or ".." in pure.parts:
            raise UsageError(
                f"invalid subdirectory {subdir!r}: it must be a relative path inside "
                "the project, without '..'"
            )
    return base, subdir


def is_git_uri(uri: str) -> bool:
    scheme = urlparse(uri).scheme.lower()
    return scheme in _REMOTE_SCHEMES or bool(_SCP_LIKE.match(uri)) or uri.endswith(".git")


def resolve_source(uri: str, version: str | None, cwd: Path) -> ProjectSource:
    base, subdir = split_subdirectory(uri)
    if is_git_uri(base):
        raise NotAvailableError(
            "running projects from git URLs is not available in this release",
            hint="clone the repository and run the local folder",
        )
    if version is not None:
        raise NotAvailableError("--version (git branch, tag or commit) is not available in this release")
    path = Path(unquote(urlparse(base).path)) if base.startswith("file:") else Path(base)
    root = (cwd / path.expanduser()).absolute()
    if not root.is_dir():
        raise UsageError(f"no such project folder: {root}" if not root.exists() else f"not a folder: {root}")
    directory = root / subdir if subdir else root
    if not directory.is_dir():
        raise UsageError(f"subdirectory {subdir!r} not found in {root}")
    name = f"{root}#{subdir}" if subdir else str(root)
    return ProjectSource(directory, name)
