"""Both console scripts, `mlrun` and `mlrun-cli`, as installed: same commands, each under its
own name in help, usage errors and hints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

BIN = Path(sys.executable).parent


def script(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


@pytest.mark.parametrize("name", ["mlrun", "mlrun-cli"])
def test_help_version_and_usage_errors_say_the_name_used(name: str) -> None:
    helped = script(name, "run", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith(f"Usage: {name} run [OPTIONS] [URI]")
    assert script(name, "--version").stdout.startswith(f"{name}, version ")
    wrong = script(name, "run", "--no-such-option")
    assert wrong.returncode == 2 and f"Try '{name} run --help' for help." in wrong.stderr


@pytest.mark.parametrize("name", ["mlrun", "mlrun-cli"])
def test_hints_name_the_command_as_typed(name: str, isolated: Path) -> None:
    unbuilt = script(name, "env", "path", str(EXAMPLES / "sklearn_linear"), cwd=isolated)
    assert unbuilt.returncode == 1
    assert f"Hint: build it with: {name} env build " in unbuilt.stderr


@pytest.mark.parametrize("name", ["mlrun", "mlrun-cli"])
def test_both_scripts_validate_and_run(name: str, isolated: Path) -> None:
    assert script(name, "validate", str(EXAMPLES / "sklearn_linear")).returncode == 0
    ran = script(name, "run", str(EXAMPLES / "sklearn_linear"), "-e", "noop", "--env-manager", "local",
                 "--no-track", cwd=isolated)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
