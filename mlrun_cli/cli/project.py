"""`mlrun validate` and `mlrun schema`: the project's files, checked without running anything."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from mlrun_cli.cli.common import PathArg, debug_enabled, print_json, warn
from mlrun_cli.cli.error_handler import error_handler

if TYPE_CHECKING:
    from pathlib import Path

SCHEMAS = ("mlproject", "python_env", "conda_env", "slurm_config", "kubernetes_config", "sweep")


@click.command()
@click.argument("path", default=".", type=PathArg())
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 2), e.g. in CI.")
@click.pass_context
def validate(ctx: click.Context, path: Path, as_json: bool, strict: bool) -> None:
    """Check PATH's MLproject and env files; exit 0 when valid, 2 when not."""
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli.cli import render
        from mlrun_cli.project import validate as validation

        report = validation.validate(path, strict=strict)
        if as_json:
            print_json(report.to_dict())
        else:
            click.echo(render.report_text(report), err=not report.valid)
            warn(report.warnings)
        sys.exit(0 if report.valid else 2)


@click.command()
@click.argument("name", type=click.Choice(SCHEMAS), default="mlproject")
def schema(name: str) -> None:
    """Print the JSON schema for an MLproject, python_env.yaml or conda.yaml."""
    from mlrun_cli.project.schemas import schema_text

    click.echo(schema_text(name), nl=False)
