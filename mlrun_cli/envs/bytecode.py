"""Bytecode of the uv and virtualenv envs mlrun owns: written by runs, shared between envs.

Envs are built without bytecode: compiling all of site-packages cost 18-24 s of a cold build,
mostly for modules a project never imports. So the first run of an env compiles what it imports
(about 12 s of a 20 s first run of the sklearn example), and later runs reuse it.

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

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PYCACHE_DIR = "pycache"
"""Where a run writes its bytecode (PYTHONPYCACHEPREFIX) when the user's shell asks for none
beside sources: inside the env's folder."""
SEED_LIMIT = 8
"""Siblings read at most, most recently used first, and none after one that added nothing: a
bound on the cost for a user with many envs. Only the folders a sibling shares with the new env
are walked: 0.5-1 s in all for siblings that share a 700 MB sklearn and MLflow stack (2 300
modules, each checked and linked in both layouts), under 1 ms for an unrelated one."""


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
    linked = read = 0
    damaged: set[tuple[int, int]] = set()  # one file, however many envs link it
    made: set[str] = set()
    for sibling in siblings:
        if read >= SEED_LIMIT:
            break
        read += 1
        before = linked
        for pyc, targets in _pairs(sibling, env_dir, tag):
            missing = [target for target in targets if not os.path.lexists(target)]
            if not missing or os.path.islink(pyc):  # only files Python wrote, never links
                continue
            verdict = _verdict(pyc, tag)
            if verdict == "damaged":
                with contextlib.suppress(OSError):
                    info = os.stat(pyc)
                    damaged.add((info.st_dev, info.st_ino))
            elif verdict == "whole":
                linked += any([_link(pyc, target, made) for target in missing])
        if before and linked == before:
            break  # an older env adds nothing to what newer ones gave: older ones will not either
    return Seeded(linked, read, len(damaged))


def _verdict(pyc: str, tag: str) -> str:
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


def _link(source: str, target: str, made: set[str]) -> bool:
    folder = os.path.dirname(target)
    try:
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
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
    made: set[str] = set()
    root = str(stdlib)
    target_root = _under_prefix(env_dir, root)
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _NOT_STANDARD]
        if os.path.basename(directory) != "__pycache__":
            continue
        source_dir = os.path.dirname(directory)
        target_dir = os.path.join(target_root, os.path.relpath(source_dir, root))
        sources = _inodes(source_dir)
        for name in files:
            pyc, target = os.path.join(directory, name), os.path.join(target_dir, name)
            if _source_name(name, tag) not in sources or os.path.islink(pyc) or os.path.lexists(target):
                continue
            if not _link(pyc, target, made):
                return linked
            linked += 1
    return linked


def _under_prefix(env_dir: Path, absolute: str) -> str:
    """Where a run under the env's prefix keeps the bytecode of the sources in `absolute`."""
    return os.path.join(env_dir, PYCACHE_DIR) + os.sep + absolute.lstrip(os.sep)


# Not the standard library (installed packages), or never imported by a run (its own tests).
_NOT_STANDARD = frozenset({"site-packages", "dist-packages", "test", "idlelib", "turtledemo"})


def _pairs(sibling: Path, env_dir: Path, tag: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(sibling's .pyc, where the same bytecode goes in env_dir), for sources that are one file.

    A source in the env gets both layouts, whichever the sibling's runs used: whether the new
    env's runs write beside the sources or under the prefix depends on the shell they start from.
    Folders the new env does not have are not walked: an unrelated sibling costs little. Paths
    are strings here: pathlib cost more than the file system for a 2 000-module env."""
    env, theirs_root = str(env_dir), str(sibling)
    own_prefix = _under_prefix(env_dir, env)
    try:
        if os.stat(theirs_root).st_dev != os.stat(env).st_dev:
            return  # no file can be one inode in both
    except OSError:
        return

    def matches(theirs: str, ours: str, files: list[str]) -> Iterator[tuple[str, str]]:
        """(pyc name, source name) for the .pyc whose source is one inode in both folders."""
        named = [(name, _source_name(name, tag)) for name in files]
        wanted = [(name, source) for name, source in named if source is not None]
        if not wanted:
            return
        our_inodes = _inodes(ours)
        their_inodes = our_inodes if theirs == ours else _inodes(theirs)
        for name, source in wanted:
            if their_inodes.get(source, -1) == our_inodes.get(source):
                yield name, source

    # Beside the sources: <dir>/__pycache__/<module>.<tag>[.opt-N].pyc
    for directory, dirs, files in os.walk(os.path.join(theirs_root, "lib")):
        inside = os.path.relpath(directory, theirs_root)
        if os.path.basename(directory) != "__pycache__":
            if not os.path.isdir(os.path.join(env, inside)):
                dirs.clear()
            continue
        dirs.clear()
        source_dir = os.path.dirname(inside)
        beside = os.path.join(env, inside)
        under_prefix = os.path.join(own_prefix, source_dir)
        for name, _source in matches(
            os.path.join(theirs_root, source_dir), os.path.join(env, source_dir), files
        ):
            yield (
                os.path.join(directory, name),
                (os.path.join(beside, name), os.path.join(under_prefix, name)),
            )
    # Under the env's prefix: pycache/<absolute source dir>/<module>.<tag>[.opt-N].pyc. A source
    # inside the sibling maps into env_dir; any other (the standard library, a project's own
    # modules) is the same path for both.
    prefix = os.path.join(theirs_root, PYCACHE_DIR)
    spellings = {str(path).lstrip(os.sep) + os.sep: str(path) for path in (sibling, sibling.resolve())}
    for directory, dirs, files in os.walk(prefix):
        stored = os.path.relpath(directory, prefix)
        source_dir = other_source_dir = os.sep + stored
        targets_in: tuple[str, ...] = (directory.replace(prefix, os.path.join(env, PYCACHE_DIR), 1),)
        for spelling, path in spellings.items():
            if (stored + os.sep).startswith(spelling):
                inside = stored[len(spelling) :]
                source_dir, other_source_dir = os.path.join(env, inside), os.path.join(path, inside)
                targets_in = (os.path.join(env, inside, "__pycache__"), os.path.join(own_prefix, inside))
                break
        if not os.path.isdir(source_dir):
            dirs.clear()  # not a folder the new env has: nothing below it either
            continue
        for name, _source in matches(other_source_dir, source_dir, files):
            yield os.path.join(directory, name), tuple(os.path.join(folder, name) for folder in targets_in)


def _source_name(pyc_name: str, tag: str) -> str | None:
    """The source of <module>.<tag>.pyc or <module>.<tag>.opt-N.pyc (what CPython writes)."""
    stem, dot, rest = pyc_name.partition(".")
    if not dot or rest not in (f"{tag}.pyc", f"{tag}.opt-1.pyc", f"{tag}.opt-2.pyc"):
        return None
    return f"{stem}.py"


def _inodes(folder: str) -> dict[str, int]:
    """The inode of each regular file in `folder`, from the listing alone (no stat per file). On
    one file system, one inode is one file: the same bytes and times, so a .pyc checks out in both."""
    try:
        with os.scandir(folder) as entries:
            return {e.name: e.inode() for e in entries if e.is_file(follow_symlinks=False)}
    except OSError:
        return {}
