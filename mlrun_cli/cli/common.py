"""What the command-line modules share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pathlib import Path

ENV_MANAGER_HELP = "How to build the environment: local, virtualenv, uv, conda, docker or a plugin's name"


def debug_enabled(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("debug"))


def print_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=str))


def warn(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(f"Warning: {line}", err=True)


class PathArg(click.Path):
    """A click.Path that gives a pathlib.Path; pathlib is imported when a value comes, so that
    declaring the option costs `mlrun --help` nothing."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        import os
        from pathlib import Path

        return Path(os.fsdecode(super().convert(value, param, ctx)))


class LazyHelpOption(click.Option):
    """An option whose help is worked out when help is shown (from plugins, say), so declaring it
    costs every other command nothing; `help` is the text until then (e.g. for completion)."""

    def __init__(self, *args: Any, help_text: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help_text = help_text

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self.help_text()
        return super().get_help_record(ctx)
