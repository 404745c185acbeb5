"""`mlrun completion SHELL`, and the hooks that options and arguments complete through.

Imported at start-up (the option decorators name the hooks), so it holds nothing but click:
each hook imports `cli/completers.py`, and that what it reads, only when a shell asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # click.shell_completion itself is imported only when completing
    from click.shell_completion import CompletionItem

SHELLS = ("bash", "zsh", "fish")
Completer = Callable[[click.Context, click.Parameter, str], "list[CompletionItem]"]


def complete_var(prog_name: str) -> str:
    """The variable a shell sets to ask for completions: click's rule (`_MLRUN_CLI_COMPLETE`)."""
    return f"_{prog_name.replace('-', '_').upper()}_COMPLETE"


def lazy(name: str) -> Completer:
    """A completer that imports the real one (`completers.<name>`) when first called."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        from mlrun_cli.cli import completers

        found: list[CompletionItem] = getattr(completers, name)(ctx, param, incomplete)
        return found

    return complete


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash:  eval "$(mlrun completion bash)"      in ~/.bashrc
    zsh:   eval "$(mlrun completion zsh)"       in ~/.zshrc
    fish:  mlrun completion fish > ~/.config/fish/completions/mlrun.fish
    """
    from mlrun_cli.cli import completers

    root = ctx.find_root()
    prog_name = root.info_name or "mlrun"
    click.echo(completers.source(root.command, prog_name, complete_var(prog_name), shell))
