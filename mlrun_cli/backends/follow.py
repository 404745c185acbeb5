"""Following a queued job to its end: poll its state, copy new output as it comes, and cancel the
job when mlrun is interrupted. Shared by the backends whose jobs run outside mlrun."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from mlrun_cli.backends.base import JobState
from mlrun_cli.errors import ExecutionError, MlrunError
from mlrun_cli.tracking.base import RunStatus

FIRST_INTERVAL_S = 0.1
MAX_INTERVAL_S = 3.0
QUICK_PHASE_S = 5.0
"""Polled every 0.1 s at first (short jobs end fast), then less and less often."""
LOST_CONTACT_S = 120.0
CANCEL_WAIT_S = 60.0


class Sinks:
    """Where new output goes: the terminal (best effort) and the console log (always)."""

    def __init__(self, console_log: Path, stdout: BinaryIO | None) -> None:
        self.console_log = console_log
        self.stdout: BinaryIO | None = stdout if stdout is not None else sys.stdout.buffer

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        with self.console_log.open("ab") as log:
            log.write(chunk)
        if self.stdout is not None:
            try:
                self.stdout.write(chunk)
                self.stdout.flush()
            except (OSError, ValueError):
                self.stdout = None  # our own output went away; keep logging


def _interval(started: float, previous: float) -> float:
    if time.monotonic() - started < QUICK_PHASE_S:
        return FIRST_INTERVAL_S
    return min(MAX_INTERVAL_S, previous * 1.5)


def _poll(status: Callable[[], JobState], lost_since: list[float]) -> JobState | None:
    """One status query; transient failures are tolerated for LOST_CONTACT_S."""
    try:
        state = status()
    except MlrunError as error:
        now = time.monotonic()
        if not lost_since:
            lost_since.append(now)
        if now - lost_since[0] > LOST_CONTACT_S:
            raise ExecutionError(
                f"lost contact with the cluster for {LOST_CONTACT_S:.0f} s: {error}"
            ) from None
        return None
    lost_since.clear()
    return state


def follow(
    status: Callable[[], JobState],
    new_output: Callable[[], bytes],
    cancel: Callable[[], None],
    sinks: Sinks,
) -> JobState:
    """Poll until the job ends; on Ctrl-C or SIGTERM cancel it and return it KILLED."""
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
            sinks.write(new_output())
            if state is not None and state.done:
                sinks.write(new_output())  # what landed between the query and the read
                return state
            interval = _interval(started, interval)
            time.sleep(interval)
    except KeyboardInterrupt as interrupt:
        signum = int(getattr(interrupt, "signum", signal.SIGINT))
        return _cancel_and_drain(status, new_output, cancel, sinks, signum)


def _cancel_and_drain(
    status: Callable[[], JobState],
    new_output: Callable[[], bytes],
    cancel: Callable[[], None],
    sinks: Sinks,
    signum: int,
) -> JobState:
    sys.stderr.write(f"mlrun: signal {signum}: cancelling the job\n")
    cancel()
    deadline = time.monotonic() + CANCEL_WAIT_S
    state: JobState | None = None
    while time.monotonic() < deadline:
        try:
            state = status()
        except MlrunError:
            state = None
        sinks.write(new_output())
        if state is not None and state.done:
            break
        time.sleep(0.2)
    sinks.write(new_output())
    word = state.state if state is not None else "CANCELLED"
    return JobState(word, RunStatus.KILLED, 128 + signum, f"cancelled by mlrun on signal {signum}", signum)
