"""Leases on cached environments, and pruning: a job holds a shared lease on the env it uses,
so `mlrun env prune` (which takes it exclusively, without waiting) never removes an env in use.
"""

from __future__ import annotations

import contextlib
import fcntl  # POSIX only, as mlrun is (SIGHUP, process groups)
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from mlrun_cli.envs.cache import META, envs_root
from mlrun_cli.errors import MlrunError


class EnvLease:
    """Held while a job uses a cached environment: `mlrun env prune` leaves it alone.

    A shared lock (flock) on $MLRUN_HOME/envs/.meta/<name>.in-use: any number of runs hold it at
    once, prune takes it exclusively (without waiting) before removing. The kernel drops it when
    the holder dies, even by kill -9. Paths outside the cache (local, docker) need none.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None

    def acquire(self) -> EnvLease:
        root = envs_root()
        if self.path is None or self.path.parent != root:
            return self
        try:
            handle = lease_file(root, self.path.name).open("a+b")
        except OSError:  # a cache this user cannot write is not pruned by this user either
            return self
        fcntl.flock(handle, fcntl.LOCK_SH)  # waits only while a prune is removing it
        if not self.path.is_dir():
            handle.close()
            raise MlrunError(
                f"environment {self.path.name} was removed (mlrun env prune) as the run started",
                hint="run again: it will be rebuilt",
            )
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the lock
            self._handle = None

    def __enter__(self) -> EnvLease:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


def lease(path: Path | None) -> EnvLease:
    """`with lease(prepared.path):` around a job keeps its environment from being pruned."""
    return EnvLease(path)


def lease_file(root: Path, name: str) -> Path:
    (root / META).mkdir(parents=True, exist_ok=True)
    return root / META / f"{name}.in-use"


@contextlib.contextmanager
def _unleased(root: Path, name: str) -> Iterator[bool]:
    """True (holding it exclusively) when no run holds the env's lease."""
    with lease_file(root, name).open("a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def prune_envs(*, older_than_days: float | None) -> list[str]:
    """Remove environments unused for that many days (all when None); returns their names.
    Environments in use by a running job are kept, with one line saying so."""
    from filelock import FileLock, Timeout

    root = envs_root()
    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    removed = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not path.is_dir() or path.name == META:
            continue
        last_used = root / META / path.name / "last-used"
        stamp = last_used.stat().st_mtime if last_used.exists() else path.stat().st_mtime
        if cutoff is not None and stamp >= cutoff:
            continue
        try:
            with FileLock(str(root / f"{path.name}.lock"), timeout=0), _unleased(root, path.name) as free:
                if not free:
                    sys.stderr.write(f"mlrun: keeping environment {path.name}: a running job uses it\n")
                    continue
                shutil.rmtree(path)
                shutil.rmtree(root / META / path.name, ignore_errors=True)
                (root / META / f"{path.name}.in-use").unlink(missing_ok=True)
        except Timeout:
            continue  # being built right now
        (root / f"{path.name}.lock").unlink(missing_ok=True)
        removed.append(path.name)
    return removed
