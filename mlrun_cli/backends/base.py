"""The ExecutionBackend protocol: one module per place a command can run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, Protocol

from mlrun_cli.execute import Outcome


class ExecutionBackend(Protocol):
    NAME: str

    def execute(
        self,
        command: str,
        *,
        cwd: Path,
        env_patch: Mapping[str, str | None],
        console_log: Path,
        stdout: BinaryIO | None = None,
    ) -> Outcome:
        """Run the rendered shell command to the end, streaming into `console_log`."""
        ...
