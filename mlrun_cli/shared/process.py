"""The one subprocess helper (git's hardened runner, sources/git/run.py, is the one other): child env
from a patch, a command in its own process group with its output teed live to a log, signals
forwarded, short client and build commands, a child on pipes, a detached helper; process groups
signalled and stopped here only."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, TypeAlias

from mlrun_cli.errors import CommandFailed, ExecutionError
from mlrun_cli.shared.streaming import ConsoleLog, Sink, read_pipe, start_pumps
from mlrun_cli.shared.tags import exit_code_for_signal, exit_code_of

DEFAULT_GRACE_S = 10.0
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    """What mlrun should exit with: the child's code, 128+N for a signal."""
    interrupted_by: int | None
    """The signal that mlrun received and forwarded, if the run was stopped."""
    duration_s: float


def merged_env(patch: Mapping[str, str | None], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default: os.environ) with `patch` applied; None unsets a variable."""
    env = dict(os.environ if base is None else base)
    for key, value in patch.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: the child is killed the moment mlrun dies, even by SIGKILL (a parent-death signal).

    It reaches the command itself when bash execs it (a simple command); what a compound command
    leaves is stopped by the next mlrun command's reap pass (mlrun_cli.app.reaper). The signal follows
    the *thread* that started the child: call this from a thread that outlives the child.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def arm() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # mlrun died before the signal was armed
            os._exit(1)

    return arm


def signal_group(pgid: int, signum: int) -> None:
    """Send `signum` to every process of the group; a group already gone is no error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def kill_group_after(pgid: int, signum: int, grace_s: float) -> threading.Timer:
    """`signum` to the group now, SIGKILL `grace_s` later (cancel the timer when it ended);
    never blocks, so it is safe in a signal handler and from any thread."""
    signal_group(pgid, signum)
    killer = threading.Timer(grace_s, signal_group, (pgid, signal.SIGKILL))
    killer.daemon = True
    killer.start()
    return killer


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies waiting to be reaped do not count)."""
    proc_root = Path("/proc")
    if not proc_root.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc_root.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_group(pgid: int, deadline: float, poll_s: float = 0.05) -> None:
    """SIGTERM to the group, then SIGKILL to what is still alive at `deadline` (time.monotonic())."""
    signal_group(pgid, signal.SIGTERM)
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(poll_s)
    signal_group(pgid, signal.SIGKILL)


def run_streaming(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    grace_s: float = DEFAULT_GRACE_S,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    on_start: Callable[[int], None] | None = None,
    die_with_parent: bool = False,
) -> Outcome:
    """Run `argv` in its own process group, streaming its output live and into `log_path`.

    SIGINT/SIGTERM/SIGHUP received meanwhile are forwarded to the whole group; whatever is still
    alive `grace_s` later (or at a second signal) is killed.
    """
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr.buffer
    start = time.monotonic()
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv is a list, never a shell string
            list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, preexec_fn=_die_with_parent() if die_with_parent else None,
        )  # fmt: skip
    except OSError as error:
        raise ExecutionError(f"cannot start {argv[0]!r}: {error}") from None
    if on_start is not None:
        on_start(proc.pid)
    received: list[int] = []
    killer: list[threading.Timer] = []
    deadline = [0.0]

    def on_signal(signum: int, _frame: object) -> None:
        if received:  # a second signal: stop waiting
            signal_group(proc.pid, signal.SIGKILL)
            return
        received.append(signum)
        deadline[0] = time.monotonic() + grace_s
        killer.append(kill_group_after(proc.pid, signum, grace_s))

    in_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, on_signal) for s in _FORWARDED} if in_main else {}
    with ConsoleLog(log_path) as log:
        assert proc.stdout is not None and proc.stderr is not None
        sinks = [Sink(log, out), Sink(log, err)]
        pumps = start_pumps(zip((read_pipe(proc.stdout), read_pipe(proc.stderr)), sinks, strict=True))
        try:
            returncode = proc.wait()
        finally:
            if proc.poll() is None:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
            for timer in killer:
                timer.cancel()
            if received:
                # Background jobs of a non-interactive shell ignore SIGINT: end them too.
                stop_group(proc.pid, deadline[0])
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for pump in pumps:
                # A background grandchild may hold the pipe open; do not wait for it forever.
                pump.join(timeout=2.0)
            for sink in sinks:
                sink.close()  # what it held back goes into the log; later output is not the run's
    duration = time.monotonic() - start
    if received:
        return Outcome(exit_code_for_signal(received[0]), received[0], duration)
    return Outcome(exit_code_of(returncode), None, duration)


def run_logged(
    argv: Sequence[str],
    *,
    log: IO[str],
    env_patch: Mapping[str, str | None] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> str:
    """Run a build step, appending its output to `log`; CommandFailed names the step.
    Returns the step's standard output (also written to the log)."""
    log.write(f"$ {shlex.join(argv)}\n")
    log.flush()
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv is a list, never a shell string
            list(argv), cwd=cwd, env=merged_env(env_patch or {}),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
    except OSError as error:
        log.write(f"{error}\n")
        raise CommandFailed(argv, None, str(error)) from None
    # Into the log as it comes, so build progress can show the step's own counts live.
    assert proc.stdout is not None and proc.stderr is not None
    captured: tuple[list[str], list[str]] = ([], [])
    lock = threading.Lock()

    def copy(pipe: IO[bytes], into: list[str]) -> None:
        for chunk in read_pipe(pipe):
            text = chunk.decode("utf-8", errors="replace")
            into.append(text)
            with lock:
                log.write(text)

    copiers = [
        threading.Thread(target=copy, args=(pipe, into), daemon=True)
        for pipe, into in zip((proc.stdout, proc.stderr), captured, strict=True)
    ]
    for copier in copiers:
        copier.start()
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        returncode = None
    for copier in copiers:
        copier.join(timeout=5.0)
    log.flush()
    stdout, stderr = ("".join(parts) for parts in captured)
    if returncode is None:
        log.write(f"timed out after {timeout}s\n")
        raise CommandFailed(argv, None, f"timed out after {timeout}s")
    if returncode != 0:
        raise CommandFailed(argv, returncode, stderr or stdout)
    return stdout


