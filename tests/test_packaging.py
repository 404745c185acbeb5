"""The wheel carries the schemas, and an installed copy reads them from the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_contains_the_schemas_and_the_console_script(tmp_path: Path) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv
    subprocess.run([uv, "build", "--wheel", "-q", "-o", str(tmp_path), str(REPO)], check=True)
    [wheel] = tmp_path.glob("mlrun_cli-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for schema in ("mlproject", "python_env", "conda_env"):
        packaged = zipfile.ZipFile(wheel).read(f"mlrun_cli/schemas/{schema}.schema.json")
        assert packaged == (REPO / "schemas" / f"{schema}.schema.json").read_bytes()
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    declared = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mlrun = mlrun_cli.cli:main" in declared and "mlrun-cli = mlrun_cli.cli:main_cli" in declared


def test_the_docs_state_the_supported_pythons_as_pyproject_does() -> None:
    import re

    pyproject = (REPO / "pyproject.toml").read_text()  # (tomllib is 3.11+; this runs on 3.10 too)
    minimum = re.search(r'^requires-python = ">=([\d.]+)"$', pyproject, re.M).group(1)  # type: ignore[union-attr]
    versions = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    install = " ".join(
        (REPO / "docs" / "getting-started.md")
        .read_text()
        .split("## Install", 1)[1]
        .split("\n## ", 1)[0]
        .split()
    )
    assert f'**Python {minimum} or newer** (`requires-python = ">={minimum}"`' in install
    assert f"classifiers {' and '.join(versions)})" in install
    assert versions[0] == minimum and f"runs on Python {sys.version_info[0]}.{sys.version_info[1]}" in install


def test_uv_tool_install_gives_both_commands(tmp_path: Path) -> None:
    """README's `uv tool install .`: both console scripts on the tool bin dir, each working."""
    import os

    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv
    env = {**os.environ, "UV_TOOL_DIR": str(tmp_path / "tools"), "UV_TOOL_BIN_DIR": str(tmp_path / "bin")}
    subprocess.run([uv, "tool", "install", "-q", str(REPO)], env=env, check=True, timeout=600)
    for name in ("mlrun", "mlrun-cli"):
        done = subprocess.run([str(tmp_path / "bin" / name), "--version"], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.startswith(f"{name}, version ")
