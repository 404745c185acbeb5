"""`mlrun ui`: MLflow's own UI over the tracking store (MLflow installed once when missing)."""

from __future__ import annotations

import sys

import click

from mlrun_cli.cli.common import debug_enabled
from mlrun_cli.cli.error_handler import error_handler


@click.command(context_settings={"ignore_unknown_options": True, "show_default": True})
@click.option(
    "--tracking-uri", default=None, help="The store to show [default: MLFLOW_TRACKING_URI, else ./mlruns]."
)
@click.option("--host", default="127.0.0.1", help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, help="The port to listen on.")
@click.argument("mlflow_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ui(
    ctx: click.Context, tracking_uri: str | None, host: str, port: int, mlflow_args: tuple[str, ...]
) -> None:
    """Start MLflow's UI for the runs mlrun recorded; other options go to 'mlflow ui'.

    Uses the mlflow command on PATH (or the 'mlflow' extra); without one, installs MLflow once
    with uv into mlrun's folder.
    """
    with error_handler(debug=debug_enabled(ctx), as_json=False):
        from mlrun_cli.app.ui import UiRequest, runs_view_url, server_url, start_ui

        request = UiRequest(tracking_uri, host, port, mlflow_args)
        url = server_url(request)
        if url is not None:
            click.echo(f"mlrun: {url} is an MLflow server: its UI is there already: {runs_view_url(url)}")
            return
        exit_code = start_ui(request)
    sys.exit(exit_code)