def run_captured(
    argv: Sequence[str], *, timeout: float = 60, env_patch: Mapping[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a short client command (sbatch, squeue, ...) and capture its output. ExecutionError
    when it cannot be started or does not answer in time; the caller reads the return code."""
    try:
        return subprocess.run(  # noqa: S603 - argv is a list, never a shell string
            list(argv), env=merged_env(env_patch or {}), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise ExecutionError(f"{argv[0]!r} is not installed (not found on PATH)") from None
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ExecutionError(f"'{shlex.join(argv[:3])}' failed: {error}") from None


ChildProcess: TypeAlias = "subprocess.Popen[bytes]"


def start_piped(argv: Sequence[str], env_patch: Mapping[str, str | None]) -> ChildProcess:
    """Start `argv` with its stdin, stdout and stderr on pipes (its signals are its own)."""
    pipe = subprocess.PIPE
    return subprocess.Popen(  # noqa: S603 - argv is a list, never a shell string
        list(argv), stdin=pipe, stdout=pipe, stderr=pipe, env=merged_env(env_patch)
    )


def output_of(proc: ChildProcess, timeout: float | None) -> bytes | None:
    """A piped child's whole stdout once it ended; None when it had not ended after `timeout`."""
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        return None


_detached: list[ChildProcess] = []  # kept: none is collected while it still runs


def start_detached(argv: Sequence[str], env_patch: Mapping[str, str | None]) -> None:
    """Start a helper that outlives this command (its own session, no output), without waiting."""
    quiet = subprocess.DEVNULL
    with contextlib.suppress(OSError):  # best effort: the next command tries again
        helper = subprocess.Popen(  # noqa: S603 - argv is a list, never a shell string
            list(argv), env=merged_env(env_patch), stdin=quiet, stdout=quiet, stderr=quiet,
            start_new_session=True,
        )  # fmt: skip
        _detached.append(helper)
