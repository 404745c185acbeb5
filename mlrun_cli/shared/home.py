"""mlrun's own folder: caches and state live under $MLRUN_HOME (default: the user cache dir),
written atomically so that readers never see half a file."""

from __future__ import annotations

import os
from pathlib import Path

from mlrun_cli.errors import EXIT_INFRA, InfrastructureError, UsageError, disk_unavailable


class HomeNotWritable(UsageError):
    """$MLRUN_HOME (or a folder in it) cannot be written: a setup problem, not a crash."""


class HomeUnavailable(HomeNotWritable, InfrastructureError):
    """$MLRUN_HOME is on a read-only or full disk, or not ours to write: exit 75, as README says."""

    exit_code = EXIT_INFRA


def mlrun_home() -> Path:
    explicit = os.environ.get("MLRUN_HOME")
    if explicit:
        return Path(explicit).expanduser().absolute()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mlrun", appauthor=False))


def writable_dir(*parts: str | os.PathLike[str]) -> Path:
    """A folder under $MLRUN_HOME, created and checked writable; HomeNotWritable otherwise
    (HomeUnavailable, exit 75, for a read-only or full disk)."""
    folder = mlrun_home().joinpath(*parts)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_write(folder)
    except OSError as error:
        unavailable = disk_unavailable(error)
        raise (HomeUnavailable if unavailable else HomeNotWritable)(
            f"mlrun's folder {folder} cannot be written: {error.strerror or error}",
            hint="make it writable (or free space), or point MLRUN_HOME at a writable folder",
        ) from None
    return folder


def probe_write(folder: Path) -> None:
    """OSError unless a file in `folder` takes a byte. mkdir succeeds on an existing folder of a
    read-only file system, and an empty file still fits on a full one: only a real write tells."""
    import tempfile

    with tempfile.TemporaryFile(dir=folder) as probe:
        probe.write(b"\0")
        probe.flush()


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
