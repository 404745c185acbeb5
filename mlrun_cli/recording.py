"""What mlrun records about a run besides its end: who started it and from what, and how a
run that failed before its command ended is closed."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from mlrun_cli import __version__
from mlrun_cli.errors import Terminated
from mlrun_cli.jobs import ARTIFACT_DIR, MAX_TAG_LENGTH, job_dir, now_ms
from mlrun_cli.planning import RunPlan
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.outbox import Recorder


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return os.environ.get("USER") or "unknown"


def start_tags(plan: RunPlan, user: str) -> dict[str, str]:
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


def fail_run(recorder: Recorder, error: BaseException) -> None:
    """Best effort: a run that exists must never stay RUNNING, whatever went wrong."""
    interrupted = isinstance(error, KeyboardInterrupt)
    if isinstance(error, Terminated):
        reason = f"stopped by signal {error.signum}"
    else:
        reason = "interrupted" if interrupted else f"{type(error).__name__}: {error}"
    with contextlib.suppress(Exception):  # the status below matters more than the reason
        recorder.log_batch({}, {"mlrun.error": reason[:MAX_TAG_LENGTH]})
    recorder.end_run(RunStatus.KILLED if interrupted else RunStatus.FAILED, now_ms())


def log_provenance(recorder: Recorder, plan: RunPlan, artifacts: Mapping[str, Path], scratch: Path) -> None:
    """What the run was made from, saved before it starts: the uncommitted diff, env lock files."""
    if plan.source.diff is not None:
        (scratch / "git.diff").write_text(plan.source.diff)
        recorder.log_artifact(scratch / "git.diff", ARTIFACT_DIR)
    for name, path in artifacts.items():
        if path.is_file():
            staged = scratch / name
            shutil.copyfile(path, staged)
            recorder.log_artifact(staged, ARTIFACT_DIR)


def job_cwd(plan: RunPlan, run_id: str) -> Path:
    """Where the job runs. A detached job outlives this process, and with it any git checkout
    made for the run: it gets a copy of the project in its job folder instead."""
    if not plan.detach or plan.source.cleanup is None:
        return plan.project.directory
    copy = job_dir(run_id) / "code"
    shutil.copytree(plan.project.directory, copy, ignore=shutil.ignore_patterns(".git"), symlinks=True)
    return copy
