"""uv and virtualenv environments, built for real from a local wheelhouse, cached by content."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import MLRUN, Popen, Result
from tests.envs.conftest import python_project

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
"""The running interpreter's version: installed wherever the tests run, 3.11 or not."""
ENV = f'python: "{PY}"\ndependencies:\n  - mlrun-demo-a==1.0\n'


def _env_dirs(envs_dir: Path) -> list[Path]:
    if not envs_dir.exists():
        return []
    return sorted(p for p in envs_dir.iterdir() if p.is_dir() and p.name != ".meta")


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_env_is_built_from_python_env_yaml_and_recorded(
    manager: str,
    mlrun: Mlrun,
    project_factory: Factory,
    offline: dict[str, str],
    envs_dir: Path,
    isolated: Path,
) -> None:
    project = python_project(project_factory, ENV)
    result = mlrun("run", str(project), "--env-manager", manager, "--json", env=offline)
    assert result.returncode == 0, result.stderr
    [env_dir] = _env_dirs(envs_dir)
    assert env_dir.name.startswith(f"{manager}-")
    prefix, version, demo = result.stderr.split("\n")[-2].split()
    assert (prefix, demo) == (str(env_dir), "1.0") and version.startswith(f"{PY}.")
    assert f"building {manager} environment {env_dir.name}" in result.stderr
    # pip compiles at install; uv envs get the bytecode of what their runs import (below).
    compiled = list(env_dir.rglob("*/mlrun_demo_a/**/*.pyc"))
    assert bool(compiled) == (manager == "virtualenv"), compiled
    run = FileStore(isolated / "mlruns").get_run(json.loads(result.stdout)["run_id"])
    assert run.tags["mlflow.project.env"] == manager
    assert run.tags["mlrun.env.key"] == env_dir.name
    assert run.tags["mlrun.env.python"] == version
    assert set(run.artifacts) == {"mlrun/console.log", "mlrun/env-build.log", "mlrun/environment.txt"}
    frozen = (Path(run.artifact_uri.removeprefix("file://")) / "mlrun" / "environment.txt").read_text()
    assert "mlrun-demo-a==1.0" in frozen


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_sdists_are_built_and_installed(
    manager: str, mlrun: Mlrun, project_factory: Factory, offline: dict[str, str]
) -> None:
    project = project_factory(
        {
            "MLproject": "python_env: python_env.yaml\nentry_points:\n  main:\n"
            "    command: python -c 'import mlrun_demo_c as c; print(c.__version__)'\n",
            "python_env.yaml": f'python: "{PY}"\ndependencies: [mlrun-demo-c]\n',
        }
    )
    result = mlrun("run", str(project), "--env-manager", manager, env=offline)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1.0\n"


def test_warm_reuse_builds_nothing_and_ignores_yaml_formatting(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str], envs_dir: Path
) -> None:
    project = python_project(project_factory, ENV)
    assert mlrun("run", str(project), env=offline).returncode == 0
    (project / "python_env.yaml").write_text(
        f"# a comment\npython: '{PY}'\n\ndependencies: [mlrun-demo-a==1.0]   # same content\n"
    )
    again = mlrun("run", str(project), env=offline)
    assert again.returncode == 0 and "building" not in again.stderr
    assert len(_env_dirs(envs_dir)) == 1


MODULES_PROBE = (
    "import json, sys\nfrom mlrun_cli.cli import cli\ntry:\n    cli(sys.argv[1:], prog_name='mlrun')\n"
    "except SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
)


def test_a_warm_run_takes_its_env_file_from_the_check_not_from_yaml_again(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str], isolated: Path
) -> None:
    """A project known valid keeps its env file's content (project/known.py), so a warm run in
    its env loads no YAML; an edited env file is read afresh and gives the env it says."""
    project = python_project(project_factory, ENV)
    assert mlrun("run", str(project), env=offline).returncode == 0
    probe = subprocess.run(
        [sys.executable, "-c", MODULES_PROBE, "run", str(project)],
        env={**os.environ, **offline}, cwd=isolated, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.split()[-1] == "1.0", probe.stderr
    modules = set(json.loads(probe.stderr.splitlines()[-1]))
    assert "building" not in probe.stderr
    assert not {"yaml", "mlrun_cli.documents.yamlfile"} & modules
    (project / "python_env.yaml").write_text(f'python: "{PY}"\ndependencies: [mlrun-demo-a==2.0]\n')
    edited = mlrun("run", str(project), env=offline)
    assert edited.returncode == 0 and "building" in edited.stderr, edited.stderr
    assert edited.stdout.split()[-1] == "2.0"


def test_editing_a_requirements_file_gives_a_new_env(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str], envs_dir: Path
) -> None:
    project = python_project(
        project_factory,
        f'python: "{PY}"\ndependencies: ["-r requirements.txt"]\n',
        {"requirements.txt": "-c constraints.txt\nmlrun-demo-b\n", "constraints.txt": "mlrun-demo-a==1.0\n"},
    )
    first = mlrun("run", str(project), env=offline)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[-1] == "1.0"
    (project / "constraints.txt").write_text("mlrun-demo-a==2.0\n")  # a nested file
    second = mlrun("run", str(project), env=offline)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split()[-1] == "2.0"
    assert len(_env_dirs(envs_dir)) == 2


