"""`mlrun validate` and `mlrun schema`: the project's files, checked without running anything."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from mlrun_cli.cli.common import PathArg, debug_enabled, print_json, warn
from mlrun_cli.cli.error_handler import error_handler

if TYPE_CHECKING:
    from pathlib import Path

SCHEMAS = ("mlproject", "python_env", "conda_env", "slurm_config", "kubernetes_config", "ray_config", "sweep")


@click.command()
@click.argument("paths", nargs=-1, type=PathArg())
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (a list for several PATHs).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 2), e.g. in CI.")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...], as_json: bool, strict: bool) -> None:
    """Check the MLproject and env files of each PATH (default '.'); exit 0 when all are valid, 2
    when not.

    A PATH is a project folder, its MLproject, or an env file (as pre-commit passes them): a file
    belongs to the nearest folder above it with an MLproject.
    """
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from pathlib import Path

        from mlrun_cli.cli import render
        from mlrun_cli.project import validate as validation

        folders = validation.project_folders(paths or (Path("."),))
        reports = [validation.validate(folder, strict=strict) for folder in folders]
        if as_json:
            print_json([r.to_dict() for r in reports] if len(paths) > 1 else reports[0].to_dict())
        else:
            for report in reports:
                click.echo(render.report_text(report), err=not report.valid)
                warn(report.warnings)
        sys.exit(0 if all(r.valid for r in reports) else 2)


@click.command()
@click.argument("name", type=click.Choice(SCHEMAS), default="mlproject", metavar="[KIND]")
def schema(name: str) -> None:
    """Print the JSON schema of a file mlrun checks.

    KIND is one of: mlproject (the default), python_env, conda_env, slurm_config,
    kubernetes_config, ray_config, sweep.
    """
    from mlrun_cli.documents.schemas import schema_text

    click.echo(schema_text(name), nl=False)
