"""A sweep's plan: every point bound and checked with the entry point's typed parameters before
anything exists, and every bad point reported at once (its index and values), exit 2."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun_cli.errors import ParameterError, UsageError
from mlrun_cli.project import params
from mlrun_cli.project.model import EntryPoint
from mlrun_cli.runs.plan import RunPlan, RunRequest, plan_run
from mlrun_cli.runs.sweeps import spec as sweep_spec
from mlrun_cli.runs.sweeps.spec import SweepSpec, describe
from mlrun_cli.runs.sweeps.stopping import EarlyStopOptions

LABEL_MAX = 40
VALUE_MAX = 12
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+\-/:@%=]+")


@dataclass(frozen=True)
class SweepRequest:
    run: RunRequest
    sweeps: tuple[str, ...] = ()
    sweep_file: Path | None = None
    random: int | None = None
    seed: int | None = None
    max_parallel: int | None = None
    objective: str | None = None
    early_stop: str | None = None


@dataclass(frozen=True)
class SweepPlan:
    base: RunPlan
    spec: SweepSpec
    points: tuple[RunPlan, ...]
    max_parallel: int
    objective: tuple[str, str] | None
    early_stop: EarlyStopOptions | None = None

    @property
    def detach(self) -> bool:
        return self.base.detach

    @property
    def warnings(self) -> tuple[str, ...]:
        """Point 0's plan's warnings, said of the option that gave the value (-S for a swept one)."""
        swept = {d.name for d in self.spec.dimensions}
        return tuple(
            f"-S {w[3:]}" if w.startswith("-P ") and w[3:].split(":", 1)[0] in swept else w
            for w in self.base.warnings
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "sweep": self.spec.to_dict(),
            "max_parallel": self.max_parallel,
            "points": [
                {"index": i, "params": p.bound.all_values(), "command": p.command, "run_name": p.run_name}
                for i, p in enumerate(self.points)
            ],
            "plan": self.base.to_dict(),
        }


def plan_sweep(request: SweepRequest) -> SweepPlan:
    """Every point bound and checked with the entry point's typed parameters; nothing created."""
    spec = sweep_spec.build(
        request.sweeps, sweep_file=request.sweep_file, random_points=request.random, seed=request.seed,
        max_parallel=request.max_parallel, objective=request.objective, early_stop=request.early_stop,
    )  # fmt: skip
    early_stop = EarlyStopOptions.of(spec.early_stop) if spec.early_stop else None
    if early_stop is not None and not spec.objective:
        raise UsageError("--early-stop judges the points by a metric: give --objective METRIC:min|max")
    if early_stop is not None and request.run.detach:
        raise UsageError("--early-stop watches the points while they run: not with --detach")
    fixed = params.parse_param_args(request.run.params)
    overlap = sorted({n for n, _ in fixed} & {d.name for d in spec.dimensions})
    if overlap:
        raise UsageError(f"given with both -P and -S: {', '.join(overlap)}")
    first = tuple(f"{k}={v}" for k, v in spec.points[0].items())
    swept = [d.name for d in spec.dimensions]
    try:
        base = plan_run(
            dataclasses.replace(request.run, params=(*request.run.params, *first)),
            check_entry=lambda entry: _refuse_swept_secrets(entry, swept),
        )
    except ParameterError as error:
        raise _every_bad_point(request, spec, fixed, error) from None
    try:
        return _plan_points(request, spec, base, fixed)
    except BaseException:
        base.source.close()
        raise


def _every_bad_point(
    request: SweepRequest, spec: SweepSpec, fixed: list[tuple[str, str]], first: ParameterError
) -> ParameterError:
    """Point 0 does not bind: the entry point is read once more so that every point is checked,
    not only the first (the error path alone pays for it)."""
    from mlrun_cli.project.entry_points import resolve_entry_point
    from mlrun_cli.project.loader import load_project
    from mlrun_cli.sources import resolve_source

    run = request.run
    source = resolve_source(run.uri, run.version, run.cwd, refresh=False)
    try:
        # Only the entry point is read again: whatever the env file holds does not matter here.
        entry = resolve_entry_point(load_project(source.directory, env_file_used=False), run.entry_point)
        _, problems = _bind_points(request, spec, entry, source.directory, source.cleanup is not None, fixed)
    finally:
        source.close()
    return ParameterError(problems or first.problems, entry_point=entry.name)


