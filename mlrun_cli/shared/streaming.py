"""Output and polling, once for every way a command runs.

A job's output goes to two places: the terminal, best effort (a closed pipe must not stop the
run), and the run's console log, always. The same pump serves a local process's pipes and a
container's attach stream; the same poll loop follows a cluster job, attached or from
`mlrun runs wait`, and survives the cluster not answering for a while.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO, Protocol, TypeVar

from mlrun_cli.errors import EXIT_FAILURE, InfrastructureError, MlrunError


class _State(Protocol):
    """What the loop reads of a backend's job state (mlrun_cli.backends.base.JobState)."""

    @property
    def done(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str: ...


JobState = TypeVar("JobState", bound=_State)

FIRST_INTERVAL_S = 0.1
MAX_INTERVAL_S = 3.0
QUICK_PHASE_S = 5.0
"""Polled every 0.1 s at first (short jobs end fast), then less and less often."""
LOST_CONTACT_S = 120.0
CANCEL_WAIT_S = 60.0


class StillRunning(MlrunError):
    """`mlrun runs wait --timeout` gave up; the job goes on."""

    exit_code = EXIT_FAILURE


class ConsoleLog:
    """The run's console log; several pumps (stdout, stderr) write it at once."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("ab")
        self._lock = threading.Lock()

    def write(self, chunk: bytes) -> None:
        with self._lock:
            if not self._file.closed:  # a grandchild may hold the pipe past the run's end
                self._file.write(chunk)
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> ConsoleLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_MASKED: dict[bytes, int] = {}
"""Secret values (with how many runs of this process hide them) that no output may show."""
_MASKED_LOCK = threading.Lock()


@contextmanager
def masking(values: Iterable[str]) -> Iterator[None]:
    """While it lasts, every Sink made writes `***` for each of these values (terminal and log)."""
    added = [value.encode() for value in values if value]
    with _MASKED_LOCK:
        for value in added:
            _MASKED[value] = _MASKED.get(value, 0) + 1
    try:
        yield
    finally:
        with _MASKED_LOCK:
            for value in added:
                _MASKED[value] -= 1
                if not _MASKED[value]:
                    del _MASKED[value]


class Sink:
    """One stream of output: to the terminal (best effort) and the console log (always), with the
    secrets known when it was made masked for as long as it lives (even if a grandchild outlives
    the run). Once closed, it writes nothing more."""

    def __init__(self, log: ConsoleLog, terminal: BinaryIO | None) -> None:
        self.log = log
        self.terminal = terminal
        with _MASKED_LOCK:
            self._secrets = sorted(_MASKED, key=len, reverse=True)
        self._keep = max((len(value) for value in self._secrets), default=1) - 1
        self._held = b""
        """The end of the output so far that could begin a secret: written once it cannot."""
        self._lock = threading.Lock()
        self._closed = False

    def write(self, chunk: bytes) -> None:
        with self._lock:
            if self._closed:
                return  # a grandchild still writing after the run ended: not the run's output
            if self._secrets:
                chunk = self._mask(chunk)
            self._emit(chunk)

    def finish(self) -> None:
        """The stream ended: what was held back goes out (masked)."""
        with self._lock:
            held, self._held = self._held, b""
            self._emit(self._replace(held))

    def close(self) -> None:
        """The run is over: flush what was held back and take nothing more."""
        self.finish()
        with self._lock:
            self._closed = True

    def _replace(self, data: bytes) -> bytes:
        for value in self._secrets:
            data = data.replace(value, b"***")
        return data

    def _mask(self, chunk: bytes) -> bytes:
        data = self._replace(self._held + chunk)
        cut = max(0, len(data) - self._keep)
        self._held = data[cut:]
        return data[:cut]

    def _emit(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self.terminal is not None:
            try:
                self.terminal.write(chunk)
                self.terminal.flush()
            except (OSError, ValueError):
                self.terminal = None  # our own output went away (closed pipe); keep logging
        self.log.write(chunk)


def pump(chunks: Iterable[bytes], sink: Sink) -> None:
    for chunk in chunks:
        sink.write(chunk)
    sink.finish()


def read_pipe(pipe: IO[bytes]) -> Iterator[bytes]:
    """A pipe's bytes as they come (not line by line: progress bars stay live)."""
    while chunk := os.read(pipe.fileno(), 65536):
        yield chunk
    pipe.close()


def start_pumps(streams: Iterable[tuple[Iterable[bytes], Sink]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=pump, args=pair, daemon=True) for pair in streams]
    for thread in threads:
        thread.start()
    return threads


def _interval(started: float, previous: float) -> float:
    if time.monotonic() - started < QUICK_PHASE_S:
        return FIRST_INTERVAL_S
    return min(MAX_INTERVAL_S, previous * 1.5)


def _poll(status: Callable[[], JobState], lost_since: list[float]) -> JobState | None:
    """One status query; failures are tolerated for LOST_CONTACT_S in a row."""
    try:
        state = status()
    except MlrunError as error:
        now = time.monotonic()
        if not lost_since:
            lost_since.append(now)
        if now - lost_since[0] > LOST_CONTACT_S:
            raise InfrastructureError(
                f"lost contact with the cluster for {LOST_CONTACT_S:.0f} s: {error.message}"
            ) from error
        sys.stderr.write(f"mlrun: warning: {error.message} (retrying)\n")
        return None
    lost_since.clear()
    return state


def follow(
    status: Callable[[], JobState],
    new_output: Callable[[], bytes],
    sink: Sink,
    *,
    cancel: Callable[[], None] | None = None,
    cancelled: Callable[[JobState | None, int], JobState] | None = None,
    timeout_s: float | None = None,
    what: str = "the job",
    job_label: str = "job",
    paced: bool = False,
) -> JobState:
    """Poll until the job ends, copying its new output as it comes.

    On Ctrl-C or SIGTERM: with `cancel`, cancel the job and return `cancelled(last state, signal)`
    (a KILLED state); without (following a job mlrun did not start, as `mlrun runs wait` does),
    stop waiting and let the job go on. `paced`: `status` itself waits for the next answer (the
    engine's watcher polls for every job at once), so no sleep of our own between polls.
    """
    started = time.monotonic()
    interval = FIRST_INTERVAL_S
    lost_since: list[float] = []
    shown = ""
    try:
        while True:
            state = _poll(status, lost_since)
            if state is not None and not state.done and (state.reason or state.state) != shown:
                shown = state.reason or state.state
                sys.stderr.write(f"mlrun: job {shown}\n")  # why it waits: PENDING (Resources), ...
                sys.stderr.flush()
            sink.write(_quietly(new_output))
            if state is not None and state.done:
                sink.write(_quietly(new_output))  # what landed between the query and the read
                sink.finish()
                return state
            if timeout_s is not None and time.monotonic() - started >= timeout_s:
                raise StillRunning(
                    f"{what} has not ended after {timeout_s:g} s ({job_label}: {shown or 'state unknown'})",
                    hint="it goes on; wait again later",
                )
            interval = _interval(started, interval)
            if not paced:
                time.sleep(interval)
    except KeyboardInterrupt as interrupt:
        if cancel is None or cancelled is None:
            raise
        signum = int(getattr(interrupt, "signum", signal.SIGINT))
        return cancelled(_cancel_and_drain(status, new_output, cancel, sink, signum), signum)


def _quietly(new_output: Callable[[], bytes]) -> bytes:
    try:
        return new_output()
    except MlrunError:
        return b""  # the log is read again at the next poll


def _cancel_and_drain(
    status: Callable[[], JobState],
    new_output: Callable[[], bytes],
    cancel: Callable[[], None],
    sink: Sink,
    signum: int,
) -> JobState | None:
    """Cancel, then follow the job until it says it ended (bounded); its last state, if any."""
    sys.stderr.write(f"mlrun: signal {signum}: cancelling the job\n")
    cancel()
    deadline = time.monotonic() + CANCEL_WAIT_S
    state: JobState | None = None
    while time.monotonic() < deadline:
        try:
            state = status()
        except MlrunError:
            state = None
        sink.write(_quietly(new_output))
        if state is not None and state.done:
            break
        time.sleep(0.2)
    sink.write(_quietly(new_output))
    sink.finish()
    return state
