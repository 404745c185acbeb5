"""`--backend local`: the command runs under `bash -c` on this machine, in the project folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from mlrun_cli.errors import ExecutionError
from mlrun_cli.execute import DEFAULT_GRACE_S, Outcome, merged_env, run_streaming

NAME = "local"


def grace_period() -> float:
    raw = os.environ.get("MLRUN_KILL_GRACE_SECONDS")
    try:
        return float(raw) if raw else DEFAULT_GRACE_S
    except ValueError:
        return DEFAULT_GRACE_S


def execute(
    command: str,
    *,
    cwd: Path,
    env_patch: Mapping[str, str | None],
    console_log: Path,
    stdout: BinaryIO | None = None,
) -> Outcome:
    bash = shutil.which("bash")
    if bash is None:
        raise ExecutionError("bash is not installed; the local backend runs commands with bash -c")
    return run_streaming(
        [bash, "-c", command],
        cwd=cwd,
        env=merged_env(env_patch),
        log_path=console_log,
        grace_s=grace_period(),
        stdout=stdout,
    )