def test_conda_yaml_with_a_python_manager_warns_about_dropped_packages(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str]
) -> None:
    project = project_factory(
        {
            "MLproject": "conda_env: conda.yaml\nentry_points:\n  main:\n"
            "    command: python -c 'import mlrun_demo_a as a; print(a.__version__)'\n",
            "conda.yaml": f"channels: [conda-forge]\ndependencies:\n  - python={PY}\n  - numpy>=1.2\n"
            "  - libgfortran\n  - pip\n  - pip:\n    - mlrun-demo-a==2.0\n",
        }
    )
    result = mlrun("run", str(project), "--env-manager", "uv", env=offline)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2.0\n"
    assert (
        "conda.yaml: these conda packages are not installed by a Python environment manager: "
        "numpy>=1.2, libgfortran"
    ) in result.stderr


def test_unknown_python_version_lists_what_was_found(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str], envs_dir: Path
) -> None:
    project = python_project(project_factory, 'python: "3.99"\n')
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 2
    assert "no installed Python matches '3.99'; found: " in result.stderr
    assert sys.version.split()[0] in result.stderr
    assert _env_dirs(envs_dir) == []


def test_another_installed_python_version_is_used_exactly(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str]
) -> None:
    pyenv = Path.home() / ".pyenv" / "versions"
    others = sorted(p.name for p in pyenv.glob("3.1[023].*")) if pyenv.is_dir() else []
    if not others:
        pytest.skip("this machine has no second Python 3.10+ in ~/.pyenv/versions")
    wanted = others[0]
    project = python_project(project_factory, f'python: "{wanted}"\ndependencies: [mlrun-demo-a]\n')
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == wanted


def test_failed_build_leaves_nothing_and_shows_the_log_tail(
    mlrun: Mlrun,
    project_factory: Factory,
    offline: dict[str, str],
    envs_dir: Path,
    isolated: Path,
) -> None:
    project = python_project(project_factory, f'python: "{PY}"\ndependencies: [no-such-package-xyz]\n')
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 2
    assert "'uv pip install ...' exited with code 1" in result.stderr
    assert "--- last lines of" in result.stderr and "no-such-package-xyz" in result.stderr
    assert _env_dirs(envs_dir) == []
    assert len(list(envs_dir.glob("*.failed.log"))) == 1
    assert not (isolated / "mlruns").exists()  # nothing recorded: no run was created


def test_half_built_or_broken_envs_are_rebuilt_with_a_reason(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str], envs_dir: Path
) -> None:
    project = python_project(project_factory, ENV)
    assert mlrun("run", str(project), env=offline).returncode == 0
    [env_dir] = _env_dirs(envs_dir)
    (envs_dir / ".meta" / env_dir.name / "complete.json").unlink()  # as if the builder had died
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 0
    assert f"rebuilding environment {env_dir.name}: the previous build did not complete" in result.stderr
    (env_dir / "bin" / "python").unlink()
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 0
    assert "its interpreter" in result.stderr and "missing or broken" in result.stderr
    cfg = env_dir / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace("version_info = 3.", "version_info = 2."))
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 0
    assert "its base interpreter changed from Python 2." in result.stderr


