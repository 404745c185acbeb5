"""Maps every exception to a message and an exit code, in one place."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from mlrun_cli.errors import EXIT_INTERNAL, MlrunError, Terminated

EXIT_SIGINT = 130


def _print_error(err: MlrunError, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(err.to_dict(), indent=2))
        return
    lines = [f"Error: {err.message}"]
    lines += [f"  {detail}" for detail in err.details()]
    if err.hint:
        lines.append(f"Hint: {err.hint}")
    print("\n".join(lines), file=sys.stderr)


@contextmanager
def error_handler(*, debug: bool = False, as_json: bool = False) -> Iterator[None]:
    """Turn exceptions into `Error: ...` lines and SystemExit codes; tracebacks only with --debug."""
    try:
        yield
    except MlrunError as err:
        if debug:
            traceback.print_exc()
        _print_error(err, as_json=as_json)
        raise SystemExit(err.exit_code) from None
    except Terminated as err:
        print(f"Terminated by signal {err.signum}.", file=sys.stderr)
        raise SystemExit(128 + err.signum) from None
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        raise SystemExit(EXIT_SIGINT) from None
    except BrokenPipeError:
        # Output piped into `head` and friends: not an error worth a traceback.
        sys.stderr.close()
        raise SystemExit(1) from None
    except Exception as err:
        if debug:
            traceback.print_exc()
        else:
            print(f"Error: unexpected internal error: {type(err).__name__}: {err}", file=sys.stderr)
            print("Hint: run again with --debug for the traceback, and report it.", file=sys.stderr)
        raise SystemExit(EXIT_INTERNAL) from None
