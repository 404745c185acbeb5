"""`mlrun --help` and `mlrun validate` stay light: heavy modules are imported where they are used."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import EXAMPLES

HEAVY = (
    "docker",
    "git",
    "mlflow",
    "requests",
    "urllib3",
    "filelock",
    "importlib.metadata",
    "rattler",
    "asyncio",
    "mlrun_cli.envs",
    "mlrun_cli.tracking",
)
PROBE = """
import json, sys
from mlrun_cli.cli import cli
try:
    cli(sys.argv[1:], prog_name="mlrun")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    return set(json.loads(proc.stderr.splitlines()[-1]))


def test_help_imports_nothing_heavy() -> None:
    modules = _modules("--help")
    assert not [m for m in (*HEAVY, "jsonschema", "yaml") if m in modules]


def test_validate_imports_no_docker_git_or_tracking() -> None:
    modules = _modules("validate", str(EXAMPLES / "sklearn_linear"))
    assert "jsonschema" in modules  # the first time, it does validate
    assert not [m for m in HEAVY if m in modules]
    again = _modules("validate", str(EXAMPLES / "sklearn_linear"))
    assert "jsonschema" not in again  # the same content again: known valid


def test_edited_content_is_validated_again(project_factory: Callable[[dict[str, str]], Path]) -> None:
    project = project_factory({"MLproject": "name: a\nentry_points: {main: {command: echo}}\n"})
    assert "jsonschema" in _modules("validate", str(project))
    assert "jsonschema" not in _modules("validate", str(project))
    (project / "MLproject").write_text("name: a\nentry_points: {main: {comand: echo}}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "validate", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "did you mean 'command'" in proc.stderr
