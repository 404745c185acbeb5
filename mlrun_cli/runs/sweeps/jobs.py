"""The sweep's view of the plan's backend: every job of the sweep known, so one Ctrl-C cancels them all.

A thin wrapper through the ExecutionBackend protocol (no backend named): `submit` remembers the
job, `cancel_all` cancels every job still out, and a job that ends after the sweep was cancelled
ends KILLED, whatever its command made of the signal. Used for engines that take one job at a
time; a sweep on an engine that batches goes through runs/sweeps/batch.py instead.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import BinaryIO

from mlrun_cli.backends.base import ExecutionBackend, Job, JobRef, JobState
from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunStatus

CANCELLED = "the sweep was cancelled"


class SweepBackend(ExecutionBackend):
    def __init__(self, inner: ExecutionBackend) -> None:
        self.inner = inner
        self.NAME = inner.NAME
        self.DETACHABLE = inner.DETACHABLE
        self.CONFIG_SCHEMA = inner.CONFIG_SCHEMA
        self.ENV_KINDS = inner.ENV_KINDS
        self.CODE_IN_IMAGE = inner.CODE_IN_IMAGE
        self.cancelled = threading.Event()
        self.signum: int = signal.SIGINT
        self._lock = threading.Lock()
        self._out: dict[str, JobRef] = {}
        self.run_ids: dict[str, str] = {}
        """Run name -> run id, of every job submitted."""
        self.stopped: dict[str, str] = {}
        """Run id -> why, of the points stopped early (`stop_point`)."""

    def submit(self, job: Job) -> JobRef:
        with self._lock:  # known before submitting: a point cancelled meanwhile still has its run
            self.run_ids[job.run_name] = job.run_id
        ref = self.inner.submit(job)
        with self._lock:
            self._out[job.run_id] = ref
        if self.cancelled.is_set() or job.run_id in self.stopped:
            self.inner.cancel(ref)
        return ref

    def status(self, ref: JobRef) -> JobState:
        return self._killed(self.inner.status(ref), self._run_of(ref))

    def stop_point(self, run_id: str, reason: str) -> None:
        """Stop one point (an early-stopping rule said so): its job cancelled as the backend
        cancels any, its run to end KILLED with `reason` (unless it finished meanwhile)."""
        with self._lock:
            self.stopped[run_id] = reason
            ref = self._out.get(run_id)
        if ref is not None:  # else its submit, still under way, cancels it
            with contextlib.suppress(Exception):  # a job that ended meanwhile
                self.inner.cancel(ref)

    def _run_of(self, ref: JobRef) -> str | None:
        with self._lock:
            return next((run_id for run_id, out in self._out.items() if out == ref), None)

    def cancel(self, ref: JobRef) -> None:
        self.inner.cancel(ref)

    def logs(self, ref: JobRef) -> bytes:
        return self.inner.logs(ref)

    def new_output(self, ref: JobRef, offset: int) -> bytes:
        return self.inner.new_output(ref, offset)

    def wait(self, ref: JobRef, *, console_log: Path, stdout: BinaryIO | None = None) -> JobState:
        run_id = self._run_of(ref)
        try:
            if self.cancelled.is_set():
                self.inner.cancel(ref)
                return self._killed(JobState("CANCELLED", RunStatus.KILLED))
            return self._killed(self.inner.wait(ref, console_log=console_log, stdout=stdout), run_id)
        finally:
            with self._lock:
                self._out = {k: v for k, v in self._out.items() if v != ref}

    def _killed(self, state: JobState, run_id: str | None = None) -> JobState:
        if not state.done or state.status is RunStatus.FINISHED:
            return state
        if not self.cancelled.is_set():
            reason = self.stopped.get(run_id or "")
            if reason is None:
                return state
            return JobState(state.state, RunStatus.KILLED, tags.exit_code_for_signal(signal.SIGTERM), reason)
        code = tags.exit_code_for_signal(self.signum)
        return JobState(state.state, RunStatus.KILLED, code, CANCELLED, self.signum)

    def cancel_all(self, signum: int = signal.SIGINT) -> int:
        """Cancel every job still out (again, for one that was starting meanwhile); how many."""
        if not self.cancelled.is_set():
            self.signum = signum
            self.cancelled.set()
        with self._lock:
            out = list(self._out.values())
        for ref in out:
            with contextlib.suppress(Exception):  # a job that ended meanwhile
                self.inner.cancel(ref)
        return len(out)
