"""`mlrun run`: options parsed into a RunRequest, handed to the core, the result printed."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from mlrun_cli.cli.common import LazyHelpOption, PathArg, debug_enabled, print_json, warn
from mlrun_cli.cli.completion import lazy
from mlrun_cli.cli.error_handler import error_handler
from mlrun_cli.cli.mlflow_options import mlflow_run_options

if TYPE_CHECKING:
    from pathlib import Path

_DETACH_HELP = "Return once submitted, on {backends} ('mlrun runs wait')."


def _detach_help() -> str:
    from mlrun_cli.backends import detachable

    return _DETACH_HELP.format(backends="/".join(detachable()))


@click.command(context_settings={"show_default": True})
@click.argument("uri", default=".", shell_complete=lazy("uri"))
@click.option(
    "-e",
    "--entry-point",
    default="main",
    help="Entry point name, or a .py/.sh file.",
    shell_complete=lazy("entry_point"),
)
@click.option(
    "-P",
    "--param",
    "--param-list",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter value; repeat for more.",
    shell_complete=lazy("param"),
)
@click.option(
    "--env-manager",
    default=None,
    show_default=False,
    metavar="local|virtualenv|uv|conda|docker|PLUGIN",
    help="How to build the environment [default: from the project, or MLRUN_ENV_MANAGER].",
    shell_complete=lazy("env_manager"),
)
@click.option("--experiment-name", default=None, help="Experiment to record into (created if missing).")
@click.option("--experiment-id", default=None, help="Existing experiment id to record into.")
@click.option("--run-name", default=None, help="Name of the run [default: generated].")
@click.option(
    "--tracking-uri", default=None, help="Where to record [default: MLFLOW_TRACKING_URI, else ./mlruns]."
)
@click.option("--no-track", is_flag=True, help="Record nothing (same as --tracking-uri none).")
@click.option("-v", "--version", "git_version", default=None, help="Git branch, tag or commit.")
@click.option("--refresh", is_flag=True, help="Fetch from the git remote even if the commit is cached.")
@click.option(
    "--build-image", is_flag=True, help="docker: bake the code into an image (reused while it is unchanged)."
)
@click.option(
    "-A",
    "--docker-args",
    multiple=True,
    metavar="NAME[=VALUE]",
    help="docker: a docker run option; repeatable.",
)
@click.option("--keep-container", is_flag=True, help="docker: do not remove the container afterwards.")
@click.option(
    "-b",
    "--backend",
    default="local",
    help="Where the command runs: local, slurm, kubernetes, ray.",
    shell_complete=lazy("backend"),
)
@click.option(
    "-c",
    "--backend-config",
    default=None,
    metavar="JSON|FILE",
    help="Backend settings: JSON text or a .json/.yaml file ('mlrun schema slurm_config', ray_config, ...).",
)
@click.option(
    "--timeout",
    default=None,
    metavar="DURATION",
    help="Stop the run after this long (90s, 30m, 2h): FAILED, exit 124 [default: the entry point's].",
)
@click.option(
    "--retries", type=click.IntRange(0, 100), default=None, help="Try a failed run again up to N more times."
)
@click.option(
    "--retry-delay", default="2s", metavar="DURATION", help="Before the 2nd attempt (0: none); doubled after."
)
@click.option(
    "--retry-on",
    metavar="CODES",
    default=None,
    help="Only retry these exit codes (comma list, e.g. 137,143).",
)
@click.option("--retry-on-timeout", is_flag=True, help="Also retry a run that exceeded --timeout.")
@click.option(
    "--secrets-file",
    type=PathArg(),
    default=None,
    help="dotenv values for secret parameters (mode 600) [default: -P, then MLRUN_SECRET_<NAME>].",
)
@click.option("--detach", is_flag=True, cls=LazyHelpOption, help_text=_detach_help,
              help=_DETACH_HELP.format(backends="a backend that queues jobs"))  # fmt: skip
@click.option(
    "--params-stdin",
    is_flag=True,
    hidden=True,
    help="Also read NAME=VALUE parameters as a JSON list from stdin (the Python API: off argv).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; run and record nothing.")
@click.option("--strict", is_flag=True, help="Warnings are errors (exit 2) before any run exists.")
@click.option(
    "--needed", is_flag=True, help="Skip the run if a FINISHED run with the same fingerprint exists."
)
@click.option("-S", "--sweep", "sweeps", multiple=True, metavar="NAME=SPEC",
              help="Sweep a parameter: a,b,c | range(a,b[,step]) | linspace(a,b,n) | logspace(a,b,n); "
              "repeatable.")  # fmt: skip
@click.option(
    "--sweep-file",
    type=PathArg(exists=True, dir_okay=False),
    default=None,
    help="The sweep in a YAML file ('mlrun schema sweep').",
)
@click.option("--random", "random_points", type=click.IntRange(1), default=None, metavar="N",
              help="Sample N points instead of the grid (also uniform(a,b), loguniform(a,b)).")  # fmt: skip
@click.option("--seed", type=int, default=None, help="The random seed of --random.")
@click.option("--max-parallel", type=click.IntRange(1), default=None, metavar="N",
              help="Sweep points running at once [default: 1 locally; all on a cluster].")  # fmt: skip
@click.option("--objective", default=None, metavar="METRIC[:min|max]",
              help="The sweep's parent records the best point by this metric.")  # fmt: skip
@click.option("--early-stop", type=click.Choice(["median", "asha"]), default=None,
              help="Stop losing sweep points by their logged --objective metric.")  # fmt: skip
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object at the end (the command's stdout goes to stderr).",
)
@mlflow_run_options
@click.pass_context
def run(
    ctx: click.Context,
    uri: str,
    entry_point: str,
    params: tuple[str, ...],
    env_manager: str | None,
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    tracking_uri: str | None,
    no_track: bool,
    git_version: str | None,
    refresh: bool,
    build_image: bool,
    docker_args: tuple[str, ...],
    keep_container: bool,
    backend: str,
    backend_config: str | None,
    detach: bool,
    timeout: str | None,
    retries: int | None,
    retry_delay: str,
    retry_on: str | None,
    retry_on_timeout: bool,
    secrets_file: Path | None,
    params_stdin: bool,
    dry_run: bool,
    strict: bool,
    needed: bool,
    sweeps: tuple[str, ...],
    sweep_file: Path | None,
    random_points: int | None,
    seed: int | None,
    max_parallel: int | None,
    objective: str | None,
    early_stop: str | None,
    as_json: bool,
    run_id: str | None,
) -> None:
    """Run a project (a folder; default '.') and record the run."""
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli.cli import render
        from mlrun_cli.envs.base import EnvOptions
        from mlrun_cli.runs import api

        request = api.RunRequest(
            uri=uri,
            entry_point=entry_point,
            params=params + (_stdin_params() if params_stdin else ()),
            env_manager=env_manager,
            experiment_name=experiment_name,
            experiment_id=experiment_id,
            run_name=run_name,
            tracking_uri="none" if no_track else tracking_uri,
            version=git_version,
            refresh=refresh,
            env_options=EnvOptions(build_image, docker_args, keep_container),
            backend=backend,
            backend_config=backend_config,
            detach=detach,
            dry_run=dry_run,
            timeout=timeout,
            retries=retries,
            retry_delay=retry_delay,
            retry_on=_exit_codes(retry_on),
            retry_on_timeout=retry_on_timeout,
            secrets_file=secrets_file,
            needed=needed,
            run_id=run_id,
            strict=strict,
        )
        shaping = (random_points, seed, max_parallel, objective, early_stop)
        _check_sweep_options(sweeps, sweep_file is not None, *shaping)
        if sweeps or sweep_file is not None:
            if run_id is not None:
                from mlrun_cli.errors import UsageError

                raise UsageError("a sweep records a run per point; --run-id continues one run: not both")
            from mlrun_cli.cli.sweep import run_sweep
            from mlrun_cli.runs.sweeps.run import SweepRequest

            run_sweep(SweepRequest(request, sweeps, sweep_file, *shaping), dry_run=dry_run, as_json=as_json)
        if dry_run:
            plan, reused = api.dry_run(request)
            if as_json:
                print_json({**plan.to_dict(), **({"reused_run_id": reused} if needed else {})})
            else:
                click.echo(render.plan_text(plan, needed=needed, reused=reused))
            warn(plan.warnings)
            return
        result = api.run(request, child_stdout=sys.stderr.buffer if as_json else None)
        if as_json:
            print_json(result.to_dict())
        elif result.reused:
            click.echo(f"mlrun: done already in run {result.run_id}", err=True)
        elif detach:
            click.echo(f"mlrun: run {result.run_id} submitted as {backend} job {result.job_id}", err=True)
            prog = ctx.find_root().info_name
            click.echo(f"mlrun: follow it with: {prog} runs wait {result.run_id}", err=True)
        else:
            click.echo(
                f"mlrun: run {result.run_id} {result.status.name} in "
                f"{result.duration_s:.2f}s (exit code {result.exit_code})"
                + (f" at attempt {result.attempt} of {result.max_attempts}" if result.attempts else ""),
                err=True,
            )
        sys.exit(result.exit_code)


def _exit_codes(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(code) for code in text.split(",") if code.strip())
    except ValueError:
        from mlrun_cli.errors import UsageError

        raise UsageError(f"--retry-on {text!r}: give exit codes separated by commas, e.g. 137,143") from None


def _stdin_params() -> tuple[str, ...]:
    import json

    from mlrun_cli.errors import UsageError

    try:
        values = json.loads(sys.stdin.read() or "[]")
    except ValueError:
        raise UsageError("--params-stdin: stdin is not a JSON list of NAME=VALUE strings") from None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise UsageError("--params-stdin: stdin is not a JSON list of NAME=VALUE strings")
    return tuple(values)


def _check_sweep_options(
    sweeps: tuple[str, ...],
    in_file: bool,
    random_points: int | None,
    seed: int | None,
    max_parallel: int | None,
    objective: str | None,
    early_stop: str | None,
) -> None:
    """Options that only shape a sweep are refused elsewhere, rather than silently ignored."""
    from mlrun_cli.errors import UsageError

    given = {
        "--random": random_points,
        "--seed": seed,
        "--max-parallel": max_parallel,
        "--objective": objective,
        "--early-stop": early_stop,
    }
    named = [name for name, value in given.items() if value is not None]
    if named and not (sweeps or in_file):
        raise UsageError(
            f"{', '.join(named)}: only for a sweep", hint="give values with -S NAME=SPEC or --sweep-file"
        )
    if seed is not None and random_points is None and not in_file:  # a file may say `random: N`
        raise UsageError("--seed picks the points of --random N: give --random too")
