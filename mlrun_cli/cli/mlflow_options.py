"""`mlflow run`'s options that mlrun has no other name for, kept together: `--run-id` with its
meaning; the others refused (exit 2) saying what to use instead, since its users type them from
habit. `-P/--param-list`, `-A`, `-b`, `-c`, `-e`, `-v`, `--env-manager`, `--experiment-*`,
`--run-name` and `--build-image` are mlrun's own options already (see README, "Coming from mlflow run").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from mlrun_cli.runs.resume import REFUSED

F = TypeVar("F", bound=Callable[..., Any])


def _refuse(_ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None:
        name = param.opts[0]
        raise click.UsageError(f"{name} (an 'mlflow run' option) is not needed here: {REFUSED[name]}")


def mlflow_run_options(command: F) -> F:
    for name in REFUSED:
        command = click.option(name, hidden=True, expose_value=False, callback=_refuse)(command)
    return click.option(
        "--run-id",
        default=None,
        metavar="RUN_ID",
        help="Record into this existing run that has not ended, instead of a new one (as mlflow run).",
    )(command)
