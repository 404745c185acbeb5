"""`mlrun runs ...`: list, show, wait for, cancel and sync recorded runs."""

from __future__ import annotations

import sys

import click

from mlrun_cli.cli.common import debug_enabled, print_json, warn
from mlrun_cli.cli.completion import lazy
from mlrun_cli.cli.error_handler import error_handler


@click.group()
def runs() -> None:
    """List and inspect recorded runs."""


_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")


@runs.command("list")
@click.option(
    "--experiment", "--experiment-name", "experiment_name", default=None, help="Only this experiment's runs."
)
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.option(
    "--filter",
    "filter_string",
    default="",
    help="MLflow's search grammar: \"metrics.rmse < 0.8 and params.alpha = '0.1'\".",
)
@click.option(
    "--order-by", multiple=True, help="metrics.rmse [ASC|DESC]; repeatable. [default: newest first]"
)
@click.option(
    "--status",
    type=click.Choice(_STATUSES, case_sensitive=False),
    default=None,
    help="Only runs in this state.",
)
@click.option(
    "--parent", default=None, metavar="RUN_ID", help="Only the points of this sweep (children of the run)."
)
@click.option("--deleted", "view", flag_value="DELETED_ONLY", help="Only deleted runs.")
@click.option("--all", "view", flag_value="ALL", help="Active and deleted runs.")
@click.option("--max-results", default=100, show_default=True, type=click.IntRange(1))
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --output json.")
@click.pass_context
def runs_list(ctx: click.Context, experiment_name: str | None, tracking_uri: str | None, filter_string: str,
              order_by: tuple[str, ...], status: str | None, parent: str | None, view: str | None,
              max_results: int, output: str, as_json: bool) -> None:  # fmt: skip
    """Recorded runs, newest first (deleted ones only with --deleted or --all)."""
    output = "json" if as_json else output
    with error_handler(debug=debug_enabled(ctx), as_json=output == "json"):
        from mlrun_cli.cli import render
        from mlrun_cli.runs import finding
        from mlrun_cli.tracking.base import RunQuery, ViewType
        from mlrun_cli.tracking.search.runs import with_conditions

        text = with_conditions(filter_string, status=status and status.upper(), parent=parent)
        query = RunQuery(None, text, order_by, max_results, ViewType[view or "ACTIVE_ONLY"])
        records = finding.list_runs(tracking_uri, query, experiment_name)
        if output == "json":
            print_json([r.to_dict() for r in records])
        else:
            click.echo(
                render.runs_csv(records) if output == "csv" else render.runs_table(records),
                nl=output != "csv",
            )


@runs.command("sync")
@click.pass_context
def runs_sync(ctx: click.Context) -> None:
    """Send what runs kept in the outbox while their tracking store was unreachable."""
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli.runs import api

        results = api.sync_runs()
        for result in results:
            done = f"{result.skipped} damaged, moved aside" if result.skipped else "all sent"
            state = f"{result.pending} still pending ({result.error})" if result.pending else done
            click.echo(f"run {result.run_id} -> {result.tracking_uri}: {result.sent} sent, {state}")
        if not results:
            click.echo("Nothing to send.")
        sys.exit(1 if any(r.pending for r in results) else 0)


@runs.command("show")
@click.argument("run_id", shell_complete=lazy("run_id"))
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.pass_context
def runs_show(ctx: click.Context, run_id: str, tracking_uri: str | None, as_json: bool) -> None:
    """One run: status, parameters, metrics, tags and artifacts."""
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli.cli import render
        from mlrun_cli.runs import api

        record, job_state = api.show_run(tracking_uri, run_id)
        if as_json:
            from mlrun_cli.runs.finding import lineage

            print_json({**record.to_dict(), "job_state": job_state, "lineage": lineage(record)})
        else:
            click.echo(render.run_details(record, job_state))


@runs.command("wait")
@click.argument("run_id", shell_complete=lazy("run_id"))
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
        from mlrun_cli.runs import api

        record, exit_code = api.wait_run(
            tracking_uri, run_id, timeout, sys.stderr.buffer if as_json else None
        )
        if as_json:
            print_json({**record.to_dict(), "exit_code": exit_code})
        else:
            click.echo(f"mlrun: run {record.run_id} {record.status.name} (exit code {exit_code})", err=True)
        sys.exit(exit_code)


@runs.command("rerun")
@click.argument("run_id", shell_complete=lazy("run_id"))
@click.option(
    "-P", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Override a recorded value."
)
@click.option("-b", "--backend", default=None, help="[default: the backend the run used]")
@click.option(
    "--exact", is_flag=True, help="Refuse (exit 2) if source, env or package versions would differ."
)
@click.option("--dry-run", is_flag=True, help="Show what would run and how it differs from the original.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (or the plan) as JSON.")
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.pass_context
def runs_rerun(ctx: click.Context, run_id: str, params: tuple[str, ...], backend: str | None, exact: bool,
               dry_run: bool, as_json: bool, tracking_uri: str | None) -> None:  # fmt: skip
    """Run a recorded run again from its record: its commit with its uncommitted changes, its
    entry point and parameters, its env; a new run tagged mlrun.rerun_of."""
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli.runs import rerun

        request = rerun.RerunRequest(run_id, params, backend, exact, tracking_uri)
        if dry_run:
            found = rerun.dry_rerun(request)
            if as_json:
                print_json(found.to_dict())
            else:
                click.echo(found.text())
            warn(found.warnings)
            return
        result, found = rerun.rerun(request, child_stdout=sys.stderr.buffer if as_json else None)
        if as_json:
            print_json(
                {
                    **result.to_dict(),
                    "rerun_of": run_id,
                    "differences": [d.to_dict() for d in found.differences],
                }
            )
        else:
            click.echo(
                f"mlrun: run {result.run_id} (rerun of {run_id}) {result.status.name} in "
                f"{result.duration_s:.2f}s (exit code {result.exit_code})",
                err=True,
            )
        sys.exit(result.exit_code)


@runs.command("cancel")
@click.argument("run_id", shell_complete=lazy("run_id"))
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.pass_context
def runs_cancel(ctx: click.Context, run_id: str, tracking_uri: str | None) -> None:
    """Cancel a detached run's job (scancel, or delete the Job) and record it KILLED."""
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli.runs import api

        record, exit_code = api.cancel_run(tracking_uri, run_id)
        click.echo(f"mlrun: run {record.run_id} {record.status.name} (exit code {exit_code})", err=True)


@runs.command("delete")
@click.argument("run_id")
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.pass_context
def runs_delete(ctx: click.Context, run_id: str, tracking_uri: str | None) -> None:
    """Mark a run deleted, as `mlflow runs delete` does: hidden from `runs list` until restored."""
    _set_deleted(ctx, run_id, tracking_uri, deleted=True)


@runs.command("restore")
@click.argument("run_id")
@click.option("--tracking-uri", default=None, help="[default: MLFLOW_TRACKING_URI, else ./mlruns]")
@click.pass_context
def runs_restore(ctx: click.Context, run_id: str, tracking_uri: str | None) -> None:
    """Make a deleted run active again, as `mlflow runs restore` does."""
    _set_deleted(ctx, run_id, tracking_uri, deleted=False)


def _set_deleted(ctx: click.Context, run_id: str, tracking_uri: str | None, *, deleted: bool) -> None:
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli.runs import finding

        record = finding.set_run_deleted(tracking_uri, run_id, deleted)
        click.echo(f"run {record.run_id} {'deleted' if deleted else 'restored'}")
