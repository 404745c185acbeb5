"""The `mlrun` command line: parse options into typed requests and hand them to the core.

Each command group is a module here; the core (mlrun_cli.runs, .envs, .project, ...) never
imports click, and every exception becomes a message and an exit code in error_handler.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

import click

from mlrun_cli import __version__
from mlrun_cli.cli.completion import complete_var, completion
from mlrun_cli.cli.env import env
from mlrun_cli.cli.project import schema, validate
from mlrun_cli.cli.run import run
from mlrun_cli.cli.runs import runs
from mlrun_cli.cli.ui import ui


@click.group("mlrun", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version")
@click.option("--debug", is_flag=True, envvar="MLRUN_DEBUG", help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Run MLflow projects fast, strictly and safely; record every run."""


for command in (run, validate, schema, runs, env, completion, ui):
    cli.add_command(command)


PROG_NAMES = ("mlrun", "mlrun-cli")
"""The console scripts: `mlrun-cli` for where Iguazio's MLRun owns the name `mlrun`."""


def main() -> None:
    _main("mlrun")


def main_cli() -> None:
    _main("mlrun-cli")


def _main(prog_name: str) -> None:
    # Either script answers either completion variable, so a script sourced for one name works
    # when the other is installed; completion code is imported only when a shell asks.
    asked = next((v for v in map(complete_var, PROG_NAMES) if v in os.environ), None)
    if asked is not None:
        from mlrun_cli.cli import completers

        completers.register()
    try:
        undecodable = next((a for a in sys.argv[1:] if _has_undecodable_bytes(a)), None)
        if undecodable is not None:
            _refuse(undecodable)
        cli(prog_name=prog_name, complete_var=asked or complete_var(prog_name))
    except SystemExit as done:
        _leave(done)


def _has_undecodable_bytes(arg: str) -> bool:
    """Python hands argv bytes that are not UTF-8 over as lone surrogates (U+DC80..U+DCFF)."""
    return any("\udc80" <= char <= "\udcff" for char in arg)


def _refuse(arg: str) -> NoReturn:
    """Exit 2 before anything runs: every name, path and value mlrun records is text in MLflow's
    stores, and a value that is not would fail half-way through a run."""
    from mlrun_cli.cli.error_handler import error_handler
    from mlrun_cli.errors import UsageError
    from mlrun_cli.sources.git.urls import redact

    shown = redact(os.fsencode(arg).decode("utf-8", "replace"))  # it may be a credentialed URI
    with error_handler(as_json="--json" in sys.argv):
        raise UsageError(
            f"an argument is not UTF-8 text: {shown}",
            hint="names, paths and values are recorded as text; give them in UTF-8",
        )


def _leave(done: SystemExit) -> NoReturn:
    """Exit with `done`'s code without the interpreter's teardown.

    Freeing every module and object at exit costs a CLI run several milliseconds and does nothing
    for it; exit handlers (atexit: temporary folders, logging) still run. Where a thread other
    than this one still runs, the ordinary exit joins it. py-rattler's runtime threads can abort
    the interpreter's finalisation (SIGABRT, "PyGILState_Release ... finalizing") after all the
    work is done and recorded, so with rattler loaded mlrun always leaves this way.
    """
    rattler = "rattler" in sys.modules
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1 and not rattler:
        raise done
    code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    try:
        if done.code is not None and not isinstance(done.code, int):
            print(done.code, file=sys.stderr)
        if not rattler:  # as before: its threads may never let a handler that joins them return
            atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken pipe: the ordinary exit reports it
        raise done from None
    os._exit(code)
