"""`mlrun runs rerun RUN_ID`: a recorded run rebuilt from its record alone, as a new run.

The record gives a RunRequest (the source at its commit, with the run's `mlrun/git.diff`
applied; its entry point and parameter values, `-P` overriding; its env kind; its backend unless
another is given; its experiment), which goes the way of every `mlrun run`: plan, then execute
(runs/api.py). Before anything runs the plan is held against the record (runs/rerun_check.py):
what differs (source, parameters, the content of path parameters, env digest, exact package
versions) is said, and with `exact` anything but a `-P` override refuses the rerun (exit 2),
save what cannot be compared (a path's content the run never recorded): a warning. The new run
is tagged `mlrun.rerun_of`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from mlrun_cli.envs.base import EnvOptions
from mlrun_cli.errors import UsageError
from mlrun_cli.project import params
from mlrun_cli.runs.plan import RunPlan, RunRequest
from mlrun_cli.runs.rerun_check import Difference, Recorded, check
from mlrun_cli.runs.result import RunResult
from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunRecord

GIT_DIFF = "mlrun/git.diff"
ENV_FREEZE = "mlrun/environment.txt"


@dataclass(frozen=True)
class RerunRequest:
    """What `mlrun runs rerun` was asked."""

    run_id: str
    params: tuple[str, ...] = ()
    """-P NAME=VALUE overrides of the recorded values."""
    backend: str | None = None
    """None: the backend the run used."""
    exact: bool = False
    """Refuse when anything but a -P override would differ from the original."""
    tracking_uri: str | None = None
    cwd: Path = field(default_factory=Path.cwd)


@dataclass(frozen=True)
class Replay:
    """A recorded run as a request to run it again, and what the rerun is held against."""

    record: RunRecord
    request: RunRequest
    recorded: Recorded
    overrides: tuple[str, ...]
    notes: tuple[str, ...]
    """What cannot be rebuilt as it was (untracked files whose content was never recorded)."""


@dataclass(frozen=True)
class RerunCheck:
    """The plan of a rerun and how it differs from the original run."""

    replay: Replay
    plan: RunPlan
    differences: tuple[Difference, ...]

    @property
    def warnings(self) -> tuple[str, ...]:
        return (*self.replay.notes, *(d.line() for d in self.differences if not d.requested))

    @property
    def refusals(self) -> tuple[str, ...]:
        """What `exact` refuses: the warnings but those that only say what cannot be compared."""
        return (*self.replay.notes, *(d.line() for d in self.differences if not d.requested and d.refuses))

    def to_dict(self) -> dict[str, object]:
        return {
            "rerun_of": self.replay.record.run_id,
            "source": self.replay.request.uri,
            "version": self.replay.request.version,
            "recorded_changes": self.replay.request.changes is not None,
            "plan": self.plan.to_dict(),
            "differences": [d.to_dict() for d in self.differences],
            "warnings": list(self.warnings),
        }

    def text(self) -> str:
        request, env = self.replay.request, self.plan.env
        at = f" at {request.version[:12]}" if request.version else ""
        changes = " + the recorded uncommitted changes" if request.changes is not None else ""
        lines = [
            f"rerun of run {self.replay.record.run_id} ({self.replay.record.run_name})",
            f"  source:      {request.uri}{at}{changes}",
            f"  entry point: {self.plan.entry.name}",
            f"  command:     {self.plan.command}",
            f"  env:         {env.manager} ({env.description or env.state.value})",
            f"  backend:     {self.plan.backend.NAME}",
        ]
        if self.differences:
            lines.append("differs from the original:")
            lines += [f"  {d.line()}" for d in self.differences]
        else:
            lines.append("nothing differs from the original")
        return "\n".join(lines)


def replay_of(request: RerunRequest) -> Replay:
    """The run's record as a RunRequest; UsageError (exit 2) when it lacks what a rerun needs."""
    from mlrun_cli.tracking import get_tracker, resolve_tracking_uri
    from mlrun_cli.tracking.artifacts import read_artifact

    tracking_uri = resolve_tracking_uri(request.tracking_uri)
    tracker = get_tracker(tracking_uri)
    record = tracker.get_run(request.run_id)
    entry_point = record.tags.get(tags.ENTRY_POINT)
    source_name = record.tags.get(tags.SOURCE_NAME)
    if not entry_point or not source_name:
        missing = "its entry point" if not entry_point else "its source"
        raise UsageError(
            f"run {record.run_id} cannot be rerun: its record lacks {missing}",
            hint="only runs made by `mlrun run` (or `mlflow run`) record what a rerun needs",
        )
    uri, version = _source_of(record, source_name)
    notes: list[str] = []
    changes = None
    if record.tags.get(tags.GIT_DIRTY) == "true":
        data = read_artifact(tracker, record, GIT_DIFF)
        if data is None:
            raise UsageError(
                f"run {record.run_id} was made from uncommitted changes, but {GIT_DIFF} is missing"
            )
        changes = data.decode("utf-8", "surrogateescape")
        from mlrun_cli.sources.replay import untracked_names

        untracked = untracked_names(changes)
        if untracked:
            notes.append(f"untracked files were not recorded, only named: {', '.join(untracked)}")
    values, note = _recorded_params(record)
    notes += [note] if note else []
    overrides = params.parse_param_args(request.params)
    merged = {**values, **dict(overrides)}
    data = read_artifact(tracker, record, ENV_FREEZE)
    freeze = None if data is None else data.decode(errors="replace")
    run_request = RunRequest(
        uri=uri,
        version=version,
        changes=changes,
        entry_point=entry_point,
        params=tuple(f"{name}={value}" for name, value in merged.items()),
        env_manager=record.tags.get(tags.ENV) or None,
        backend=request.backend or record.tags.get(tags.BACKEND) or "local",
        experiment_id=record.experiment_id,
        env_options=EnvOptions(pins=_pins(freeze)),
        tracking_uri=tracking_uri,
        cwd=request.cwd,
    )
    recorded = Recorded.of(record, values, freeze)
    return Replay(record, run_request, recorded, tuple(name for name, _ in overrides), tuple(notes))


