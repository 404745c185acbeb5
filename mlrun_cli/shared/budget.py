"""The one time budget for what mlrun itself sends over a network.

Every call mlrun makes to another service (a tracking server over REST, a cluster's API, a git
remote, a download) is held to three limits, read here and nowhere else:

- `connect_s` (`MLRUN_CONNECT_TIMEOUT`, default 5 s): to open the connection;
- `call_s` (`MLRUN_CALL_TIMEOUT`, default 10 s): one call waiting with no answer, or a transfer
  with no progress for this long (a download that is still making progress is never cut off);
- `operation_s` (`MLRUN_OPERATION_TIMEOUT`, default 20 s): one whole operation, retries
  included (starting a run on a server, sending a run's end, one entry of `mlrun runs sync`).

So a service that accepts and never answers costs seconds, never MLflow's own worst case of
minutes (120 s a call, several tries). MLflow's own variables (`MLFLOW_HTTP_REQUEST_TIMEOUT`,
...) still govern the *command's* MLflow client; mlrun's calls never read them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from mlrun_cli.errors import UsageError

CONNECT_VAR = "MLRUN_CONNECT_TIMEOUT"
CALL_VAR = "MLRUN_CALL_TIMEOUT"
OPERATION_VAR = "MLRUN_OPERATION_TIMEOUT"
_DEFAULTS = {CONNECT_VAR: 5.0, CALL_VAR: 10.0, OPERATION_VAR: 20.0}


@dataclass(frozen=True)
class Budget:
    connect_s: float
    call_s: float
    operation_s: float

    def deadline(self) -> Deadline:
        """A deadline for one operation, starting now."""
        return Deadline(self.operation_s)


def _seconds(environ: Mapping[str, str], name: str) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return _DEFAULTS[name]
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise UsageError(
            f"{name}={text!r} is not a number of seconds above 0",
            hint=f"unset it for the default ({_DEFAULTS[name]:g} s)",
        )
    return value


def budget(environ: Mapping[str, str] | None = None) -> Budget:
    """The budget in force: the `MLRUN_*` variables, else the defaults."""
    env = os.environ if environ is None else environ
    return Budget(
        connect_s=_seconds(env, CONNECT_VAR),
        call_s=_seconds(env, CALL_VAR),
        operation_s=_seconds(env, OPERATION_VAR),
    )


def budget_help() -> str:
    """What a message about a call that ran out of time says about the limits."""
    return f"{CONNECT_VAR}, {CALL_VAR} and {OPERATION_VAR} set how long mlrun waits"


class Deadline:
    """The end of one operation, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def cap(self, seconds: float) -> float:
        """`seconds`, cut to what is left of the operation (never below a millisecond, so a
        socket timeout of 0, which means non-blocking, is never asked for)."""
        return max(0.001, min(seconds, self.left()))
