"""Environments cached by content under $MLRUN_HOME/envs/<kind>-<key>, safe under parallel runs.

Environments are built in place (virtualenvs and conda prefixes hold absolute paths, so a
build cannot be moved into place afterwards): a file lock serialises builders, the completion
marker is written last and atomically, and a build that fails or dies is removed or, when found
without its marker, rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl  # POSIX only, as mlrun is (SIGHUP, process groups)
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlrun_cli.errors import MlrunError
from mlrun_cli.home import mlrun_home, writable_dir, write_atomic

MARKER = "complete.json"
META = ".meta"
TAIL_LINES = 25
_README = (
    "This folder holds environments built by mlrun-cli, one per content key.\n"
    "It is a cache: 'mlrun env prune --all' (or deleting it) is always safe between runs.\n"
)


class EnvBuildError(MlrunError):
    """Building an environment failed; the message ends with the tail of the installer's log."""

    exit_code = 2


@dataclass(frozen=True)
class CachedEnv:
    kind: str
    key: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.key}"

    @property
    def meta_dir(self) -> Path:
        # Beside the environment, not in it: installers want the prefix to themselves.
        return self.path.parent / META / self.name

    @property
    def build_log(self) -> Path:
        return self.meta_dir / "build.log"

    @property
    def freeze_file(self) -> Path:
        return self.meta_dir / "environment.txt"

    @property
    def marker(self) -> Path:
        return self.meta_dir / MARKER

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.marker.read_text(encoding="utf-8"))
        return data


def envs_root() -> Path:
    return mlrun_home() / "envs"


def content_key(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def cached_env(kind: str, key: str) -> CachedEnv:
    return CachedEnv(kind, key, envs_root() / f"{kind}-{key}")


def reuse_problem(env: CachedEnv, health_check: Callable[[Path], str | None]) -> str | None:
    """None when the env can be used as it is; otherwise why it must be (re)built."""
    if not env.path.exists():
        return "not built yet"
    if not env.marker.is_file():
        return "the previous build did not complete"
    return health_check(env.path)


def _prepare_root(root: Path) -> None:
    if root.is_relative_to(mlrun_home()):  # a read-only $MLRUN_HOME is a clear error
        writable_dir(root.relative_to(mlrun_home()))
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "CACHEDIR.TAG").exists():
        (root / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
        (root / "README").write_text(_README)


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-TAIL_LINES:])


def ensure_env(
    env: CachedEnv,
    *,
    build: Callable[[CachedEnv, IO[str]], None],
    health_check: Callable[[Path], str | None],
    metadata: dict[str, Any],
    announce: Callable[[str], None],
    reuse_check: Callable[[Path], str | None] | None = None,
) -> bool:
    """Make sure `env` exists and is healthy; True when this call built it. `reuse_check`: lighter."""
    if reuse_problem(env, reuse_check or health_check) is None:
        _touch_last_used(env)
        return False
    from filelock import FileLock

    _prepare_root(env.path.parent)
    with FileLock(str(env.path.parent / f"{env.name}.lock")):
        # Another process may have built it while this one waited for the lock.
        reason = reuse_problem(env, reuse_check or health_check)
        if reason is None:
            _touch_last_used(env)
            return False
        if env.path.exists():
            announce(f"rebuilding environment {env.name}: {reason}")
        _remove(env)
        failed_log = env.path.parent / f"{env.name}.failed.log"
        failed_log.unlink(missing_ok=True)
        started = time.monotonic()
        try:
            env.meta_dir.mkdir(parents=True)
            with env.build_log.open("w", encoding="utf-8") as log:
                build(env, log)
            problem = health_check(env.path)
            if problem:
                raise EnvBuildError(f"environment {env.name} was built but is not usable: {problem}")
            record = {
                **metadata,
                "kind": env.kind,
                "key": env.key,
                "created": time.time(),
                "build_seconds": round(time.monotonic() - started, 3),
            }
            write_atomic(env.marker, json.dumps(record, indent=2, sort_keys=True))
        except BaseException as error:
            tail = _tail(env.build_log)
            if env.build_log.exists():
                shutil.copyfile(env.build_log, failed_log)
            _remove(env)
            if isinstance(error, MlrunError):
                message = f"building environment {env.name} failed: {error.message}"
                if tail:
                    message += f"\n--- last lines of {failed_log} ---\n{tail}"
                raise EnvBuildError(message, hint=error.hint) from None
            raise
    _touch_last_used(env)
    return True


def _remove(env: CachedEnv) -> None:
    shutil.rmtree(env.path, ignore_errors=True)
    shutil.rmtree(env.meta_dir, ignore_errors=True)


def _touch_last_used(env: CachedEnv) -> None:
    with contextlib.suppress(OSError):  # a read-only cache can still be used
        (env.meta_dir / "last-used").touch()


def _size(path: Path) -> int:
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                total += item.stat().st_size
        except OSError:
            continue
    return total


def _read_marker(marker: Path) -> dict[str, Any] | None:
    """The completion record, or None (with one warning) when it is damaged."""
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        meta = error
    if not isinstance(meta, dict):
        sys.stderr.write(f"mlrun: warning: skipping environment: {marker} is damaged ({meta})\n")
        return None
    return meta


def list_envs() -> list[dict[str, Any]]:
    root = envs_root()
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        marker = root / META / path.name / MARKER
        if not path.is_dir() or not marker.is_file():
            continue
        meta = _read_marker(marker)
        if meta is None:
            continue
        last_used = root / META / path.name / "last-used"
        found.append(
            {
                "name": path.name,
                "kind": meta.get("kind"),
                "key": meta.get("key"),
                "python": meta.get("python"),
                "path": str(path),
                "size_bytes": _size(path),
                "created": meta.get("created"),
                "last_used": last_used.stat().st_mtime if last_used.exists() else meta.get("created"),
            }
        )
    return found


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
            handle = _lease_file(root, self.path.name).open("a+b")
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


def _lease_file(root: Path, name: str) -> Path:
    (root / META).mkdir(parents=True, exist_ok=True)
    return root / META / f"{name}.in-use"


@contextlib.contextmanager
def _unleased(root: Path, name: str) -> Iterator[bool]:
    """True (holding it exclusively) when no run holds the env's lease."""
    with _lease_file(root, name).open("a+b") as handle:
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
