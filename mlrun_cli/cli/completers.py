"""What `mlrun ... <TAB>` offers, read from the project in URI (default: the current folder),
the registries (plugins included) and the tracking store; imported only when a shell asks.

Every completer answers with what it can find and never raises: a traceback, or a slow answer,
in the middle of a command line would be worse than no completion at all.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    ShellComplete,
    ZshComplete,
    get_completion_class,
    split_arg_string,
)

from mlrun_cli.project.peek import PeekedParameter, peek

RUN_ID_LIMIT = 50
_BOOL_VALUES = ("true", "false")
Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _quiet(func: Completer) -> Completer:
    @functools.wraps(func)
    def wrapper(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        try:
            return func(ctx, param, incomplete)
        except Exception:  # nothing to offer, silently: see the module's docstring
            return []

    return wrapper


class _Bash(BashComplete):
    """click's bash script, fitted to `NAME=VALUE` words.

    bash splits words at '=' (COMP_WORDBREAKS), so `-P alpha=0.3 -e <TAB>` would reach click as
    `-P alpha = 0.3 -e`. The script also passes the line itself (COMP_LINE up to the cursor),
    split as the user sees it; each answer is then cut to what readline replaces (the text after
    the word's last break character), and `NAME=` gets no space after it, so the value can follow.
    """

    source_template = BashComplete.source_template.replace(
        "env COMP_WORDS=",
        'env COMP_LINE="${COMP_LINE:0:$COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" COMP_WORDS=',
    ).replace(
        "COMPREPLY+=($value)", "COMPREPLY+=($value)\n            [[ $value == *= ]] && compopt -o nospace"
    )
    _typed_before = ""
    """What readline leaves in place: the current word up to its last word-break character."""

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ.get("COMP_LINE")
        if line is None:  # called as click's protocol has it (tests, older scripts)
            return super().get_completion_args()
        words = split_arg_string(line)
        incomplete = "" if not words or line[-1:].isspace() else words.pop()
        breaks = os.environ.get("COMP_WORDBREAKS", "=:")
        cut = max((incomplete.rfind(c) for c in breaks if c not in "\"'"), default=-1)
        self._typed_before = incomplete[: cut + 1]
        return words[1:], incomplete

    def format_completion(self, item: CompletionItem) -> str:
        value = str(item.value)
        if self._typed_before and value.startswith(self._typed_before):
            value = value[len(self._typed_before) :]
        return f"{item.type},{value}"


class _Zsh(ZshComplete):
    """click's zsh script, with no space after `NAME=` (zsh keeps such a word whole)."""

    source_template = (
        ZshComplete.source_template.replace(
            "local -a completions\n", "local -a completions\n    local -a completions_nospace\n"
        )
        .replace(
            'if [[ "$descr" == "_" ]]; then',
            'if [[ "$key" == *= ]]; then\n                completions_nospace+=("$key")\n'
            '            elif [[ "$descr" == "_" ]]; then',
        )
        .replace(
            '    if [ -n "$completions" ]; then',
            '    if [ -n "$completions_nospace" ]; then\n'
            "        compadd -U -S '' -V unsorted -a completions_nospace\n    fi\n\n"
            '    if [ -n "$completions" ]; then',
        )
    )


_SHELLS: dict[str, type[ShellComplete]] = {"bash": _Bash, "zsh": _Zsh}


def register() -> None:
    """Make `_MLRUN_COMPLETE=bash_source` (zsh_source) print what `mlrun completion` prints."""
    from click.shell_completion import add_completion_class

    for name, cls in _SHELLS.items():
        add_completion_class(cls, name)


def source(command: click.Command, prog_name: str, complete_var: str, shell: str) -> str:
    cls = _SHELLS.get(shell) or get_completion_class(shell)
    assert cls is not None  # the command's Choice allows only shells click knows
    return cls(command, {}, prog_name, complete_var).source()


def _project_dir(ctx: click.Context) -> Path:
    uri = ctx.params.get("uri") or "."
    if uri == "." and ctx.args:
        # Parsing stops at the option being completed (`run DIR -e <TAB>`): DIR is left unparsed.
        uri = next((a for a in ctx.args if not a.startswith("-")), ".")
    path = Path(str(uri)).expanduser()
    return path.parent if path.is_file() else path


def _matching(words: Iterable[str], incomplete: str, help: str | None = None) -> list[CompletionItem]:
    return [CompletionItem(word, help=help) for word in words if word.startswith(incomplete)]


@_quiet
def uri(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """A project folder: let the shell complete directories (git URLs are typed, not completed)."""
    return [CompletionItem(incomplete, type="dir")]


@_quiet
def entry_point(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    project = peek(_project_dir(ctx))
    return _matching(project.entry_points, incomplete, "entry point") + _matching(
        project.scripts, incomplete, "script"
    )


def _describe(parameter: PeekedParameter) -> str:
    default = "required" if parameter.default is None else f"default {parameter.default}"
    return f"{parameter.type}, {default}"


@_quiet
def param(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`-P al` -> `alpha=`; `-P kind=l` -> `kind=linear` (choices and bools)."""
    name = ctx.params.get("entry_point") or "main"
    declared = peek(_project_dir(ctx)).entry_points.get(str(name), {})
    if "=" in incomplete:
        key, _, value = incomplete.partition("=")
        found = declared.get(key)
        if found is None:
            return []
        values = found.choices or (_BOOL_VALUES if found.type == "bool" else ())
        return [CompletionItem(f"{key}={v}") for v in values if v.startswith(value)]
    given = {str(p).partition("=")[0] for p in ctx.params.get("params") or ()}
    return [
        CompletionItem(f"{p.name}=", help=_describe(p))
        for p in declared.values()
        if p.name.startswith(incomplete) and p.name not in given
    ]


@_quiet
def env_manager(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from mlrun_cli.envs import ENV_MANAGERS

    return _matching(ENV_MANAGERS.names(), incomplete)


@_quiet
def backend(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from mlrun_cli.backends import BACKENDS

    return _matching(BACKENDS.names(), incomplete)


@_quiet
def run_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The newest runs of the tracking store, when it is a local folder: a server is too slow to
    ask on every <TAB>, and may not answer at all."""
    from mlrun_cli.tracking import get_tracker, resolve_tracking_uri

    store = resolve_tracking_uri(ctx.params.get("tracking_uri"))
    if store.split(":", 1)[0].lower() in ("http", "https", "databricks", "none") or store == "none":
        return []
    if "://" not in store and not Path(store).is_dir():
        return []  # a missing ./mlruns would otherwise be created by the file store
    records = get_tracker(store).search_runs(None, RUN_ID_LIMIT)
    return [
        CompletionItem(r.run_id, help=f"{r.status.name} {r.run_name}".strip())
        for r in records
        if r.run_id.startswith(incomplete)
    ]
