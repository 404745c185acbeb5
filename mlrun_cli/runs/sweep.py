"""A sweep: one parent run, and one child run per point, each made by the same lifecycle as a
single run (mlrun_cli.runs.lifecycle.execute).

Planning binds and checks every point before anything exists. Running builds the env once,
creates the parent, skips the points `--needed` finds done, and runs the rest from at most
`--max-parallel` worker threads. A worker thread runs its point to the end, blocking on it, so
the local backend's parent-death signal (armed per *thread* by mlrun_cli.process) stays armed as
long as the child lives. Ctrl-C (or SIGTERM) in the main thread cancels every job still out;
they end KILLED (mlrun_cli.runs.sweep_jobs), points not started get no run.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import queue
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlrun_cli import tags
from mlrun_cli.envs.base import EnvPlan
from mlrun_cli.errors import ParameterError, Terminated, UsageError
from mlrun_cli.project import params
from mlrun_cli.runs import lifecycle, needed, ownership, sweep_spec
from mlrun_cli.runs.plan import RunPlan, RunRequest, plan_run
from mlrun_cli.runs.retries import run_attempts
from mlrun_cli.runs.sweep_jobs import SweepBackend
from mlrun_cli.runs.sweep_result import PointResult, Progress, SweepResult, settle_parent
from mlrun_cli.runs.sweep_spec import SweepSpec, describe
from mlrun_cli.tracking import get_tracker
from mlrun_cli.tracking.base import RunRef
from mlrun_cli.tracking.outbox import Recorder


@dataclass(frozen=True)
class SweepRequest:
    run: RunRequest
    sweeps: tuple[str, ...] = ()
    sweep_file: Path | None = None
    random: int | None = None
    seed: int | None = None
    max_parallel: int | None = None
    objective: str | None = None


@dataclass(frozen=True)
class SweepPlan:
    base: RunPlan
    spec: SweepSpec
    points: tuple[RunPlan, ...]
    max_parallel: int
    objective: tuple[str, str] | None

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
    if request.run.detach:
        raise UsageError("--detach is not supported for sweeps yet")
    spec = sweep_spec.build(
        request.sweeps, sweep_file=request.sweep_file, random_points=request.random, seed=request.seed,
        max_parallel=request.max_parallel, objective=request.objective,
    )  # fmt: skip
    fixed = params.parse_param_args(request.run.params)
    overlap = sorted({n for n, _ in fixed} & {d.name for d in spec.dimensions})
    if overlap:
        raise UsageError(f"given with both -P and -S: {', '.join(overlap)}")
    first = tuple(f"{k}={v}" for k, v in spec.points[0].items())
    try:
        base = plan_run(dataclasses.replace(request.run, params=(*request.run.params, *first)))
    except ParameterError as error:
        raise ParameterError([f"point 0 ({describe(spec.points[0])}): {p}" for p in error.problems]) from None
    try:
        secret = sorted(d.name for d in spec.dimensions if _is_secret(base, d.name))
        if secret:  # its values would be in the sweep spec, the points table, every array task
            raise UsageError(f"a secret parameter cannot be swept: {', '.join(secret)}")
        return _plan_points(request, spec, base, fixed)
    except BaseException:
        base.source.close()
        raise


def _is_secret(plan: RunPlan, name: str) -> bool:
    param = plan.entry.parameters.get(name)
    return param is not None and param.type == "secret"


def _plan_points(
    request: SweepRequest, spec: SweepSpec, base: RunPlan, fixed: list[tuple[str, str]]
) -> SweepPlan:
    points, problems = [], []
    relative = base.source.cleanup is not None
    secrets = None
    if request.run.secrets_file is not None:
        from mlrun_cli.project.secrets_file import load_secrets_file

        secrets = load_secrets_file(request.run.cwd / request.run.secrets_file)
    for index, point in enumerate(spec.points):
        try:
            bound = params.bind(
                base.entry, [*fixed, *point.items()], request.run.cwd, base.project.directory,
                record_relative=relative, secrets=secrets,
            )  # fmt: skip
        except ParameterError as error:
            problems += [f"point {index} ({describe(point)}): {p}" for p in error.problems]
            continue
        fingerprint = base.fingerprint.with_params(bound.all_values()) if base.fingerprint else None
        points.append(
            dataclasses.replace(
                base,
                bound=bound,
                command=params.render_command(base.entry, bound),
                run_name=f"{base.run_name}-{index}",
                fingerprint=fingerprint,
            )
        )
    if problems:
        raise ParameterError(problems, entry_point=base.entry.name)
    parallel = spec.max_parallel or (len(points) if base.backend.DETACHABLE else 1)
    if parallel < 1:
        raise UsageError("--max-parallel must be at least 1")
    objective = sweep_spec.parse_objective(spec.objective) if spec.objective else None
    return SweepPlan(base, spec, tuple(points), min(parallel, len(points)), objective)


def run_sweep(
    plan: SweepPlan, *, needed_only: bool, on_progress: Callable[[Progress], None] | None = None
) -> SweepResult:
    """Run every point not done yet; the parent ends FINISHED when all finished (KILLED on Ctrl-C)."""
    base = plan.base
    tracker = get_tracker(base.tracking_uri)
    tracker.check()
    results = [PointResult(i, {d.name: p.bound.all_values()[d.name] for d in plan.spec.dimensions})
               for i, p in enumerate(plan.points)]  # fmt: skip
    if needed_only:
        experiment_id = needed.experiment_id_for(tracker, base.experiment_name, base.experiment_id)
        for result, point in zip(results, plan.points, strict=True):
            fingerprint = point.fingerprint.value if point.fingerprint else ""
            done = needed.done_run(tracker, experiment_id, fingerprint) if fingerprint else None
            if done is not None:
                result.status, result.run_id, result.exit_code = "FINISHED", done.run_id, 0
                result.reused = True
    prepared = base.env.build()  # once, for every point; a failed build creates no run
    experiment = tracker.resolve_experiment(base.experiment_name, base.experiment_id)
    user = lifecycle.user_name()
    parent_tags = {**lifecycle.start_tags(base, prepared, user), tags.SWEEP: str(len(plan.points))}
    for key in (tags.FINGERPRINT, tags.FINGERPRINT_INPUTS, tags.COMMAND):
        parent_tags.pop(key, None)
    start = lifecycle.now_ms()
    parent = tracker.create_run(experiment.experiment_id, base.run_name, user, start, parent_tags)
    outcome = SweepResult(parent.run_id, parent.experiment_id, tracker.uri, results)
    recorder = Recorder(tracker, parent)
    scratch = Path(tempfile.mkdtemp(prefix="mlrun-sweep-"))
    try:
        ownership.claim(parent.run_id, parent.experiment_id, parent.artifact_uri, tracker.uri,
                        detachable=False, scratch=scratch)  # fmt: skip
        swept = {d.name for d in plan.spec.dimensions}
        recorder.log_batch({k: v for k, v in base.bound.all_values().items() if k not in swept}, {})
        (scratch / "sweep.json").write_text(json.dumps(plan.spec.to_dict(), indent=2))
        recorder.log_artifact(scratch / "sweep.json", lifecycle.ARTIFACT_DIR)
        env_plan = dataclasses.replace(base.env, builder=lambda _plan: prepared)
        outcome.interrupted_by = _run_points(plan, parent, env_plan, results, on_progress)
        outcome.created = [r.run_id for r in results if r.run_id and not r.reused]
        settle_parent(plan.objective, tracker, recorder, outcome, scratch)
    except BaseException as error:
        lifecycle.fail_run(recorder, error)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        ownership.release(parent.run_id)
    return outcome


def _run_points(
    plan: SweepPlan,
    parent: RunRef,
    env_plan: EnvPlan,
    results: list[PointResult],
    on_progress: Callable[[Progress], None] | None,
) -> int | None:
    """The points not done yet, from worker threads; the signal that stopped them, if any."""
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for result in results:
        if not result.reused:
            todo.put(result.index)
    count = todo.qsize()
    # A backend with its own `submit_many` (Slurm's array job) gets every job at once, so every
    # point needs its worker at once; the cluster holds them to max_parallel. Otherwise (local,
    # Ray, ...) max_parallel workers each submit and follow one job at a time.
    queued = plan.base.backend.batches_sweeps()
    backend = SweepBackend(plan.base.backend, batch=count if queued else None, max_parallel=plan.max_parallel)
    threads = count if queued else plan.max_parallel
    running: set[int] = set()
    devnull = open(os.devnull, "wb")  # noqa: SIM115 - shared by the workers, closed below

    def work() -> None:
        while not backend.cancelled.is_set():
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            point = dataclasses.replace(
                plan.points[index], backend=backend, env=env_plan,
                extra_tags={tags.PARENT_RUN_ID: parent.run_id, tags.SWEEP_POINT: str(index)},
            )  # fmt: skip
            running.add(index)
            result = results[index]
            try:
                # Retries apply per point: each attempt its own child run, linked to the first.
                ran = run_attempts(
                    point, lambda attempt: lifecycle.execute(attempt, echo=io.BytesIO(), child_stdout=devnull)
                )
                result.run_id, result.status, result.exit_code = ran.run_id, ran.status.name, ran.exit_code
            except BaseException as error:  # the lifecycle has ended the run FAILED (KILLED) already
                killed = isinstance(error, KeyboardInterrupt)
                result.status = "KILLED" if killed else "FAILED"
                result.error = getattr(error, "message", str(error) or type(error).__name__)
                result.run_id = backend.run_ids.get(point.run_name)
                if result.run_id is None:
                    backend.give_up()
            finally:
                running.discard(index)

    workers = [threading.Thread(target=work, name=f"mlrun-sweep-{n}") for n in range(threads)]
    signum = None
    try:
        for worker in workers:
            worker.start()
        signum = _wait_for(workers, backend, results, running, on_progress)
    finally:
        devnull.close()
    return signum


def _wait_for(
    workers: list[threading.Thread],
    backend: SweepBackend,
    results: list[PointResult],
    running: set[int],
    on_progress: Callable[[Progress], None] | None,
) -> int | None:
    signum: int | None = None
    while any(w.is_alive() for w in workers):
        try:
            for worker in workers:
                worker.join(timeout=0.2)
                if signum is not None:
                    backend.cancel_all(signum)  # again: a job may have been starting
            if on_progress is not None:
                done = sum(r.status != "PENDING" for r in results)
                failed = sum(r.status in ("FAILED", "KILLED") for r in results)
                on_progress(Progress(len(results), done, len(running), failed))
        except KeyboardInterrupt:
            signum = signal.SIGINT
            backend.cancel_all(signum)
        except Terminated as error:
            signum = error.signum
            backend.cancel_all(signum)
    return signum
