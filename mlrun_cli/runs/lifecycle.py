"""A run's life, from creation to its terminal record, whichever mlrun process sees it end.

`execute` builds the planned env, creates the run, records what it is made of, submits the job
to the plan's backend, follows it (stopping it at its time limit) and records the end; any
failure after creation ends the run FAILED (KILLED on a signal). A job that outlives mlrun
(`--detach`) is settled later from the run's tags (runs/detached.py), with the same record_end.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from mlrun_cli.app import ownership
from mlrun_cli.backends.base import Job, JobRef, JobState
from mlrun_cli.envs.base import PreparedEnv
from mlrun_cli.envs.leases import lease
from mlrun_cli.errors import MlrunError, Terminated
from mlrun_cli.project.durations import format_duration
from mlrun_cli.runs import fingerprint, outputs
from mlrun_cli.runs.plan import RunPlan
from mlrun_cli.runs.result import RunResult
from mlrun_cli.shared import job_records, tags
from mlrun_cli.shared.home import writable_dir
from mlrun_cli.shared.streaming import masking
from mlrun_cli.tracking import NO_TRACKING, get_tracker
from mlrun_cli.tracking.base import RunRef, RunStatus, Tracker
from mlrun_cli.tracking.outbox import Recorder
from mlrun_cli.version import __version__

CONSOLE_LOG = "console.log"
ARTIFACT_DIR = "mlrun"
JOB_SCRIPT = "job.sh"
TIMED_OUT = "TIMEOUT"
CANCEL_TRIES = 5


def job_dir(run_id: str) -> Path:
    """The run's own folder under $MLRUN_HOME: job scripts and output a cluster can reach."""
    return writable_dir("jobs") / run_id


def now_ms() -> int:
    return int(time.time() * 1000)


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return os.environ.get("USER") or "unknown"


def start_tags(plan: RunPlan, env: PreparedEnv, user: str) -> dict[str, str]:
    return {
        tags.USER: user,
        tags.SOURCE_NAME: plan.source.name,
        tags.SOURCE_TYPE: "PROJECT",
        tags.ENTRY_POINT: plan.entry.name,
        tags.ENV: plan.env.manager,
        tags.BACKEND: plan.backend.NAME,
        tags.RUN_NAME: plan.run_name,
        tags.COMMAND: plan.command[: tags.MAX_TAG_LENGTH],
        tags.VERSION: __version__,
        **plan.source.tags,
        **env.tags,
        **plan.own_tags(),  # fingerprint; a sweep point's parent; which attempt
    }


def execute(plan: RunPlan, *, echo: BinaryIO, child_stdout: BinaryIO | None) -> RunResult:
    """Run the plan and always leave the run it creates with a terminal status."""
    # The environment first: a failed build leaves no trace in the tracking store...
    try:
        env = plan.env.build()
    except BaseException as error:
        if plan.continued is not None:  # ...but a run given with --run-id is ours to end
            _fail_continued(plan, error)
        raise
    with lease(env.path):  # `mlrun env prune` keeps the env while the job uses it
        return _execute(plan, env, echo, child_stdout)


