"""One watcher per engine per mlrun process: the one poll loop over every job mlrun follows.

A single run, every point of a sweep and every child `mlrun runs wait` settles registers its job
here. One thread per engine asks the backend about all of them at once (`status_many`: Slurm one
`squeue` call, others what their API lists), stores each job's state and wakes whoever waits on
it. The interval starts short and backs off, so the number of engine calls per second does not
grow with the number of jobs. `cancel` acts on a running job through the same object (a sweep
stops a losing point (`--early-stop`); `cancel_many` a whole sweep).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mlrun_cli.backends.jobs import JobRef
from mlrun_cli.errors import ExecutionError, MlrunError
from mlrun_cli.shared.types import JobState

FIRST_INTERVAL_S = 0.1
MAX_INTERVAL_S = 3.0
BACKOFF = 1.5
OnEnd = Callable[[JobRef, JobState], None]


class Engine(Protocol):
    """What the watcher asks of a backend (every ExecutionBackend has it)."""

    NAME: str

    def status_many(self, refs: Sequence[JobRef]) -> list[JobState | MlrunError]: ...

    def cancel(self, ref: JobRef) -> None: ...

    def cancel_many(self, refs: Sequence[JobRef]) -> None: ...


@dataclass
class _Entry:
    ref: JobRef
    holders: int = 0
    state: JobState | MlrunError | None = None
    round: int = 0
    """The poll round that last answered for this job."""
    on_end: list[OnEnd] = field(default_factory=list)


class Watcher:
    def __init__(self, backend: Engine) -> None:
        self.backend = backend
        self._cond = threading.Condition()
        self._jobs: dict[str, _Entry] = {}
        self._round = 0
        self._interval = FIRST_INTERVAL_S
        self._thread: threading.Thread | None = None
        self.queries = 0
        """How many times the engine was asked (one `status_many` each)."""

    def watch(self, ref: JobRef, on_end: OnEnd | None = None) -> Watch:
        """Follow `ref` until `Watch.close`; `on_end` is called once (from the watcher's thread)
        when the job has ended."""
        with self._cond:
            if not self._jobs:
                self._interval = FIRST_INTERVAL_S  # a new burst of work: answer quickly first
            entry = self._jobs.setdefault(ref.key, _Entry(ref))
            entry.holders += 1
            if on_end is not None:
                entry.on_end.append(on_end)
            if self._thread is None or not self._thread.is_alive():
                name = f"mlrun-watch-{self.backend.NAME or 'jobs'}"
                self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return Watch(self, ref)

    def cancel(self, ref: JobRef) -> None:
        """Stop a job mlrun follows; it ends KILLED (the watcher reports that end as any other)."""
        self.backend.cancel(ref)

    def cancel_many(self, refs: list[JobRef]) -> None:
        """Stop these jobs together (a whole sweep): the engine stops a batch at once."""
        self.backend.cancel_many(refs)

    def _forget(self, ref: JobRef) -> None:
        with self._cond:
            entry = self._jobs.get(ref.key)
            if entry is not None:
                entry.holders -= 1
                if entry.holders <= 0:
                    del self._jobs[ref.key]

    def _state(self, ref: JobRef, seen: int, timeout_s: float) -> tuple[int, JobState | MlrunError | None]:
        """The job's state from a poll round after `seen` (an ended job's state at once)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                entry = self._jobs.get(ref.key)
                if entry is None:
                    return seen, None
                if entry.round > seen or _ended(entry.state):
                    return entry.round, entry.state
                left = deadline - time.monotonic()
                if left <= 0:  # the engine is slow to answer: no news (an old error is not news)
                    return seen, None if isinstance(entry.state, MlrunError) else entry.state
                self._cond.wait(left)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._jobs:
                    self._cond.wait()
                refs = [e.ref for e in self._jobs.values() if not _ended(e.state)]
                interval = self._interval
            answers: dict[str, JobState | MlrunError] = {}
            if refs:
                try:
                    self.queries += 1
                    answers = {
                        ref.key: state
                        for ref, state in zip(refs, self.backend.status_many(refs), strict=True)
                    }
                except MlrunError as error:  # the engine did not answer: every job waits for the next round
                    answers = {ref.key: error for ref in refs}
                except Exception as error:  # a plugin's bug must not stop every wait
                    sys.stderr.write(f"mlrun: warning: reading job states failed: {error!r}\n")
                    answers = {ref.key: ExecutionError(f"reading job states failed: {error}") for ref in refs}
            ended: list[tuple[list[OnEnd], JobRef, JobState]] = []
            with self._cond:
                self._round += 1
                for ref in refs:
                    entry = self._jobs.get(ref.key)
                    if entry is None:
                        continue
                    entry.state = answers.get(ref.key, ExecutionError(f"no state for job {ref.job_id}"))
                    entry.round = self._round
                    if _ended(entry.state) and entry.on_end:
                        ended.append((entry.on_end, entry.ref, entry.state))  # type: ignore[arg-type]
                        entry.on_end = []
                self._interval = min(MAX_INTERVAL_S, interval * BACKOFF)
                self._cond.notify_all()
            for callbacks, ref, state in ended:
                for callback in callbacks:
                    callback(ref, state)
            time.sleep(interval)


def _ended(state: object) -> bool:
    return bool(getattr(state, "done", False)) and not isinstance(state, MlrunError)


class Watch:
    """One waiter's handle on a watched job."""

    def __init__(self, watcher: Watcher, ref: JobRef) -> None:
        self.watcher = watcher
        self.ref = ref
        self._seen = 0
        self._closed = False

    def next_state(self) -> JobState:
        """The job's state from the next poll round (waits for it; an ended job's at once).

        Raises what the engine said when it did not answer, as `ExecutionBackend.status` does."""
        self._seen, state = self.watcher._state(self.ref, self._seen, MAX_INTERVAL_S * 2)
        if isinstance(state, MlrunError):
            raise state
        return state if state is not None else JobState("UNKNOWN", None, None, "waiting for the first answer")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.watcher._forget(self.ref)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


_WATCHERS: dict[str, Watcher] = {}
_LOCK = threading.Lock()


def watcher_for(backend: Engine) -> Watcher:
    """The process's one watcher of this engine (by backend name)."""
    with _LOCK:
        watcher = _WATCHERS.get(backend.NAME)
        if watcher is None:
            watcher = _WATCHERS[backend.NAME] = Watcher(backend)
        return watcher
