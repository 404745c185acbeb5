"""Bytecode of the uv and virtualenv envs mlrun owns: written by runs, shared between envs.

Envs are built without bytecode: compiling all of site-packages cost 18-24 s of a cold build,
mostly for modules a project never imports. So the first run of an env compiles what it imports
(9 s of a 14 s first run of the sklearn example), and later runs reuse it.

A new env rarely starts from nothing: uv hardlinks each package's files from its cache, so an
env built for a changed requirement shares most of its files, inode for inode, with the env
before it. `seed_from_siblings` links the bytecode those earlier runs wrote into the new env, for
exactly the sources that are the same file, so its first run starts warm. The bytecode stays
correct without trusting any of this: Python checks each .pyc against its source's size and
modification time, which a shared inode has in common, and recompiles a .pyc that does not
match. Python replaces a .pyc by renaming a new file over it, never by writing into it, so a
.pyc linked into two envs is never changed under the other. Under a prefix, where a run looks
for the standard library's bytecode too, the interpreter's own is linked in the same way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PYCACHE_DIR = "pycache"
"""Where a run writes its bytecode (PYTHONPYCACHEPREFIX) when the user's shell asks for none
beside sources: inside the env's folder."""
SEED_LIMIT = 8
"""Siblings read at most, most recently used first: enough for an env built after an edit, and a
bound on the cost for a user with many envs. Only the folders a sibling shares with the new env
are walked: 0.1-0.3 s for one that shares a 700 MB sklearn and MLflow stack, less otherwise."""


def bytecode_patch(env_dir: Path) -> dict[str, str | None]:
    """Let a run inside an env mlrun owns write the bytecode of what it imports.

    Where the user's shell sets PYTHONDONTWRITEBYTECODE (to keep __pycache__ out of their
    folders), the child writes its bytecode under the env's own folder instead
    (PYTHONPYCACHEPREFIX), never beside the user's sources. Concurrent runs are safe: CPython
    writes each .pyc to a temporary file and renames it into place, and an env it cannot write to
    only costs speed.
    """
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return {}
    return {"PYTHONDONTWRITEBYTECODE": None, "PYTHONPYCACHEPREFIX": str(env_dir / PYCACHE_DIR)}


def cache_tag(python_version: str) -> str:
    """The .pyc name tag of a CPython version: "3.11.7" -> "cpython-311"."""
    major, minor = python_version.split(".")[:2]
    return f"cpython-{major}{minor}"


@dataclass(frozen=True)
class Seeded:
    linked: int
    siblings: int
    damaged: int
    """.pyc files not whole (a damaged disk): left out, so a rebuilt env does not inherit them."""


def seed_from_siblings(env_dir: Path, siblings: Iterable[Path], tag: str) -> Seeded:
    """Link into `env_dir` the .pyc files of `siblings` whose source is the same file in both.

    Anything unreadable, damaged or already there is skipped: this only ever saves time, so no
    error of its own stops a build.
    """
    linked = read = damaged = 0
    for sibling in siblings:
        if read >= SEED_LIMIT:
            break
        read += 1
        for pyc, target in _pairs(sibling, env_dir, tag):
            if os.path.lexists(target) or os.path.islink(pyc):  # only files Python wrote
                continue
            verdict = _verdict(pyc, tag)
            damaged += verdict == "damaged"
            if verdict == "whole" and _link(pyc, target):
                linked += 1
    return Seeded(linked, read, damaged)


def _verdict(pyc: Path, tag: str) -> str:
    """ "whole"; "damaged" (a header Python accepts before code it cannot read: every import of the
    module would fail); or "other" (Python recompiles it: harmless, not worth passing on).

    Python checks a .pyc's header, not its code. The code is checked where mlrun's own Python
    reads it (the env's version); elsewhere only the header is.
    """
    import importlib.util

    deep = tag == sys.implementation.cache_tag
    try:
        with open(pyc, "rb") as file:
            data = file.read() if deep else file.read(16)
    except OSError:
        return "other"
    if len(data) < 16 or data[2:4] != b"\r\n":  # magic number (ending \r\n), flags, stamp
        return "other"
    if not deep:
        return "whole"
    if data[:4] != importlib.util.MAGIC_NUMBER:
        return "other"
    import marshal

    try:
        marshal.loads(memoryview(data)[16:])  # only checked, never run
    except Exception:  # any failure to read it back is damage
        return "damaged"
    return "whole"