def _execute(plan: RunPlan, env: PreparedEnv, echo: BinaryIO, child_stdout: BinaryIO | None) -> RunResult:
    tracker = get_tracker(plan.tracking_uri)
    writable_dir("jobs")  # a read-only or full $MLRUN_HOME: exit 75 before the store is touched
    tracker.check()
    experiment = tracker.resolve_experiment(plan.experiment_name, plan.experiment_id)
    user = user_name()
    scratch = Path(tempfile.mkdtemp(prefix="mlrun-"))  # before the run: nothing can fail between
    if plan.continued is None:
        run_ref = tracker.create_run(
            experiment.experiment_id, plan.run_name, user, now_ms(), start_tags(plan, env, user)
        )
    else:  # --run-id: an existing run, not yet ended, gets this run's tags
        from mlrun_cli.runs.resume import continue_run

        run_ref = continue_run(tracker, plan.continued, start_tags(plan, env, user))
    recorder = Recorder(tracker, run_ref)
    started = time.monotonic()
    submitted = False
    try:
        ownership.claim(
            run_ref.run_id, run_ref.experiment_id, run_ref.artifact_uri, tracker.uri,
            detachable=plan.backend.DETACHABLE, scratch=scratch,
        )  # fmt: skip
        recorder.log_batch(plan.bound.all_values(), {})
        _log_provenance(recorder, plan, env.artifacts, scratch)
        where = "(not recorded)" if tracker.uri == NO_TRACKING else f"in experiment '{experiment.name}'"
        echo.write(f"mlrun: run {run_ref.run_id} ({plan.run_name}) {where}: {plan.command}\n".encode())
        echo.flush()
        job = _job(plan, env, run_ref, tracker.child_env(run_ref))
        watched = outputs.watch(plan.source, in_place=not plan.detach and job.cwd == plan.project.directory)
        ref = plan.backend.submit(job)
        submitted = True
        job_id = None
        if plan.backend.DETACHABLE:  # a job that outlives mlrun must be found again from the run
            job_id = ref.job_id
            recorder.log_batch({}, ref.tags())
            if (job.job_dir / JOB_SCRIPT).is_file():  # what was submitted, exactly
                recorder.log_artifact(job.job_dir / JOB_SCRIPT, ARTIFACT_DIR)
            echo.write(f"mlrun: submitted {plan.backend.NAME} job {ref.job_id}\n".encode())
            echo.flush()
        if plan.detach:
            return _result(plan, run_ref, tracker, JobState("SUBMITTED", RunStatus.RUNNING, 0), 0.0, job_id)
        console_log = scratch / CONSOLE_LOG
        state = _wait(plan, ref, console_log, child_stdout)
        ended_ms = now_ms()  # the command's end, however long sending it then takes
        ended, exit_code = end_of(state)
        job_records.write_end(run_ref.run_id, ended.name, exit_code, ended_ms)
        _learn_outputs(watched, plan, scratch, recorder)  # what it wrote: mlrun/outputs.json
        if state.state == TIMED_OUT and plan.timeout_s is not None:
            recorder.log_batch({}, {tags.TIMEOUT: format_duration(plan.timeout_s)})
        record_end(recorder, state, console_log, ended_ms)
        if recorder.queued is None:  # recorded: the job folder has served (else end.json waits)
            shutil.rmtree(job_dir(run_ref.run_id), ignore_errors=True)
    except BaseException as error:
        fail_run(recorder, error)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if not submitted:  # no job owns the folder: whatever was written for one goes
            shutil.rmtree(job_dir(run_ref.run_id), ignore_errors=True)
        # The run is recorded (its folder removed above), or its job goes on in that folder.
        ownership.release(run_ref.run_id, job_owns_folder=submitted)
    return _result(plan, run_ref, tracker, state, time.monotonic() - started, job_id)


def _wait(plan: RunPlan, ref: JobRef, console_log: Path, stdout: BinaryIO | None) -> JobState:
    """The backend's wait, with secret values masked in all the output it copies."""
    with masking(plan.bound.secret_env().values()):
        return _wait_in_time(plan, ref, console_log, stdout)


def _wait_in_time(plan: RunPlan, ref: JobRef, console_log: Path, stdout: BinaryIO | None) -> JobState:
    """The backend's wait, stopped as on SIGTERM (grace, then kill) once the timeout expires."""
    if plan.timeout_s is None:
        return plan.backend.wait(ref, console_log=console_log, stdout=stdout)
    limit = format_duration(plan.timeout_s)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sys.stderr.write(f"mlrun: the run exceeded its time limit ({limit}): stopping it\n")
        for attempt in range(CANCEL_TRIES):  # a cluster that does not answer gets a few more tries
            try:
                plan.backend.cancel(ref)
                return
            except MlrunError as error:
                sys.stderr.write(f"mlrun: warning: cannot stop the job yet: {error.message}\n")
                time.sleep(2.0 * (attempt + 1))

    timer = threading.Timer(plan.timeout_s, expire)
    timer.daemon = True
    timer.start()
    try:
        state = plan.backend.wait(ref, console_log=console_log, stdout=stdout)
    finally:
        timer.cancel()
    if expired.is_set() and state.status is not RunStatus.FINISHED and state.interrupted_by is None:
        return JobState(
            TIMED_OUT, RunStatus.FAILED, tags.EXIT_TIMEOUT, f"the run exceeded its time limit ({limit})"
        )
    return state


def _job(plan: RunPlan, env: PreparedEnv, run_ref: RunRef, handshake: Mapping[str, str]) -> Job:
    container = env.container
    return Job(
        command=plan.command,
        cwd=_job_cwd(plan, run_ref.run_id),
        env_patch={
            **(container.environment if container is not None else {}),
            **env.env_patch,
            **handshake,
            **plan.bound.secret_env(),
            "MLFLOW_EXPERIMENT_NAME": None,
        },
        run_id=run_ref.run_id,
        run_name=plan.run_name,
        job_dir=job_dir(run_ref.run_id),
        config=plan.backend_config,
        container=container,
        timeout_s=plan.timeout_s,
    )


