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
