"""A local wheelhouse, so environment tests install real packages with no index at all."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result


def build_wheel(
    directory: Path,
    name: str,
    version: str,
    requires: tuple[str, ...] = (),
    files: dict[str, str] | None = None,
    entry_points: str | None = None,
) -> Path:
    """A minimal, valid pure-Python wheel; by default its module reports its own version."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    contents = files if files is not None else {f"{module}/__init__.py": f'__version__ = "{version}"\n'}
    contents = {
        **contents,
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: mlrun-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    if entry_points:
        contents[f"{dist_info}/entry_points.txt"] = entry_points
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    wheel = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel


def install_plugin(root: Path, name: str, module: str, source: str, entry_points: str) -> str:
    """Build a one-module plugin wheel, install it into `root`/site with uv, and return the
    PYTHONPATH that makes the mlrun subprocess find it (and its entry points)."""
    wheel = build_wheel(root, name, "1.0", files={f"{module}.py": source}, entry_points=entry_points)
    site = root / "site"
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [str(uv), "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)], check=True
    )
    return str(site) + os.pathsep + os.environ.get("PYTHONPATH", "")


def build_sdist(directory: Path, name: str, version: str) -> Path:
    """A setuptools sdist, so installing it runs a real PEP 517 build."""
    import io
    import tarfile

    module = name.replace("-", "_")
    root = f"{module}-{version}"
    files = {
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n',
        f"{module}/__init__.py": f'__version__ = "{version}"\n',
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    target = directory / f"{root}.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        for path, text in files.items():
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    return target


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(directory, "mlrun-demo-a", "1.0")
    build_wheel(directory, "mlrun-demo-a", "2.0")
    build_wheel(directory, "mlrun-demo-b", "1.0", ("mlrun-demo-a>=1.0",))
    build_sdist(directory, "mlrun-demo-c", "1.0")
    # The sdist's build backend must come from the wheelhouse too: virtualenv ships setuptools.
    import virtualenv

    embedded = Path(virtualenv.__file__).parent / "seed" / "wheels" / "embed"
    newest = max(embedded.glob("setuptools-*.whl"), key=lambda p: p.name)
    shutil.copy(newest, directory)
    return directory


@pytest.fixture
def offline(wheelhouse: Path) -> dict[str, str]:
    """Environment variables that make uv and pip install only from the wheelhouse."""
    return {
        "UV_NO_INDEX": "1",
        "UV_FIND_LINKS": str(wheelhouse),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_CACHE_DIR": str(wheelhouse.parent / "uv-cache"),
    }


@pytest.fixture
def envs_dir() -> Path:
    return Path(os.environ["MLRUN_HOME"]) / "envs"


SHOW = (
    "python -c 'import sys, importlib.metadata as m; "
    'print(sys.prefix, sys.version.split()[0], m.version("mlrun-demo-a"))\''
)


def python_project(
    factory: Callable[[dict[str, str]], Path], env_yaml: str, extra: dict[str, str] | None = None
) -> Path:
    return factory(
        {
            "MLproject": f"python_env: python_env.yaml\nentry_points:\n  main:\n"
            f'    command: "{SHOW.replace(chr(34), chr(92) + chr(34))}"\n',
            "python_env.yaml": env_yaml,
            **(extra or {}),
        }
    )


def assert_ran_in_the_uv_env(result: Result, envs_dir: Path, python: str, demo_a: str) -> None:
    """A `python_project` run succeeded in the one uv env mlrun built (also where a cluster job
    ran it: the env is under MLRUN_HOME, on the shared file system)."""
    assert result.returncode == 0, result.stderr
    [env_dir] = [p for p in envs_dir.iterdir() if p.name.startswith("uv-") and p.is_dir()]
    shown = rf"{re.escape(str(env_dir))} {re.escape(python)}\.\d+ {re.escape(demo_a)}\n"  # SHOW's line
    assert re.fullmatch(shown, result.stdout), result.stdout
