"""The content of `path` parameters, for the run's fingerprint: a file by its bytes, a folder by its
names and bytes. A stat cache in `$MLRUN_HOME/cache/digests.json` (device, inode, size, mtime_ns,
ctime_ns -> digest) spares reading unchanged big data again; any stat change (a touched time stamp
too) reads the file again, and the same bytes give the same digest. The ctime, which no one can
set back, catches bytes rewritten in place with size and mtime kept (`cp -p` over the file). A
damaged cache is skipped with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from mlrun_cli.shared.home import mlrun_home, write_atomic

MAX_ENTRIES = 200_000
"""Files the cache remembers (about 100 bytes each); the oldest go first."""


def _cache_file() -> Path:
    return mlrun_home() / "cache" / "digests.json"


class StatCache:
    def __init__(self) -> None:
        self.entries: dict[str, list[object]] = {}
        self.changed = False
        path = _cache_file()
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or not all(
                isinstance(v, list) and len(v) == 4 and isinstance(v[3], str) for v in data.values()
            ):
                raise ValueError("not a map of files to [size, mtime_ns, ctime_ns, digest]")
            self.entries = data
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as error:
            sys.stderr.write(f"mlrun: warning: the digest cache {path} is damaged, skipped: {error}\n")

    def file_digest(self, path: Path) -> str:
        found = path.stat()
        key = f"{found.st_dev}:{found.st_ino}"
        cached = self.entries.get(key)
        stat = [found.st_size, found.st_mtime_ns, found.st_ctime_ns]
        if cached is not None and cached[:3] == stat:
            return str(cached[3])
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()[:32]
        self.entries.pop(key, None)  # re-inserted last: the newest is kept longest
        self.entries[key] = [*stat, value]
        self.changed = True
        return value

    def save(self) -> None:
        if not self.changed:
            return
        kept = dict(list(self.entries.items())[-MAX_ENTRIES:])
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
            write_atomic(_cache_file(), json.dumps(kept, separators=(",", ":")))


def _digest(path: Path, cache: StatCache) -> str:
    if path.is_symlink() and not path.exists():
        return "link:" + os.readlink(path)
    if path.is_file():
        return "file:" + cache.file_digest(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for folder, dirs, files in os.walk(path, followlinks=False):
            dirs.sort()
            base = Path(folder)
            for name in sorted(files):
                entry = base / name
                relative = os.fsencode(entry.relative_to(path).as_posix())
                try:
                    content = cache.file_digest(entry) if entry.is_file() else "other"
                except OSError:
                    content = "unreadable"
                digest.update(relative + b"\0" + content.encode() + b"\0")
        return "folder:" + digest.hexdigest()[:32]
    return "missing"


def digests(values: Mapping[str, str]) -> dict[str, str]:
    """{parameter: content digest} of the given local paths (absolute, as the command gets them)."""
    if not values:
        return {}
    cache = StatCache()
    found = {}
    for name, value in sorted(values.items()):
        try:
            found[name] = _digest(Path(value), cache)
        except OSError as error:
            found[name] = f"unreadable:{error.strerror}"
    cache.save()
    return found