def _secret_names(entry: EntryPoint) -> frozenset[str]:
    return frozenset(name for name, param in entry.parameters.items() if param.type == "secret")


def _refuse_swept_secrets(entry: EntryPoint, swept: list[str]) -> None:
    """By the entry point's declared types, before any value is bound: a bad point's error
    would show its values, and a swept secret's would be in the sweep spec, the points table and
    every array task."""
    secret = sorted(_secret_names(entry) & set(swept))
    if secret:
        raise UsageError(f"a secret parameter cannot be swept: {', '.join(secret)}")


def _bind_points(
    request: SweepRequest,
    spec: SweepSpec,
    entry: EntryPoint,
    directory: Path,
    relative: bool,
    fixed: list[tuple[str, str]],
) -> tuple[list[params.BoundParams], list[str]]:
    """Each point's bound values, and the problems of every point that does not bind."""
    bounds: list[params.BoundParams] = []
    problems: list[str] = []
    secrets: Any = None
    if request.run.secrets_file is not None:
        from mlrun_cli.project.secrets_file import load_secrets_file

        secrets = load_secrets_file(request.run.cwd / request.run.secrets_file)
    for index, point in enumerate(spec.points):
        try:
            given = [*fixed, *point.items()]
            bound = params.bind(
                entry, given, request.run.cwd, directory, record_relative=relative, secrets=secrets
            )
            bounds.append(bound)
        except ParameterError as error:
            shown = describe(point, _secret_names(entry))
            problems += [f"point {index} ({shown}): {p}" for p in error.problems]
    return bounds, problems


def _plan_points(
    request: SweepRequest, spec: SweepSpec, base: RunPlan, fixed: list[tuple[str, str]]
) -> SweepPlan:
    relative = base.source.cleanup is not None
    bounds, problems = _bind_points(request, spec, base.entry, base.project.directory, relative, fixed)
    if problems:
        raise ParameterError(problems, entry_point=base.entry.name)
    points = []
    for index, bound in enumerate(bounds):
        fingerprint = base.fingerprint.with_params(bound.all_values()) if base.fingerprint else None
        points.append(
            dataclasses.replace(
                base,
                bound=bound,
                command=params.render_command(base.entry, bound),
                run_name=point_name(base.run_name, index, spec.points[index]),
                fingerprint=fingerprint,
            )
        )
    parallel = spec.max_parallel or (len(points) if base.backend.DETACHABLE else 1)
    if parallel < 1:
        raise UsageError("--max-parallel must be at least 1")
    objective = sweep_spec.parse_objective(spec.objective) if spec.objective else None
    early_stop = EarlyStopOptions.of(spec.early_stop) if spec.early_stop else None
    return SweepPlan(base, spec, tuple(points), min(parallel, len(points)), objective, early_stop)


def point_name(sweep_name: str, index: int, point: dict[str, str]) -> str:
    """`alpha=0.1,l1=0.5 | warm-heron-859-0`: the swept values first, so that MLflow's runs table,
    which cuts a name to its first characters, tells the points apart; then the sweep's name and
    the point's index, which keep every name unique (and the old name findable). The label is
    ASCII without spaces (a Slurm job name, `scontrol -o`'s `KEY=VALUE` line) and short."""
    label = ",".join(f"{_UNSAFE.sub('_', name)}={_short(value)}" for name, value in point.items())
    if len(label) > LABEL_MAX:
        label = label[: LABEL_MAX - 2] + ".."
    return f"{label} | {sweep_name}-{index}"


def _short(value: str) -> str:
    """A value as a label shows it: a long decimal with 4 significant digits (a random point's
    0.0123456789012 as 0.01235), other long text cut, anything unsafe as '_'."""
    text = _UNSAFE.sub("_", value.strip())
    if len(text) > VALUE_MAX and not text.lstrip("-").isdigit():
        with contextlib.suppress(ValueError):
            text = f"{float(text):.4g}"
    return text if len(text) <= VALUE_MAX else text[: VALUE_MAX - 2] + ".."
