"""mlrun's own folder: caches and state live under $MLRUN_HOME (default: the user cache dir),
written atomically so that readers never see half a file."""

from __future__ import annotations

import os
from pathlib import Path

from mlrun_cli.errors import UsageError


class HomeNotWritable(UsageError):
    """$MLRUN_HOME (or a folder in it) cannot be written: a setup problem, not a crash."""


def mlrun_home() -> Path:
    explicit = os.environ.get("MLRUN_HOME")
    if explicit:
        return Path(explicit).expanduser().absolute()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mlrun", appauthor=False))


def writable_dir(*parts: str | os.PathLike[str]) -> Path:
    """A folder under $MLRUN_HOME, created and checked writable; HomeNotWritable otherwise."""
    import tempfile

    folder = mlrun_home().joinpath(*parts)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # mkdir succeeds on an existing folder of a read-only filesystem: try a real write.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise HomeNotWritable(
            f"mlrun's folder {folder} cannot be written: {error.strerror or error}",
            hint="make it writable, or point MLRUN_HOME at a writable folder",
        ) from None
    return folder


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
