"""`mlrun env ...`: build, locate, list, prune and lock cached environments."""

from __future__ import annotations

import click

from mlrun_cli.cli.common import debug_enabled, print_json
from mlrun_cli.cli.completion import lazy
from mlrun_cli.cli.error_handler import error_handler


@click.group()
def env() -> None:
    """Build, locate, key, list and prune cached environments."""


_ENV_MANAGER_OPTION = click.option(
    "--env-manager",
    default=None,
    metavar="local|virtualenv|uv|conda|docker|PLUGIN",
    help="[default: from the project, or MLRUN_ENV_MANAGER]",
    shell_complete=lazy("env_manager"),
)


@env.command("build")
@click.argument("uri", default=".")
@_ENV_MANAGER_OPTION
@click.pass_context
def env_build(ctx: click.Context, uri: str, env_manager: str | None) -> None:
    """Build (or reuse) the environment of the project in URI; print its path (or image)."""
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli.app import env_commands

        click.echo(env_commands.build(uri, env_manager).location)


@env.command("path")
@click.argument("uri", default=".")
@_ENV_MANAGER_OPTION
@click.pass_context
def env_path(ctx: click.Context, uri: str, env_manager: str | None) -> None:
    """Print where the project's environment is (folder or image); exit 1 when it is not built."""
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli.app import env_commands

        click.echo(env_commands.path(uri, env_manager))


@env.command("key")
@click.argument("uri", default=".")
@_ENV_MANAGER_OPTION
@click.pass_context
def env_key(ctx: click.Context, uri: str, env_manager: str | None) -> None:
    """Print the environment's content key (equal inputs, equal key), e.g. for a CI cache key."""
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli.app import env_commands

        click.echo(env_commands.key(uri, env_manager))


@env.command("lock")
@click.argument("uri", default=".")
@click.pass_context
def env_lock(ctx: click.Context, uri: str) -> None:
    """Write conda-lock.yml beside the project's conda.yaml (for this platform)."""
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli.app import env_commands

        click.echo(env_commands.lock(uri))


@env.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the environments as JSON.")
@click.pass_context
def env_list(ctx: click.Context, as_json: bool) -> None:
    """Cached environments: kind, key, size, python, last used."""
    with error_handler(debug=debug_enabled(ctx), as_json=as_json):
        from mlrun_cli.app import env_commands
        from mlrun_cli.cli import render

        found = env_commands.list_envs()
        print_json(found) if as_json else click.echo(render.envs_table(found))


@env.command("prune")
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(0),
    default=None,
    metavar="DAYS",
    help="Remove environments not used for DAYS days.",
)
@click.option("--all", "everything", is_flag=True, help="Remove every cached environment.")
@click.pass_context
def env_prune(ctx: click.Context, older_than: float | None, everything: bool) -> None:
    """Remove cached environments."""
    with error_handler(debug=debug_enabled(ctx)):
        from mlrun_cli.app import env_commands

        removed = env_commands.prune(older_than, everything)
        click.echo("\n".join(f"removed {name}" for name in removed) or "Nothing to remove.")
