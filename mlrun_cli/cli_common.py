"""What the command-line modules share."""

from __future__ import annotations

import json
from typing import Any

import click

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda", "docker")


def debug_enabled(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("debug"))


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
