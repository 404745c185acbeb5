"""Maps every exception to a message and an exit code, in one place.

With --json every failure, interrupts and internal errors included, prints one JSON object on
stdout; with --debug the traceback is shown with its original cause (the rattler, Docker,
Kubernetes or HTTP error underneath ours).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

# mlrun_cli.errors (dataclasses), json and traceback are imported where they are used, not when
# the CLI loads: `mlrun --help` needs none of them.
if TYPE_CHECKING:
    from mlrun_cli.errors import MlrunError

# The core names commands as `mlrun <command>` (it never imports click, so knows no other name).
_COMMAND_MENTION = r"\bmlrun (?=(?:run|runs|env|validate|schema|completion|ui)\b)"


def _as_invoked(text: str) -> str:
    """Commands in messages and hints under the name the user typed (`mlrun-cli env build`)."""
    import click

    ctx = click.get_current_context(silent=True)
    name = ctx.find_root().info_name if ctx is not None else None
    if not name or name == "mlrun":
        return text
    import re

    return re.sub(_COMMAND_MENTION, f"{name} ", text)


def _print(data: dict[str, object], lines: list[str], *, as_json: bool) -> None:
    data = {k: _as_invoked(v) if isinstance(v, str) else v for k, v in data.items()}
    lines = [_as_invoked(line) for line in lines]
    if as_json:
        import json

        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(lines), file=sys.stderr)


def _print_error(err: MlrunError, *, as_json: bool) -> None:
    lines = [f"Error: {err.message}"]
    lines += [f"  {detail}" for detail in err.details()]
    if err.hint:
        lines.append(f"Hint: {err.hint}")
    _print(err.to_dict(), lines, as_json=as_json)


def _simple(kind: str, message: str, code: int, *, as_json: bool, hint: str | None = None) -> None:
    data: dict[str, object] = {
        "error": kind,
        "message": message,
        "details": [],
        "hint": hint,
        "exit_code": code,
    }
    _print(
        data,
        [message if kind in ("Interrupted", "Terminated") else f"Error: {message}"]
        + ([f"Hint: {hint}"] if hint else []),
        as_json=as_json,
    )


def _traceback(err: BaseException) -> None:
    import traceback

    traceback.print_exception(err)
    cause = err.__cause__ or (err.__context__ if err.__suppress_context__ else None)
    if cause is not None:  # `raise ... from None` hides it; --debug is where it is wanted
        print("\nThe original error:", file=sys.stderr)
        traceback.print_exception(cause)


@contextmanager
def error_handler(*, debug: bool = False, as_json: bool = False) -> Iterator[None]:
    """Turn exceptions into `Error: ...` lines and SystemExit codes; tracebacks only with --debug."""
    from mlrun_cli.errors import EXIT_INFRA, MlrunError, Terminated, disk_unavailable

    try:
        yield
    except MlrunError as err:
        if debug:
            _traceback(err)
        _print_error(err, as_json=as_json)
        raise SystemExit(err.exit_code) from None
    except Terminated as err:
        from mlrun_cli.shared.tags import exit_code_for_signal

        code = exit_code_for_signal(err.signum)
        _simple("Terminated", f"Terminated by signal {err.signum}.", code, as_json=as_json)
        raise SystemExit(code) from None
    except KeyboardInterrupt:
        from mlrun_cli.shared.tags import EXIT_INTERRUPTED

        _simple("Interrupted", "Interrupted.", EXIT_INTERRUPTED, as_json=as_json)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # Output piped into `head` and friends: not an error worth a traceback.
        sys.stderr.close()
        raise SystemExit(1) from None
    except OSError as err:
        if debug:
            _traceback(err)
        if not disk_unavailable(err):  # errors of the machine are said plainly, worth a retry
            _internal(err, debug=debug, as_json=as_json)
        where = f" ({err.filename})" if err.filename else ""
        _simple(
            "EnvironmentError",
            f"cannot write or read a file{where}: {err.strerror}",
            EXIT_INFRA,
            as_json=as_json,
            hint="check permissions and free space ($MLRUN_HOME, the tracking store, the project)",
        )
        raise SystemExit(EXIT_INFRA) from None
    except Exception as err:
        if debug:
            _traceback(err)
        _internal(err, debug=debug, as_json=as_json)


def _internal(err: BaseException, *, debug: bool, as_json: bool) -> None:
    from mlrun_cli.errors import EXIT_INTERNAL

    hint = None if debug else "run again with --debug for the traceback, and report it."
    message = f"unexpected internal error: {type(err).__name__}: {err}"
    if as_json or not debug:
        _simple("InternalError", message, EXIT_INTERNAL, as_json=as_json, hint=hint)
    raise SystemExit(EXIT_INTERNAL) from None
