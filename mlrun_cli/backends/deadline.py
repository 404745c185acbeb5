"""A point's own time limit inside a batch (an array task, an index of an Indexed Job)."""

from __future__ import annotations

import math
import shlex

from mlrun_cli.shared.tags import EXIT_TIMEOUT

DEADLINE_GRACE_S = 10


def with_deadline(command: str, timeout_s: float | None) -> str:
    """A POSIX shell line that runs `command` (with `sh -c`) and stops it at `timeout_s` (TERM,
    then KILL after a grace), exiting 124 as `timeout` does: a batch of points (an array task,
    an index of an Indexed Job) keeps its own time limit, counted from when the point starts,
    so one point's limit stops that point alone. Busybox's shell is enough."""
    if timeout_s is None:
        return f"exec sh -c {shlex.quote(command)}"
    seconds = max(1, math.ceil(timeout_s))
    # The watchdog tells this shell first (USR1: no file needed, an image may have no /tmp),
    # then stops the command; `wait` returns early on the trapped signal, so wait again.
    return (
        "mlrun_late=0; trap 'mlrun_late=1' USR1; "
        f"sh -c {shlex.quote(command)} & mlrun_pid=$!; "
        f"( sleep {seconds}; kill -USR1 $$; kill -TERM $mlrun_pid; "
        f"sleep {DEADLINE_GRACE_S}; kill -KILL $mlrun_pid ) 2>/dev/null & mlrun_dog=$!; "
        "wait $mlrun_pid; mlrun_code=$?; "
        "while kill -0 $mlrun_pid 2>/dev/null; do wait $mlrun_pid; mlrun_code=$?; done; "
        "kill $mlrun_dog 2>/dev/null; "
        f"if [ $mlrun_late = 1 ]; then echo 'mlrun: the point exceeded its time limit ({seconds} s)' >&2; "
        f"exit {EXIT_TIMEOUT}; fi; exit $mlrun_code"
    )
