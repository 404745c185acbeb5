"""What the command-line modules share."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click

ENV_MANAGER_HELP = "How to build the environment: local, virtualenv, uv, conda, docker or a plugin's name"


def debug_enabled(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("debug"))


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def warn(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(f"Warning: {line}", err=True)
