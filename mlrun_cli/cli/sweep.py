"""`mlrun run -S ...`: a sweep's progress line, its table of points, and its exit code."""

from __future__ import annotations

import sys

import click

from mlrun_cli.cli.common import print_json, warn
from mlrun_cli.runs.sweeps.result import Progress, SweepResult
from mlrun_cli.runs.sweeps.run import SweepRequest


def run_sweep(request: SweepRequest, *, dry_run: bool, as_json: bool) -> None:
    """Run (or list) the sweep, print it, and exit: 0 when every point finished, else 1."""
    from mlrun_cli.runs import api

    if dry_run:
        plan = api.dry_sweep(request)
        if as_json:
            print_json(plan.to_dict())
        else:
            for point in plan.to_dict()["points"]:  # type: ignore[attr-defined]
                click.echo(f"{point['index']:>4}  {point['command']}")
            count, plural = len(plan.points), "" if len(plan.points) == 1 else "s"
            click.echo(f"mlrun: {count} point{plural}, {plan.max_parallel} at once", err=True)
        warn(plan.warnings)
        sys.exit(0)
    live = sys.stderr.isatty() and not as_json
    result = api.sweep(request, on_progress=_progress_line if live else None)
    if live:
        click.echo("\r\033[K", nl=False, err=True)
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(points_table(result), err=True)
        _summary(result)
    warn(result.warnings)
    sys.exit(result.exit_code)


def _progress_line(progress: Progress) -> None:
    line = (
        f"mlrun: sweep {progress.done}/{progress.total} done, {progress.running} running, "
        f"{progress.failed} failed"
    )
    click.echo(f"\r\033[K{line}", nl=False, err=True)


def points_table(result: SweepResult) -> str:
    names = list(result.points[0].point) if result.points else []
    header = ["#", *names, "status", "run"] + ([result.objective] if result.objective else [])
    rows = [header]
    for point in result.points:
        run = (point.run_id or "-") + (" (reused)" if point.reused else "")
        status = f"{point.status} (stopped early)" if point.early_stopped else point.status
        row = [str(point.index), *(point.point[n] for n in names), status, run]
        if result.objective:
            row.append("-" if point.objective is None else f"{point.objective:g}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _summary(result: SweepResult) -> None:
    reused = sum(p.reused for p in result.points)
    ran = len(result.created)
    points = f"{ran} point{'' if ran == 1 else 's'}"
    if result.detached:
        click.echo(
            f"mlrun: sweep {result.parent_run_id} submitted: {points}, {reused} reused; "
            f"follow it with: mlrun runs wait {result.parent_run_id}",
            err=True,
        )
        return
    text = f"mlrun: sweep {result.parent_run_id} {result.status.name}: {points} ran, {reused} reused"
    if result.early_stop is not None:
        text += f", {result.stopped_early} stopped early ({result.early_stop['rule']})"
    click.echo(text, err=True)
    if result.best is not None:
        values = " ".join(f"{k}={v}" for k, v in result.best.point.items())
        click.echo(
            f"mlrun: best point {result.best.index}: {values} "
            f"({result.objective} = {result.best.objective:g}) in run {result.best.run_id}",
            err=True,
        )
    failed = [p for p in result.points if not p.settled]
    for point in failed:
        where = f" (run {point.run_id})" if point.run_id else ""
        point_text = " ".join(f"{k}={v}" for k, v in point.point.items())
        click.echo(f"mlrun: point {point.index} {point_text}: {point.status}{where}", err=True)