def _source_of(record: RunRecord, name: str) -> tuple[str, str | None]:
    """Where to fetch the run's source again, and at which commit: the local repository it was
    made from while it is still there, else the recorded repository URL."""
    from mlrun_cli.sources import split_subdirectory
    from mlrun_cli.sources.git.urls import looks_remote

    commit = record.tags.get(tags.GIT_COMMIT)
    base, subdir = split_subdirectory(name)
    if commit is None or looks_remote(base):
        return name, commit  # a git URL, an archive, or a plain folder as it is now
    local = Path(base.removeprefix("file://"))
    if local.is_dir():
        return name, commit
    url = record.tags.get(tags.GIT_REPO_URL)
    if not url:
        raise UsageError(
            f"run {record.run_id} was made from {local}, which is gone, and recorded no repository URL"
        )
    return (f"{url}#{subdir}" if subdir else url), commit


def _pins(freeze: str | None) -> tuple[str, ...]:
    """The exact versions of a recorded freeze an env can be built at (NAME==VERSION; not a
    local path or an editable install, which belong to the machine that made them)."""
    import re

    exact = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+")
    return tuple(line.strip() for line in (freeze or "").splitlines() if exact.fullmatch(line.strip()))


def _recorded_params(record: RunRecord) -> tuple[dict[str, str], str | None]:
    """The values mlrun passed to the command (the fingerprint's inputs: not what the command
    logged itself), secrets left out (masked in the record: given again as for any run)."""
    values: dict[str, str] | None = None
    text = tags.joined_value(record.tags, tags.FINGERPRINT_INPUTS)  # long ones are split
    if text:
        try:
            values = {str(k): str(v) for k, v in json.loads(text)["params"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            values = None
    note = None
    if values is None:
        values = dict(record.params)
        note = "the run recorded no parameter list of its own: every logged parameter is passed"
    return {k: v for k, v in values.items() if v != params.MASK}, note


def dry_rerun(request: RerunRequest) -> RerunCheck:
    """The rerun's plan and what differs from the original; nothing run or recorded."""
    from mlrun_cli.runs.plan import plan_run

    replay = replay_of(request)
    plan = plan_run(replay.request)
    try:
        return _checked(replay, plan, request)
    finally:
        plan.source.close()


def _checked(replay: Replay, plan: RunPlan, request: RerunRequest) -> RerunCheck:
    """The plan held against the record; with `exact`, UsageError for any difference not asked for."""
    found = RerunCheck(replay, plan, check(replay.recorded, plan, replay.overrides, request.backend))
    if request.exact and found.refusals:
        raise UsageError(
            f"run {replay.record.run_id} cannot be rerun exactly: " + "; ".join(found.refusals),
            hint="leave out --exact to rerun it all the same",
        )
    return found


def rerun(
    request: RerunRequest, *, child_stdout: BinaryIO | None = None, log: BinaryIO | None = None
) -> tuple[RunResult, RerunCheck]:
    """Run the recorded run again as a new run tagged `mlrun.rerun_of`."""
    import sys

    from mlrun_cli.runs import api

    replay = replay_of(request)
    echo = log or sys.stderr.buffer
    checked: list[RerunCheck] = []

    def adjust(plan: RunPlan) -> RunPlan:
        found = _checked(replay, plan, request)
        echo.write("".join(f"Warning: rerun: {w}\n" for w in found.warnings).encode())
        echo.write("".join(f"mlrun: rerun: {d.line()}\n" for d in found.differences if d.requested).encode())
        checked.append(found)
        return dataclasses.replace(plan, extra_tags={**plan.extra_tags, tags.RERUN_OF: replay.record.run_id})

    result = api.run(replay.request, child_stdout=child_stdout, log=echo, adjust=adjust)
    return result, checked[0]
