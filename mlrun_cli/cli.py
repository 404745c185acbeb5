"""The `mlrun` command line: parse options into typed requests and hand them to the core."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlrun_cli import __version__
from mlrun_cli.cli_common import ENV_MANAGERS, debug_enabled, print_json
from mlrun_cli.cli_env import env
from mlrun_cli.error_handler import error_handler

SCHEMAS = ("mlproject", "python_env", "conda_env", "slurm_config", "kubernetes_config")


def _warn(lines: list[str] | tuple[str, ...]) -> None:
    for line in lines:
        click.echo(f"Warning: {line}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="mlrun")
@click.option("--debug", is_flag=True, envvar="MLRUN_DEBUG", help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Run MLflow projects fast, strictly and safely; record every run."""


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def validate(ctx: click.Context, path: Path, as_json: bool) -> None:
    """Check PATH's MLproject and env files; exit 0 when valid, 2 when not."""
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli import render, validation

        report = validation.validate(path)
        if as_json:
            print_json(report.to_dict())
        else:
            click.echo(render.report_text(report), err=not report.valid)
            _warn(report.warnings)
        sys.exit(0 if report.valid else 2)


@cli.command()
@click.argument("name", type=click.Choice(SCHEMAS), default="mlproject")
def schema(name: str) -> None:
    """Print the JSON schema for an MLproject, python_env.yaml or conda.yaml."""
    from mlrun_cli.project.schemas import schema_text

    click.echo(schema_text(name), nl=False)


@cli.command(context_settings={"show_default": True})
@click.argument("uri", default=".")
@click.option("-e", "--entry-point", default="main", help="Entry point name, or a .py/.sh file.")
@click.option(
    "-P", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A parameter value; repeat for more."
)
@click.option(
    "--env-manager",
    type=click.Choice(ENV_MANAGERS),
    default=None,
    show_default=False,
    help="How to build the environment [default: from the project, or MLRUN_ENV_MANAGER].",
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
@click.option("-b", "--backend", default="local", help="Where the command runs: local, slurm, kubernetes.")
@click.option(
    "-c",
    "--backend-config",
    default=None,
    metavar="JSON|FILE",
    help="Backend settings: JSON text or a .json/.yaml file ('mlrun schema slurm_config').",
)
@click.option("--detach", is_flag=True, help="slurm/kubernetes: return once submitted ('mlrun runs wait').")
@click.option("--dry-run", is_flag=True, help="Show the plan; run and record nothing.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object at the end (the command's stdout goes to stderr).",
)
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
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run a project (a folder; default '.') and record the run."""
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli import api, render
        from mlrun_cli.envs.base import EnvOptions

        request = api.RunRequest(
            uri=uri,
            entry_point=entry_point,
            params=params,
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
        )
        if dry_run:
            plan = api.dry_run(request)
            print_json(plan.to_dict()) if as_json else click.echo(render.plan_text(plan))
            _warn(plan.project.warnings)
            return
        result = api.run(request, child_stdout=sys.stderr.buffer if as_json else None)
        if as_json:
            print_json(result.to_dict())
        elif detach:
            click.echo(f"mlrun: run {result.run_id} submitted as {backend} job {result.job_id}", err=True)
            click.echo(f"mlrun: follow it with: mlrun runs wait {result.run_id}", err=True)
        else:
            click.echo(
                f"mlrun: run {result.run_id} {result.status.name} in "
                f"{result.duration_s:.2f}s (exit code {result.exit_code})",
                err=True,
            )
        sys.exit(result.exit_code)


@cli.group()
def runs() -> None:
    """List and inspect recorded runs."""


@runs.command("list")
@click.option("--experiment-name", default=None, help="Only this experiment's runs.")
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.option("--max-results", default=100, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.pass_context
def runs_list(
    ctx: click.Context, experiment_name: str | None, tracking_uri: str | None, max_results: int, as_json: bool
) -> None:
    """Recorded runs, newest first."""
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli import api, render

        records = api.list_runs(tracking_uri, experiment_name, max_results)
        if as_json:
            print_json([r.to_dict() for r in records])
        else:
            click.echo(render.runs_table(records))


@runs.command("sync")
@click.pass_context
def runs_sync(ctx: click.Context) -> None:
    """Send what runs kept in the outbox while their tracking store was unreachable."""
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli import api

        results = api.sync_runs()
        for result in results:
            done = f"{result.skipped} damaged, moved aside" if result.skipped else "all sent"
            state = f"{result.pending} still pending ({result.error})" if result.pending else done
            click.echo(f"run {result.run_id} -> {result.tracking_uri}: {result.sent} sent, {state}")
        if not results:
            click.echo("Nothing to send.")
        sys.exit(1 if any(r.pending for r in results) else 0)


@runs.command("show")
@click.argument("run_id")
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.pass_context
def runs_show(ctx: click.Context, run_id: str, tracking_uri: str | None, as_json: bool) -> None:
    """One run: status, parameters, metrics, tags and artifacts."""
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli import api, render

        record, job_state = api.show_run(tracking_uri, run_id)
        if as_json:
            print_json({**record.to_dict(), "job_state": job_state})
        else:
            click.echo(render.run_details(record, job_state))


@runs.command("wait")
@click.argument("run_id")
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.option("--timeout", type=click.FloatRange(0), default=None, help="Give up after this many seconds.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the run as JSON (the job's output goes to stderr)."
)
@click.pass_context
def runs_wait(
    ctx: click.Context, run_id: str, tracking_uri: str | None, timeout: float | None, as_json: bool
) -> None:
    """Wait for a detached run's job, record how it ended, exit with its exit code.

    Ctrl-C stops waiting; the job goes on.
    """
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli import api

        record, exit_code = api.wait_run(
            tracking_uri, run_id, timeout, sys.stderr.buffer if as_json else None
        )
        if as_json:
            print_json({**record.to_dict(), "exit_code": exit_code})
        else:
            click.echo(f"mlrun: run {record.run_id} {record.status.name} (exit code {exit_code})", err=True)
        sys.exit(exit_code)


@runs.command("cancel")
@click.argument("run_id")
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.pass_context
def runs_cancel(ctx: click.Context, run_id: str, tracking_uri: str | None) -> None:
    """Cancel a detached run's job (scancel, or delete the Job) and record it KILLED."""
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli import api

        record, exit_code = api.cancel_run(tracking_uri, run_id)
        click.echo(f"mlrun: run {record.run_id} {record.status.name} (exit code {exit_code})", err=True)


def main() -> None:
    cli(prog_name="mlrun")


cli.add_command(env)