def _link(source: Path, target: Path) -> bool:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target, follow_symlinks=False)
    except OSError:
        return False  # another file system, a race with a run writing it, a full disk
    return True


def seed_standard_library(env_dir: Path, stdlib: Path, tag: str) -> int:
    """Link the interpreter's own standard-library bytecode under the env's prefix (PYCACHE_DIR).

    A run that writes its bytecode there (the user's shell set PYTHONDONTWRITEBYTECODE) reads all
    of it there, the standard library's too, so without this each new env's first run compiles
    the ~200 standard modules it imports again (1-2 s). The sources are the same files. Where
    they cannot be linked (another file system; a system Python's files, which Linux protects
    from links by other users), the first refusal ends it: a run then compiles them, as before.
    """
    linked = 0
    target_root = env_dir / PYCACHE_DIR / str(stdlib).lstrip(os.sep)
    for directory, dirs, files in os.walk(stdlib):
        dirs[:] = [d for d in dirs if d not in _NOT_STANDARD]
        folder = Path(directory)
        if folder.name != "__pycache__":
            continue
        for name in files:
            source = _source_name(name, tag)
            if source is None or not os.path.isfile(folder.parent / source) or os.path.islink(folder / name):
                continue
            target = target_root / folder.parent.relative_to(stdlib) / name
            if os.path.lexists(target):
                continue
            if not _link(folder / name, target):
                return linked
            linked += 1
    return linked


# Not the standard library (installed packages), or never imported by a run (its own tests).
_NOT_STANDARD = frozenset({"site-packages", "dist-packages", "test", "idlelib", "turtledemo"})


def _pairs(sibling: Path, env_dir: Path, tag: str) -> Iterator[tuple[Path, Path]]:
    """(sibling's .pyc, where the same bytecode goes in env_dir), for sources that are one file.
    Folders the new env does not have are not walked: an unrelated sibling costs little."""
    # Beside the sources: <dir>/__pycache__/<module>.<tag>[.opt-N].pyc
    for directory, dirs, files in os.walk(sibling / "lib"):
        relative = Path(directory).relative_to(sibling)
        if relative.name != "__pycache__":
            if not os.path.isdir(env_dir / relative):
                dirs.clear()
            continue
        dirs.clear()
        for name in files:
            source = _source_name(name, tag)
            if source is not None and _same_file(
                sibling / relative.parent / source, env_dir / relative.parent / source
            ):
                yield Path(directory, name), env_dir / relative / name
    # Under the env's prefix: pycache/<absolute source dir>/<module>.<tag>[.opt-N].pyc. A source
    # inside the sibling maps into env_dir; any other (the standard library, a project's own
    # modules) is the same path for both.
    prefix = sibling / PYCACHE_DIR
    spellings = {str(path).lstrip(os.sep): path for path in (sibling, sibling.resolve())}
    for directory, dirs, files in os.walk(prefix):
        stored = Path(directory).relative_to(prefix)
        source_dir = other_source_dir = Path(os.sep, stored)
        target_dir = env_dir / PYCACHE_DIR / stored
        for spelling, path in spellings.items():
            if stored.is_relative_to(spelling):
                inside = stored.relative_to(spelling)
                source_dir, other_source_dir = env_dir / inside, path / inside
                target_dir = env_dir / PYCACHE_DIR / str(env_dir).lstrip(os.sep) / inside
                break
        if not os.path.isdir(source_dir):
            dirs.clear()
            continue
        for name in files:
            source = _source_name(name, tag)
            if source is not None and _same_file(other_source_dir / source, source_dir / source):
                yield Path(directory, name), target_dir / name


def _source_name(pyc_name: str, tag: str) -> str | None:
    """The source of <module>.<tag>.pyc or <module>.<tag>.opt-N.pyc (what CPython writes)."""
    stem, dot, rest = pyc_name.partition(".")
    if not dot or rest not in (f"{tag}.pyc", f"{tag}.opt-1.pyc", f"{tag}.opt-2.pyc"):
        return None
    return f"{stem}.py"


def _same_file(a: Path, b: Path) -> bool:
    """One inode: the same bytes and modification time, so the .pyc checks out in both."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