def _job_cwd(plan: RunPlan, run_id: str) -> Path:
    """Where the job runs. A detached job outlives this process, and with it any git checkout
    made for the run: it gets a copy of the project in its job folder instead."""
    if not plan.detach or plan.source.cleanup is None:
        return plan.project.directory
    copy = job_dir(run_id) / "code"
    shutil.copytree(plan.project.directory, copy, ignore=shutil.ignore_patterns(".git"), symlinks=True)
    return copy


def _result(
    plan: RunPlan, run: RunRef, tracker: Tracker, state: JobState, duration_s: float, job_id: str | None
) -> RunResult:
    status = state.status or RunStatus.FAILED
    exit_code = state.exit_code if state.exit_code is not None else 1
    params = plan.bound.all_values()
    return RunResult(
        run.run_id, run.experiment_id, status, exit_code, duration_s, plan.command, params, tracker.uri,
        plan.run_name, state.interrupted_by, plan.backend.NAME, job_id,
    )  # fmt: skip


def _log_provenance(recorder: Recorder, plan: RunPlan, artifacts: Mapping[str, Path], scratch: Path) -> None:
    """What the run was made from, saved before it starts: the uncommitted diff, env lock files."""
    if plan.source.diff is not None:
        (scratch / "git.diff").write_bytes(plan.source.diff.encode("utf-8", "surrogateescape"))
        recorder.log_artifact(scratch / "git.diff", ARTIFACT_DIR)
    for name, path in artifacts.items():
        if path.is_file():
            staged = scratch / name
            shutil.copyfile(path, staged)
            recorder.log_artifact(staged, ARTIFACT_DIR)


def end_of(state: JobState) -> tuple[RunStatus, int]:
    status = state.status or RunStatus.FAILED
    fallback = 0 if status is RunStatus.FINISHED else 1
    return status, state.exit_code if state.exit_code is not None else fallback


def record_end(
    recorder: Recorder, state: JobState, console_log: Path, end_time_ms: int | None = None
) -> None:
    status, exit_code = end_of(state)
    end_tags = {tags.EXIT_CODE: str(exit_code)}
    if status is not RunStatus.FINISHED:
        end_tags[tags.ERROR] = (state.reason or f"the job ended {state.state}")[: tags.MAX_TAG_LENGTH]
    if console_log.is_file():
        recorder.log_artifact(console_log, ARTIFACT_DIR)
    recorder.log_batch({}, end_tags)
    recorder.end_run(status, now_ms() if end_time_ms is None else end_time_ms)


def _fail_continued(plan: RunPlan, error: BaseException) -> None:
    """End the --run-id run FAILED (KILLED on Ctrl-C): whoever created it waits for its end."""
    assert plan.continued is not None
    record = plan.continued
    with contextlib.suppress(MlrunError):  # the tracker's own outage: the outbox keeps the end
        recorder = Recorder(
            get_tracker(plan.tracking_uri), RunRef(record.run_id, record.experiment_id, record.artifact_uri)
        )
        fail_run(recorder, error)


def fail_run(recorder: Recorder, error: BaseException) -> None:
    """Best effort: a run that exists must never stay RUNNING, whatever went wrong."""
    interrupted = isinstance(error, KeyboardInterrupt)
    if isinstance(error, Terminated):
        reason = f"stopped by signal {error.signum}"
    else:
        reason = "interrupted" if interrupted else f"{type(error).__name__}: {error}"
    with contextlib.suppress(Exception):  # the status below matters more than the reason
        recorder.log_batch({}, {tags.ERROR: reason[: tags.MAX_TAG_LENGTH]})
    recorder.end_run(RunStatus.KILLED if interrupted else RunStatus.FAILED, now_ms())


def _learn_outputs(watch: outputs.Watch | None, plan: RunPlan, scratch: Path, recorder: Recorder) -> None:
    """After the command: record what it changed (runs/outputs.py), as the artifact
    mlrun/outputs.json too (none when it changed nothing). Where it rewrote a file that was
    there before (a results file in the project), the run's fingerprint is recorded again
    without it, as the next run will compute it: everything else is as it was when the run
    started (or it would be among the changes). Never fatal: the run's result matters more than
    what is learned from it."""
    if watch is None:
        return
    try:
        changed = outputs.changes(watch)
        if not changed:  # nothing written: nothing to learn or show
            return
        outputs.remember(watch.directory, changed)
        recorder.log_artifact(outputs.write_artifact(changed, scratch), ARTIFACT_DIR)
        if plan.fingerprint is not None and any(watch.before.get(p) is not None for p in changed):
            env = str(plan.fingerprint.inputs["env"])
            recorder.log_batch({}, fingerprint.of_run(plan.source, plan.entry, plan.bound, env).tags())
    except (OSError, ValueError, MlrunError) as error:
        sys.stderr.write(f"mlrun: warning: cannot record what the run wrote into its project: {error}\n")
