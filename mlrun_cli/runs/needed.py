"""The run cache (`--needed`): a FINISHED run with the same fingerprint, in the same experiment,
in the target store, is reused instead of run again.

In flight counts: a `--needed` run holds a lock on its fingerprint (in `$MLRUN_HOME/needed/`) from
its search to its end, so an identical `--needed` run started meanwhile on this host waits for it,
then finds it done. An identical run that is RUNNING without that lock (started without
`--needed`) is waited for too while its mlrun lives (app/ownership.py). Should the twin not
finish (failed, killed), the waiting run says so and runs the command itself: a failure is not
a result to reuse, and running again is what `--needed` would have done had they not overlapped.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterator

from mlrun_cli.app import ownership
from mlrun_cli.shared import tags
from mlrun_cli.shared.home import mlrun_home, writable_dir
from mlrun_cli.tracking import NO_TRACKING, get_tracker
from mlrun_cli.tracking.base import RunRecord, RunStatus, Tracker, find_runs_by_tag


def experiment_id_for(tracker: Tracker, name: str | None, experiment_id: str | None) -> str | None:
    """The experiment a run would record into, without creating it (None: it does not exist)."""
    if experiment_id is not None:
        return experiment_id
    if name is not None:
        found = tracker.get_experiment_by_name(name)
        return None if found is None else found.experiment_id
    return tracker.resolve_experiment(None, None).experiment_id


def done_run(tracker: Tracker, experiment_id: str | None, fingerprint: str) -> RunRecord | None:
    """The newest FINISHED run with this fingerprint, if any."""
    if experiment_id is None or tracker.uri == NO_TRACKING:
        return None
    runs = find_runs_by_tag(tracker, experiment_id, tags.FINGERPRINT, fingerprint)
    finished = [r for r in runs if r.status is RunStatus.FINISHED]
    return max(finished, key=lambda r: r.start_time_ms) if finished else None


def find_done(
    tracking_uri: str,
    experiment_name: str | None,
    experiment_id: str | None,
    fingerprint: str,
    *,
    wait: bool = False,
    waited: bool = False,
) -> RunRecord | None:
    """The FINISHED run to reuse. With `wait`, an identical run in flight (RUNNING, its mlrun
    alive on this host) is waited for first; `waited`: the fingerprint's lock was waited for."""
    if tracking_uri == NO_TRACKING:
        return None
    tracker = get_tracker(tracking_uri)
    tracker.check()  # as the run would: a store that cannot be used is reported here
    found_id = experiment_id_for(tracker, experiment_name, experiment_id)
    if found_id is None:
        return None
    while True:
        runs = find_runs_by_tag(tracker, found_id, tags.FINGERPRINT, fingerprint)
        finished = [r for r in runs if r.status is RunStatus.FINISHED]
        if finished:
            return max(finished, key=lambda r: r.start_time_ms)
        twin = _live_twin(runs) if wait else None
        if twin is None:
            break
        sys.stderr.write(f"mlrun: an identical run {twin.run_id} is running; waiting for it to end\n")
        ownership.wait_for_owner(twin, None)
        waited = True
    if waited and runs:
        last = max(runs, key=lambda r: r.start_time_ms)
        sys.stderr.write(
            f"mlrun: the identical run {last.run_id} ended {last.status.name}, not FINISHED: "
            "running it here\n"
        )
    return None


def _live_twin(runs: list[RunRecord]) -> ownership.Owner | None:
    for run in runs:
        if run.status is RunStatus.RUNNING:
            owner = ownership.live_owner(run.run_id)
            if owner is not None and owner.pid != os.getpid():
                return owner
    return None


def _lock_name(
    tracking_uri: str, experiment_name: str | None, experiment_id: str | None, fingerprint: str
) -> str:
    """The fingerprint's lock; the key is a hash (a tracking URI may hold a credential)."""
    text = f"{tracking_uri}\0{experiment_name}\0{experiment_id}\0{fingerprint}"
    return f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.lock"


@contextlib.contextmanager
def in_flight(
    tracking_uri: str, experiment_name: str | None, experiment_id: str | None, fingerprint: str
) -> Iterator[bool]:
    """Hold the fingerprint's lock (the kernel drops it however this process ends); True when an
    identical `--needed` run held it and was waited for."""
    import fcntl

    path = writable_dir("needed") / _lock_name(tracking_uri, experiment_name, experiment_id, fingerprint)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        waited = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.stderr.write("mlrun: an identical --needed run is in flight here; waiting for it to end\n")
            fcntl.flock(fd, fcntl.LOCK_EX)
            waited = True
        yield waited
    finally:
        os.close(fd)


def in_flight_now(
    tracking_uri: str, experiment_name: str | None, experiment_id: str | None, fingerprint: str
) -> str | None:
    """What a real `--needed` run would wait for now (for --dry-run): None if nothing."""
    import fcntl

    with contextlib.suppress(OSError):
        lock = mlrun_home() / "needed" / _lock_name(tracking_uri, experiment_name, experiment_id, fingerprint)
        fd = os.open(lock, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return "an identical --needed run"
        finally:
            os.close(fd)
    if tracking_uri == NO_TRACKING:
        return None
    tracker = get_tracker(tracking_uri)
    found_id = experiment_id_for(tracker, experiment_name, experiment_id)
    if found_id is None:
        return None
    twin = _live_twin(find_runs_by_tag(tracker, found_id, tags.FINGERPRINT, fingerprint))
    return None if twin is None else f"the identical run {twin.run_id}"
