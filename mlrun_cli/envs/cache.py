"""Environments cached by content under $MLRUN_HOME/envs/<kind>-<key>, safe under parallel runs.

Environments are built in place (virtualenvs and conda prefixes hold absolute paths, so a
build cannot be moved into place afterwards): a file lock serialises builders, the completion
marker is written last and atomically, and a build that fails or dies is removed or, when found
without its marker, rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlrun_cli.errors import EXIT_INFRA, CommandFailed, InfrastructureError, MlrunError
from mlrun_cli.shared.home import mlrun_home, writable_dir, write_atomic

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


class EnvServiceUnreachable(EnvBuildError, InfrastructureError):
    """The build failed because a package index, conda channel or registry did not answer."""

    exit_code = EXIT_INFRA


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
                from mlrun_cli.envs.network import network_failure  # only on a failure

                if isinstance(error, InfrastructureError) or (
                    isinstance(error, CommandFailed) and network_failure(error.output)
                ):
                    hint = (
                        error.hint or "a package index or channel did not answer (see the log): retry later"
                    )
                    raise EnvServiceUnreachable(message, hint=hint) from None
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


def recent_envs() -> list[Path]:
    """The completed envs in the cache, most recently used first."""
    root = envs_root()
    stamped = []
    for path in root.iterdir() if root.is_dir() else ():
        meta = root / META / path.name
        with contextlib.suppress(OSError):
            if path.is_dir() and (meta / MARKER).is_file():
                last_used = meta / "last-used"
                stamped.append((last_used.stat().st_mtime if last_used.exists() else 0.0, path))
    return [path for _stamp, path in sorted(stamped, reverse=True)]


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
