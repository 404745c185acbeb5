"""conda environments solved and installed for real by py-rattler from a local channel."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result
from tests.envs.conda_channel import PY_XY, build_package, build_test_channel, index_channel

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
COMMAND = (
    "demo-tool && python -c 'import mlrun_demo_py, mlrun_demo_a, sys; "
    "print(mlrun_demo_py.VALUE, mlrun_demo_a.__version__, sys.prefix)'"
)


@pytest.fixture(scope="session")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_channel(tmp_path_factory.mktemp("conda") / "channel")


def conda_project(factory: Factory, channel: Path, deps: str = "") -> Path:
    return factory(
        {
            "MLproject": f'conda_env: conda.yaml\nentry_points:\n  main:\n    command: "{COMMAND}"\n',
            "conda.yaml": f"name: demo\nchannels:\n  - {channel.as_uri()}\ndependencies:\n"
            f"  - python={PY_XY}\n  - mlrun-demo-tool\n  - mlrun-demo-py\n{deps}"
            "  - pip:\n    - mlrun-demo-a==1.0\n"
            "variables:\n  DEMO_SETTING: on\n",
        }
    )


def test_conda_env_is_solved_installed_and_recorded(
    mlrun: Mlrun,
    project_factory: Factory,
    channel: Path,
    offline: dict[str, str],
    envs_dir: Path,
    isolated: Path,
) -> None:
    project = conda_project(project_factory, channel)
    result = mlrun("run", str(project), "--json", env=offline)  # conda is the default here
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "tool sees data 2.0" in lines  # the newest mlrun-demo-data was solved for
    value, pip_version, prefix = next(ln for ln in lines if ln.startswith("from conda")).rsplit(" ", 2)
    assert (value, pip_version) == ("from conda", "1.0")
    assert Path(prefix).parent == envs_dir and Path(prefix).name.startswith("conda-")
    run = FileStore(isolated / "mlruns").get_run(json.loads(result.stdout)["run_id"])
    assert run.tags["mlflow.project.env"] == "conda"
    assert run.tags["mlrun.env.python"] == ".".join(map(str, sys.version_info[:3]))
    frozen = (Path(run.artifact_uri.removeprefix("file://")) / "mlrun" / "environment.txt").read_text()
    assert "mlrun-demo-data=2.0=0" in frozen and "mlrun-demo-a==1.0" in frozen
    again = mlrun("run", str(project), env=offline)
    assert again.returncode == 0 and "building" not in again.stderr


def test_conda_yaml_variables_reach_the_command(
    mlrun: Mlrun, project_factory: Factory, channel: Path, offline: dict[str, str]
) -> None:
    project = project_factory(
        {
            "MLproject": "conda_env: conda.yaml\nentry_points:\n  main:\n"
            "    command: echo $DEMO_SETTING $CONDA_PREFIX\n",
            "conda.yaml": f"channels: [{channel.as_uri()}]\ndependencies: [mlrun-demo-data]\n"
            "variables: {DEMO_SETTING: fast}\n",
        }
    )
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 0, result.stderr
    setting, prefix = result.stdout.split()
    assert setting == "fast" and Path(prefix, "share", "mlrun-demo", "data.txt").is_file()


def test_unsolvable_env_is_a_clear_error_and_leaves_nothing(
    mlrun: Mlrun,
    project_factory: Factory,
    channel: Path,
    offline: dict[str, str],
    envs_dir: Path,
) -> None:
    project = conda_project(project_factory, channel, "  - mlrun-demo-data>=9\n")
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 2
    assert "cannot solve conda.yaml" in result.stderr and "mlrun-demo-data" in result.stderr
    assert [p for p in envs_dir.iterdir() if p.is_dir() and p.name != ".meta"] == []


def test_lock_file_is_written_and_then_installed_without_a_solve(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path, offline: dict[str, str]
) -> None:
    channel = tmp_path / "channel"
    build_package(channel, "mlrun-demo-data", "1.0", files={"share/mlrun-demo/data.txt": ("v1\n", 0o644)})
    index_channel(channel)
    project = project_factory(
        {
            "MLproject": "conda_env: conda.yaml\nentry_points:\n  main:\n"
            "    command: cat $CONDA_PREFIX/share/mlrun-demo/data.txt\n",
            "conda.yaml": f"channels: [{channel.as_uri()}]\ndependencies: [mlrun-demo-data]\n",
        }
    )
    locked = mlrun("env", "lock", str(project), env=offline)
    assert locked.returncode == 0, locked.stderr
    lock = yaml.safe_load((project / "conda-lock.yml").read_text())
    assert [(p["name"], p["version"], p["manager"]) for p in lock["package"]] == [
        ("mlrun-demo-data", "1.0", "conda")
    ]
    assert lock["version"] == 1 and lock["package"][0]["hash"]["sha256"]
    # A newer version appears in the channel: the lock, not a new solve, decides.
    build_package(channel, "mlrun-demo-data", "2.0", files={"share/mlrun-demo/data.txt": ("v2\n", 0o644)})
    index_channel(channel)
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "v1\n" and "from conda-lock.yml" in result.stderr
    (project / "conda-lock.yml").unlink()
    assert mlrun("run", str(project), env=offline).stdout == "v2\n"


def test_lock_for_another_platform_is_refused(
    mlrun: Mlrun, project_factory: Factory, channel: Path, offline: dict[str, str]
) -> None:
    project = conda_project(project_factory, channel)
    (project / "conda-lock.yml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "package": [
                    {
                        "name": "x",
                        "version": "1",
                        "manager": "conda",
                        "platform": "osx-arm64",
                        "url": "https://example.invalid/x.conda",
                        "hash": {},
                    }
                ],
            }
        )
    )
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 2
    assert "conda-lock.yml has no packages for linux-64 (it has: osx-arm64)" in result.stderr


def test_external_conda_executable_is_used_when_asked(
    mlrun: Mlrun, project_factory: Factory, channel: Path, tmp_path: Path, offline: dict[str, str]
) -> None:
    # No real conda/mamba can be installed on this machine (reference note), so a stand-in
    # records its arguments and makes a minimal prefix; what is tested is how mlrun calls it.
    calls = tmp_path / "calls.txt"
    shim = tmp_path / "fake-conda"
    shim.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\n'
        'while [ $# -gt 0 ]; do [ "$1" = --prefix ] && prefix=$2; shift; done\n'
        'mkdir -p "$prefix/conda-meta" "$prefix/bin"\n'
        "printf '#!/bin/sh\\necho fake tool\\n' > \"$prefix/bin/demo-tool\"\n"
        'chmod +x "$prefix/bin/demo-tool"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    project = project_factory(
        {
            "MLproject": "conda_env: conda.yaml\nentry_points:\n  main:\n    command: demo-tool\n",
            "conda.yaml": "dependencies: [mlrun-demo-tool]\n",
        }
    )
    result = mlrun("run", str(project), env={**offline, "MLRUN_CONDA_EXE": str(shim)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fake tool\n"
    [call] = calls.read_text().splitlines()
    assert call.startswith("env create --prefix ") and call.endswith(f"--file {project / 'conda.yaml'}")
    missing = mlrun("run", str(project), env={"MLRUN_CONDA_EXE": "no-such-conda"})
    assert (
        missing.returncode == 2 and "'no-such-conda' (from MLRUN_CONDA_EXE) was not found" in missing.stderr
    )
    auto = mlrun("run", str(project), env={"MLRUN_CONDA_EXE": "auto", "CONDA_EXE": "", "MAMBA_EXE": ""})
    assert auto.returncode == 2 and "neither MAMBA_EXE nor CONDA_EXE is set" in auto.stderr