@pytest.mark.slow
def test_eight_parallel_runs_build_the_new_env_exactly_once(
    project_factory: Factory, offline: dict[str, str], envs_dir: Path, isolated: Path, popen: Popen
) -> None:
    import os

    project = python_project(project_factory, f'python: "{PY}"\ndependencies: [mlrun-demo-b]\n')
    env = {**os.environ, **offline}
    procs = [
        popen(
            [*MLRUN, "run", str(project)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=isolated,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outputs
    builds = sum(err.count("building uv environment") for _, err in outputs)
    assert builds == 2  # one start line and one "done" line, from a single process
    assert len(_env_dirs(envs_dir)) == 1
    assert all(out.split()[-1] == "2.0" for out, _ in outputs)


def test_uv_lock_is_installed_exactly(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str], wheelhouse: Path
) -> None:
    import os

    project = project_factory(
        {
            "MLproject": "entry_points:\n  main:\n"
            "    command: python -c 'import mlrun_demo_a as a; print(a.__version__)'\n",
            "pyproject.toml": '[project]\nname = "locked"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
            'dependencies = ["mlrun-demo-a"]\n[tool.uv]\npackage = false\n',
        }
    )
    uv = Path(sys.executable).parent / "uv"
    lock_env = {**os.environ, **offline, "UV_FIND_LINKS": str(wheelhouse)}
    # Lock while only version 1.0 exists, then offer 2.0 too: the lock must win.
    (wheelhouse / "mlrun_demo_a-2.0-py3-none-any.whl").rename(wheelhouse / "hidden.whl.off")
    try:
        subprocess.run([str(uv), "lock", "-q"], cwd=project, env=lock_env, check=True)
    finally:
        (wheelhouse / "hidden.whl.off").rename(wheelhouse / "mlrun_demo_a-2.0-py3-none-any.whl")
    result = mlrun("run", str(project), env=offline)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1.0\n"


def test_conda_for_a_python_project_is_a_clear_error(mlrun: Mlrun, project_factory: Factory) -> None:
    result = mlrun("run", str(python_project(project_factory, ENV)), "--env-manager", "conda")
    assert result.returncode == 2
    assert "this project has no conda environment and cannot run with conda" in result.stderr


def test_env_commands(mlrun: Mlrun, project_factory: Factory, offline: dict[str, str]) -> None:
    project = python_project(project_factory, ENV)
    missing = mlrun("env", "path", str(project), env=offline)
    assert missing.returncode == 1 and "not built yet" in missing.stderr
    built = mlrun("env", "build", str(project), env=offline)
    assert built.returncode == 0, built.stderr
    path = built.stdout.strip()
    assert mlrun("env", "path", str(project), env=offline).stdout.strip() == path
    [entry] = json.loads(mlrun("env", "list", "--json").stdout)
    assert entry["path"] == path and entry["kind"] == "uv" and entry["python"].startswith(PY)
    assert entry["size_bytes"] > 0
    assert "uv-" in mlrun("env", "list").stdout
    assert mlrun("env", "prune").returncode == 2
    assert mlrun("env", "prune", "--older-than", "1").stdout.strip() == "Nothing to remove."
    pruned = mlrun("env", "prune", "--all")
    assert pruned.stdout.strip() == f"removed {Path(path).name}"
    assert not Path(path).exists()


def test_progress_is_a_live_line_on_a_terminal_and_plain_lines_elsewhere() -> None:
    import io

    from mlrun_cli.envs.progress import progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        with progress("building x", stream):
            import time

            time.sleep(0.5)
    # The measured time, whatever the machine's load adds to the 0.5 s slept.
    done = re.compile(r"mlrun: building x: done in (0\.[5-9]|[1-9][0-9]*\.[0-9])s")
    assert "\rmlrun: building x ... 0." in terminal.getvalue()
    assert terminal.getvalue().endswith("\n") and done.search(terminal.getvalue().rsplit("\r", 1)[-1])
    first, last = log.getvalue().splitlines()
    assert first == "mlrun: building x ..." and done.fullmatch(last)
    with pytest.raises(RuntimeError), progress("building y", log):
        raise RuntimeError
    assert log.getvalue().splitlines()[-1] == "mlrun: building y: failed in 0.0s"


def test_prune_keeps_an_env_a_running_job_uses(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str], envs_dir: Path, isolated: Path
) -> None:
    import os

    project = project_factory(
        {
            "MLproject": "python_env: python_env.yaml\nentry_points:\n  main:\n"
            "    command: \"echo started; sleep 3; python -c 'import mlrun_demo_a; print(1)'\"\n",
            "python_env.yaml": ENV,
        }
    )
    with subprocess.Popen(
        [*MLRUN, "run", str(project), "--env-manager", "uv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=isolated,
        env={**os.environ, **offline},
    ) as run:
        assert run.stdout is not None and run.stdout.readline() == "started\n"
        for how in (["--all"], ["--older-than", "0"]):
            pruned = mlrun("env", "prune", *how)
            assert pruned.returncode == 0, pruned.stderr
            [env_dir] = _env_dirs(envs_dir)
            assert f"keeping environment {env_dir.name}: a running job uses it" in pruned.stderr
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert out == "1\n"
    assert mlrun("env", "prune", "--all").returncode == 0
    assert _env_dirs(envs_dir) == []  # once the run has ended, it goes


def test_a_lease_is_shared_and_dies_with_its_holder(envs_dir: Path) -> None:
    import os

    from mlrun_cli.envs import leases

    env = envs_dir / "uv-0123456789abcdef"
    env.mkdir(parents=True)
    (envs_dir / ".meta" / env.name).mkdir(parents=True)
    (envs_dir / ".meta" / env.name / "complete.json").write_text("{}")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from mlrun_cli.envs import leases\n"
            "lease = leases.lease(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)",
            str(env),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with leases.lease(env):  # shared: a second run uses it too
            assert leases.prune_envs(older_than_days=None) == []
        holder.kill()  # kill -9: the kernel drops its lock
        holder.wait(timeout=10)
        assert leases.prune_envs(older_than_days=None) == [env.name]
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
