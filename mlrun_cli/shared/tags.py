"""Every run tag mlrun writes or reads, and the exit codes a run's end maps to.

MLflow's own keys (`mlflow.*`) keep MLflow's spelling, so its UI shows them; mlrun's are
`mlrun.*`. No other module spells a tag key.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping

# MLflow's standard tags.
USER = "mlflow.user"
RUN_NAME = "mlflow.runName"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"
ENTRY_POINT = "mlflow.project.entryPoint"
ENV = "mlflow.project.env"
BACKEND = "mlflow.project.backend"
DOCKER_IMAGE_URI = "mlflow.docker.image.uri"
DOCKER_IMAGE_ID = "mlflow.docker.image.id"

# mlrun's own.
COMMAND = "mlrun.command"
VERSION = "mlrun.version"
EXIT_CODE = "mlrun.exit_code"
"""Set once, when the run's end is recorded: a run with it is settled."""
ERROR = "mlrun.error"
TIMEOUT = "mlrun.timeout"
"""The time limit a run exceeded (90s, 2h), set only when it did."""
GIT_DIRTY = "mlrun.git.dirty"
SOURCE_ARCHIVE_SHA256 = "mlrun.source.archive.sha256"
"""A project run from a zip archive: the archive's content hash."""
ATTEMPT = "mlrun.attempt"
"""1, 2, ...: which try of a run given --retries this run is."""
RETRY_OF = "mlrun.retry_of"
"""The first attempt's run id, on every later attempt."""
RERUN_OF = "mlrun.rerun_of"
"""`mlrun runs rerun`: the run this one was rebuilt from."""
ENV_KEY = "mlrun.env.key"
ENV_PYTHON = "mlrun.env.python"
FINGERPRINT = "mlrun.fingerprint"
"""A hash of what decides a run's result (source, entry point, parameters, env): `--needed`."""
FINGERPRINT_INPUTS = "mlrun.fingerprint.inputs"
"""The fingerprint's inputs as JSON, so two runs can be told apart."""

# Sweeps: a parent run, and one child run per point (MLflow's UI nests them by this tag).
PARENT_RUN_ID = "mlflow.parentRunId"
SWEEP = "mlrun.sweep"
"""On the parent run: the number of points."""
SWEEP_POINT = "mlrun.sweep.point"
"""On a child run: its point's index in the sweep."""
SWEEP_REUSED = "mlrun.sweep.reused"
"""On the parent run: JSON list of the runs `--needed` reused instead of running again."""
SWEEP_BEST_RUN = "mlrun.sweep.best_run_id"
SWEEP_BEST_VALUE = "mlrun.sweep.best_value"
SWEEP_BEST_PARAMS = "mlrun.sweep.best_params"
SWEEP_OBJECTIVE = "mlrun.sweep.objective"
SWEEP_DETACHED = "mlrun.sweep.detached"
"""On a `--detach`ed sweep's parent: `mlrun runs wait/cancel` follow its children, then settle it."""
SWEEP_REUSED_POINTS = "mlrun.sweep.reused_points"
"""On a detached sweep's parent: JSON {point index: run id} of the points `--needed` reused,
stored by split_value (past ~180 points it is longer than one tag holds)."""
EARLY_STOPPED = "mlrun.early_stopped"
"""On a point an early-stopping sweep stopped: JSON {rule, step, value, threshold} (KILLED, never
retried)."""
SWEEP_EARLY_STOP = "mlrun.sweep.early_stop"
"""On an early-stopping sweep's parent: JSON {rule, options, stopped: how many points}."""

MAX_TAG_LENGTH = 8000
"""MLflow's limit on a tag value; longer ones (a long command, a long error) are cut."""


def exit_code_for_signal(signum: int) -> int:
    """What a command ended by signal N exits with, as a shell reports it: 128+N. The one place
    this is reckoned."""
    return 128 + signum


def exit_code_of(returncode: int) -> int:
    """A child's return code as an exit code: Popen's -N (ended by signal N) becomes 128+N."""
    return exit_code_for_signal(-returncode) if returncode < 0 else returncode


EXIT_TIMEOUT = 124
"""A run that hit its time limit, as timeout(1) exits."""
EXIT_OUT_OF_MEMORY = exit_code_for_signal(signal.SIGKILL)
EXIT_TERMINATED = exit_code_for_signal(signal.SIGTERM)
EXIT_INTERRUPTED = exit_code_for_signal(signal.SIGINT)


def job_prefix(backend: str) -> str:
    """Tags that find a backend's job again: `mlrun.<backend>.job_id`, `mlrun.slurm.output`, ..."""
    return f"mlrun.{backend}."


def recorded_exit_code(tags: Mapping[str, str], status_name: str) -> int:
    """The run's own exit code as recorded, else what its status implies (as `mlrun run` exits)."""
    raw = tags.get(EXIT_CODE)
    if raw is not None and raw.lstrip("-").isdigit():
        return int(raw)
    return {"FINISHED": 0, "KILLED": EXIT_INTERRUPTED}.get(status_name, 1)


def split_value(key: str, text: str) -> dict[str, str]:
    """A value that may be longer than one tag holds, as several tags that can be read on every
    tracker (a tag is; an artifact is not read back by every one): `key` holds the number of
    parts, `key.0`, `key.1`, ... the parts."""
    parts = [text[i : i + MAX_TAG_LENGTH] for i in range(0, len(text), MAX_TAG_LENGTH)] or [""]
    return {key: str(len(parts)), **{f"{key}.{i}": part for i, part in enumerate(parts)}}


def joined_value(tags: Mapping[str, str], key: str) -> str | None:
    """The value split_value stored, or None when it or one of its parts is missing. A value an
    older mlrun stored whole (not a count) is returned as it is, perhaps cut off."""
    count = tags.get(key)
    if count is None or not count.isdigit():
        return count
    parts = [tags.get(f"{key}.{i}") for i in range(int(count))]
    return None if any(p is None for p in parts) else "".join(p or "" for p in parts)
