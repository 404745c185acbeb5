"""The core's entry points. The CLI calls these with typed requests; nothing here imports click."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from mlrun_cli import __version__
from mlrun_cli.envs.base import ContainerSpec
from mlrun_cli.errors import Terminated, TrackingError
from mlrun_cli.execute import Outcome
from mlrun_cli.planning import RunPlan, RunRequest, plan_run
from mlrun_cli.tracking import get_tracker, resolve_tracking_uri
from mlrun_cli.tracking.base import RunRecord, RunStatus
from mlrun_cli.tracking.outbox import Recorder, SyncResult
from mlrun_cli.validation import ValidationReport, validate

__all__ = [
    "RunRequest",
    "RunResult",
    "ValidationReport",
    "dry_run",
    "list_runs",
    "plan_run",
    "run",
    "show_run",
    "validate",
]

CONSOLE_LOG = "console.log"
ARTIFACT_DIR = "mlrun"
MAX_TAG_LENGTH = 8000


@dataclass(frozen=True)
class RunResult:
    run_id: str
    experiment_id: str
    status: RunStatus
    exit_code: int
    duration_s: float
    command: str
    params: dict[str, str]
    tracking_uri: str
    run_name: str
    interrupted_by: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "status": self.status.name,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "command": self.command,
            "params": self.params,
            "run_name": self.run_name,
            "tracking_uri": self.tracking_uri,
        }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return os.environ.get("USER") or "unknown"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _start_tags(plan: RunPlan, user: str) -> dict[str, str]:
    return {
        "mlflow.user": user,
        "mlflow.source.name": plan.source.name,
        "mlflow.source.type": "PROJECT",
        "mlflow.project.entryPoint": plan.entry.name,
        "mlflow.project.env": plan.env_manager,
        "mlflow.project.backend": plan.backend,
        "mlflow.runName": plan.run_name,
        "mlrun.command": plan.command[:MAX_TAG_LENGTH],
        "mlrun.version": __version__,
        **plan.source.tags,
    }


def _fail_run(recorder: Recorder, error: BaseException) -> None:
    """Best effort: a run that exists must never stay RUNNING, whatever went wrong."""
    interrupted = isinstance(error, KeyboardInterrupt)
    if isinstance(error, Terminated):
        reason = f"stopped by signal {error.signum}"
    else:
        reason = "interrupted" if interrupted else f"{type(error).__name__}: {error}"
    with contextlib.suppress(Exception):  # the status below matters more than the reason
        recorder.log_batch({}, {"mlrun.error": reason[:MAX_TAG_LENGTH]})
    recorder.end_run(RunStatus.KILLED if interrupted else RunStatus.FAILED, _now_ms())


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind through the run's cleanup instead of killing mlrun on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    previous = {sig: signal.signal(sig, terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    request: RunRequest, *, child_stdout: BinaryIO | None = None, log: BinaryIO | None = None
) -> RunResult:
    """Plan, create the run, execute, and always record a terminal status."""
    _flush_outbox_quietly()  # what an earlier run could not send, first
    with _signals_as_exceptions():
        plan = plan_run(request)
        try:
            return _run(plan, child_stdout, log or sys.stderr.buffer)
        finally:
            plan.source.close()


def dry_run(request: RunRequest) -> RunPlan:
    """The plan, with any checkout made for it already removed."""
    plan = plan_run(request)
    plan.source.close()
    return plan


def _run(plan: RunPlan, child_stdout: BinaryIO | None, echo: BinaryIO) -> RunResult:
    from mlrun_cli import envs
    from mlrun_cli.backends import get_backend

    tracker = get_tracker(plan.tracking_uri)
    # The environment first: a failed build leaves no trace in the tracking store.
    prepared = envs.get_env_manager(plan.env_manager).prepare(
        plan.project, build=True, options=plan.env_options
    )
    tracker.check()
    experiment = tracker.resolve_experiment(plan.experiment_name, plan.experiment_id)
    backend = get_backend(plan.backend)
    user = _user()
    tags = {**_start_tags(plan, user), **prepared.tags}
    run_ref = tracker.create_run(experiment.experiment_id, plan.run_name, user, _now_ms(), tags)
    recorder = Recorder(tracker, run_ref)
    scratch = Path(tempfile.mkdtemp(prefix="mlrun-"))
    try:
        params = plan.bound.all_values()
        recorder.log_batch(params, {})
        echo.write(
            f"mlrun: run {run_ref.run_id} ({plan.run_name}) in experiment "
            f"'{experiment.name}': {plan.command}\n".encode()
        )
        echo.flush()
        console_log = scratch / CONSOLE_LOG
        handshake = tracker.child_env(run_ref)
        if prepared.container is not None:
            outcome = _run_in_container(plan, prepared.container, handshake, console_log, child_stdout)
        else:
            patch = {**prepared.env_patch, **handshake, "MLFLOW_EXPERIMENT_NAME": None}
            outcome = backend.execute(
                plan.command,
                cwd=plan.project.directory,
                env_patch=patch,
                console_log=console_log,
                stdout=child_stdout,
            )
        if outcome.interrupted_by is not None:
            status = RunStatus.KILLED
        else:
            status = RunStatus.FINISHED if outcome.exit_code == 0 else RunStatus.FAILED
        end_tags = {"mlrun.exit_code": str(outcome.exit_code)}
        if status is RunStatus.KILLED:
            end_tags["mlrun.error"] = f"stopped by signal {outcome.interrupted_by}"
        elif status is RunStatus.FAILED:
            end_tags["mlrun.error"] = f"command exited with code {outcome.exit_code}"
        recorder.log_artifact(console_log, ARTIFACT_DIR)
        if plan.source.diff is not None:
            (scratch / "git.diff").write_text(plan.source.diff)
            recorder.log_artifact(scratch / "git.diff", ARTIFACT_DIR)
        for name, path in prepared.artifacts.items():
            if path.is_file():
                staged = scratch / name
                shutil.copyfile(path, staged)
                recorder.log_artifact(staged, ARTIFACT_DIR)
        recorder.log_batch({}, end_tags)
        recorder.end_run(status, _now_ms())
    except BaseException as error:
        _fail_run(recorder, error)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RunResult(
        run_ref.run_id,
        run_ref.experiment_id,
        status,
        outcome.exit_code,
        outcome.duration_s,
        plan.command,
        params,
        tracker.uri,
        plan.run_name,
        outcome.interrupted_by,
    )


def _run_in_container(
    plan: RunPlan,
    spec: ContainerSpec,
    handshake: dict[str, str],
    console_log: Path,
    child_stdout: BinaryIO | None,
) -> Outcome:
    from mlrun_cli.backends.container import run_in_container
    from mlrun_cli.backends.local import grace_period

    uri = handshake.get("MLFLOW_TRACKING_URI", "")
    tracking_dir = Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else None
    if (
        uri.startswith(("http://localhost", "http://127.", "https://localhost", "https://127."))
        and spec.run_options.get("network_mode") != "host"
    ):
        sys.stderr.write(
            "mlrun: warning: the tracking server is on localhost, which the container "
            "cannot reach without -A network=host\n"
        )
    return run_in_container(
        spec,
        plan.command,
        project_dir=plan.project.directory,
        env=handshake,
        tracking_dir=tracking_dir,
        console_log=console_log,
        grace_s=grace_period(),
        stdout=child_stdout,
    )


def sync_runs() -> list[SyncResult]:
    """Send what runs kept in the outbox while their tracking store was unreachable."""
    from mlrun_cli.tracking import outbox

    return outbox.flush()


def _flush_outbox_quietly() -> None:
    from mlrun_cli.tracking import outbox

    if outbox.pending_runs():
        for result in outbox.flush():
            if result.sent:
                sys.stderr.write(f"mlrun: sent {result.sent} pending records of run {result.run_id}\n")


def list_runs(
    tracking_uri: str | None, experiment_name: str | None, max_results: int = 100
) -> list[RunRecord]:
    tracker = get_tracker(resolve_tracking_uri(tracking_uri))
    experiment_ids = None
    if experiment_name is not None:
        experiment = tracker.get_experiment_by_name(experiment_name)
        if experiment is None:
            raise TrackingError(f"no experiment named {experiment_name!r} in {tracker.uri}")
        experiment_ids = [experiment.experiment_id]
    return tracker.search_runs(experiment_ids, max_results)


def show_run(tracking_uri: str | None, run_id: str) -> RunRecord:
    return get_tracker(resolve_tracking_uri(tracking_uri)).get_run(run_id)
