"""House rules that a reviewer would check: lint, types, import layers, one test command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is part of the test extra"
    return found


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [_tool("ruff"), "check", str(REPO)], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    proc = subprocess.run([_tool("mypy")], capture_output=True, text=True, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_imports_keep_the_layers() -> None:
    """The contracts in pyproject.toml ([tool.importlinter]): the layers of ARCHITECTURE.md, and
    engines that never import each other."""
    proc = subprocess.run(
        [_tool("lint-imports"), "--no-cache"], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_runs_the_readme_test_command() -> None:
    command = next(
        line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.startswith("python3 -m venv")
    )
    assert f"```sh\n{command}\n```" in (REPO / "README.md").read_text()


def _collected(*marker_args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *marker_args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {line for line in proc.stdout.splitlines() if "::" in line}


def test_the_fast_tier_is_every_test_without_a_service() -> None:
    """`-m fast` (docs/development.md) selects exactly the tests that carry no service marker
    and are not the long fuzz slice: none missing, none that needs a service."""
    fast = _collected("-m", "fast")
    expected = _collected("-m", "not (mlflow or docker or slurm or ray or kubernetes or fuzz)")
    assert len(fast) > 400
    assert fast == expected
    assert "-m fast -n 8" in (REPO / "docs" / "development.md").read_text()


def test_the_docs_site_builds_strictly_and_lists_every_option(tmp_path: Path) -> None:
    """`mkdocs build --strict` (a broken link, a missing page or include fails it), and the CLI
    reference it generates from the Click commands holds every option of `mlrun run`."""
    import click

    from mlrun_cli.cli import cli

    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [_tool("mkdocs"), "build", "--strict", "--site-dir", str(site)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reference = (site / "reference" / "cli" / "index.html").read_text()
    run = cli.commands["run"]
    shown = [p for p in run.params if isinstance(p, click.Option) and not p.hidden]
    options = [o for p in shown for o in p.opts if o.startswith("--")]
    assert "--retry-on-timeout" in options and "--sweep-file" in options
    missing = [o for o in options if o not in reference]
    assert missing == []
