"""What a run writes into its project folder: learned, and left out of later fingerprints.

Before the command starts and after it ends, mlrun takes a stat snapshot of the project folder
(names, sizes, mtimes: no file is read). In a git work tree only what `git status` lists is
looked at (before: the source's own `git status`; after: one `git ls-files`), so a big tracked
tree costs nothing; a plain folder is walked, as its fingerprint reads it anyway. What differs is
the run's output: saved as the run's artifact `mlrun/outputs.json` and merged into the project's
record under `$MLRUN_HOME/outputs/`. A later fingerprint leaves out each recorded path whose stat
is still the one the run left; a path the user edited since (another size or mtime) counts again.
A damaged record is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlrun_cli.shared.home import mlrun_home, write_atomic
from mlrun_cli.sources import WRITTEN_BY_RUNS, ProjectSource

OUTPUTS_FILE = "outputs.json"
Stat = tuple[int, int] | None
"""(size, mtime_ns) of a file or symlink; None: absent."""
_NEVER = frozenset({*WRITTEN_BY_RUNS, ".git"})


def _kept(relative: str) -> bool:
    return not any(p in _NEVER for p in relative.split("/")) and not relative.endswith(".pyc")


def _stat(path: Path) -> Stat:
    try:
        found = path.lstat()
    except OSError:
        return None
    return found.st_size, found.st_mtime_ns


def _scan(folder: str, prefix: str, found: dict[str, Stat]) -> None:
    """Every file under `folder` (its project-relative path starting with `prefix`): os.scandir
    and plain strings, as this runs twice per run over the whole of a plain project."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        relative = prefix + entry.name
        if entry.name in _NEVER or relative.endswith(".pyc"):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                _scan(entry.path, relative + "/", found)
                continue
            stat = entry.stat(follow_symlinks=False)
            found[relative] = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            found[relative] = None


def snapshot(directory: Path, entries: Iterable[str] | None) -> dict[str, Stat]:
    """The stat of every file under `directory` (entries None), or of the given entries (relative
    paths; a folder among them is walked)."""
    found: dict[str, Stat] = {}
    roots = ["."] if entries is None else sorted({e.rstrip("/") or "." for e in entries})
    for root in roots:
        if not _kept(root):
            continue
        path = directory / root
        if path.is_dir() and not path.is_symlink():
            _scan(str(path), "" if root == "." else root + "/", found)
        else:
            found[root] = _stat(path)
    return found


@dataclass
class Watch:
    """A run's project folder, and its stat before the command started."""

    directory: Path
    git: bool
    before: dict[str, Stat]


def watch(source: ProjectSource, in_place: bool) -> Watch | None:
    """The snapshot before the run; None where nothing is learned (a temporary checkout, or a job
    that runs elsewhere or outlives mlrun)."""
    if not in_place or source.cleanup is not None:
        return None
    try:
        git = source.changed is not None
        return Watch(source.directory, git, snapshot(source.directory, source.changed))
    except OSError as error:
        sys.stderr.write(f"mlrun: warning: cannot look at the project folder's files: {error}\n")
        return None


def changes(watch: Watch) -> dict[str, Stat]:
    """What differs from the snapshot now: the run's outputs (their new stat; None: deleted)."""
    entries: list[str] | None = None
    if watch.git:
        from mlrun_cli.sources.git.work_tree import changed_files

        now = changed_files(watch.directory)
        entries = None if now is None else [*now, *watch.before]
    after = snapshot(watch.directory, entries)
    return {p: after.get(p) for p in sorted({*watch.before, *after}) if watch.before.get(p) != after.get(p)}


def _record_file(directory: Path) -> Path:
    key = hashlib.sha256(os.fsencode(os.path.realpath(directory))).hexdigest()[:24]
    return mlrun_home() / "outputs" / f"{key}.json"


def _valid_stat(value: object) -> bool:
    return value is None or (
        isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
    )


def recorded(directory: Path) -> dict[str, Stat]:
    """The project's learned outputs; {} when there is no record, or (with a warning) a damaged one."""
    path = _record_file(directory)
    try:
        data = json.loads(path.read_text())
        paths = data["paths"]
        if not isinstance(paths, dict) or not all(_valid_stat(v) for v in paths.values()):
            raise ValueError("not a map of paths to [size, mtime_ns]")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as error:
        sys.stderr.write(f"mlrun: warning: the record of outputs {path} is damaged, skipped: {error}\n")
        return {}
    return {str(k): (None if v is None else (v[0], v[1])) for k, v in paths.items()}


def _as_json(paths: Mapping[str, Stat]) -> dict[str, object]:
    return {p: (None if s is None else list(s)) for p, s in paths.items()}


def remember(directory: Path, outputs: Mapping[str, Stat]) -> None:
    """Merge a run's outputs into the project's record (the newest stat wins), under a lock: the
    points of a parallel sweep end together and none may lose another's outputs."""
    import fcntl

    path = _record_file(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # What the user changed since is no longer an output: it goes, so the record stays small.
        kept = {p: stat for p, stat in recorded(directory).items() if _stat(directory / p) == stat}
        merged = {**kept, **outputs}
        record = {"directory": os.fsdecode(os.path.realpath(directory)), "paths": _as_json(merged)}
        write_atomic(path, json.dumps(record, sort_keys=True))
    finally:
        os.close(fd)


def write_artifact(outputs: Mapping[str, Stat], scratch: Path) -> Path:
    """What a run changed, as the file the run records (the artifact mlrun/outputs.json)."""
    artifact = scratch / OUTPUTS_FILE
    artifact.write_text(json.dumps({"outputs": _as_json(outputs)}, indent=1, sort_keys=True))
    return artifact


def is_output(directory: Path) -> Callable[[str], bool]:
    """Whether a project-relative path is a run's output the user has not touched since."""
    learned = recorded(directory)

    def check(relative: str) -> bool:
        return relative in learned and _stat(directory / relative) == learned[relative]

    return check
