"""The `mlrun-validate` hook, run by pre-commit itself: this repository (a committed copy of the
working tree) is the hook source of a scratch repository, and `git commit` goes through it.

pre-commit installs the hook repository into a venv of its own with pip (`pip install .`), which
takes the build backend and dependencies from PyPI: the only network this test uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.slow
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
BROKEN = "name: p\nentry_point:\n  main:\n    command: python -c pass\n"
FIXED = "name: p\npython_env: python_env.yaml\nentry_points:\n  main:\n    command: python -c pass\n"
ENV_OK = "python: '3.11'\ndependencies: [numpy]\n"
ENV_BROKEN = "python: 3.11\ndependencies: numpy\n"


def git(*args: str, cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A scratch repository whose pre-commit hook uses a committed copy of this working tree."""
    base = tmp_path_factory.mktemp("pre-commit")
    env = {
        **os.environ,
        **GIT_ENV,
        "PRE_COMMIT_HOME": str(base / "pre-commit-home"),
        "MLRUN_HOME": str(base / "mlrun-home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    hooks = base / "mlrun-cli"
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO, env=env).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (hooks / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, hooks / name)
    git("init", "-q", cwd=hooks, env=env)
    git("add", "-A", cwd=hooks, env=env)
    git("commit", "-qm", "hook source", cwd=hooks, env=env)
    rev = git("rev-parse", "HEAD", cwd=hooks, env=env).stdout.strip()
    work = base / "work"
    work.mkdir()
    git("init", "-q", cwd=work, env=env)
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hooks}\n  rev: {rev}\n  hooks:\n  - id: mlrun-validate\n"
    )
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=work, env=env, check=True)
    git("add", ".pre-commit-config.yaml", cwd=work, env=env)
    # The first commit installs the hook's venv (pip install of the copy), so it may take a while.
    first = git("commit", "-m", "config", cwd=work, env=env, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    yield work, env


def commit(work: Path, env: dict[str, str], files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`git commit` of these files (the hook's report is on stderr)."""
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git("add", "-A", cwd=work, env=env)
    return git("commit", "-m", "change", cwd=work, env=env, check=False)


def head(work: Path, env: dict[str, str]) -> str:
    return git("rev-parse", "HEAD", cwd=work, env=env).stdout.strip()


def test_a_broken_mlproject_is_refused_and_the_fixed_one_committed(
    scratch: tuple[Path, dict[str, str]],
) -> None:
    work, env = scratch
    before = head(work, env)
    refused = commit(work, env, {"proj/MLproject": BROKEN, "proj/python_env.yaml": ENV_OK})
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and head(work, env) == before
    assert "mlrun validate" in output and "Failed" in output
    assert "proj/MLproject:2: entry_point: unknown key (did you mean 'entry_points'?)" in output
    started = time.monotonic()
    accepted = commit(work, env, {"proj/MLproject": FIXED})
    elapsed = time.monotonic() - started
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "mlrun validate....." in accepted.stderr and "Passed" in accepted.stderr
    assert head(work, env) != before
    assert elapsed < 30  # validation only: nothing is built
    assert not (Path(env["MLRUN_HOME"]) / "envs").exists()


def test_an_env_file_alone_is_checked_with_its_project(scratch: tuple[Path, dict[str, str]]) -> None:
    work, env = scratch
    commit(work, env, {"proj/MLproject": FIXED, "proj/python_env.yaml": ENV_OK})
    before = head(work, env)
    refused = commit(work, env, {"proj/python_env.yaml": ENV_BROKEN})
    assert refused.returncode != 0 and head(work, env) == before
    assert "proj/python_env.yaml" in refused.stdout + refused.stderr
    fixed = commit(work, env, {"proj/python_env.yaml": ENV_OK.replace("[numpy]", "[numpy, scipy]")})
    assert fixed.returncode == 0 and "Passed" in fixed.stderr, fixed.stdout + fixed.stderr


def test_files_the_hook_does_not_match_are_not_checked(scratch: tuple[Path, dict[str, str]]) -> None:
    work, env = scratch
    skipped = commit(work, env, {"notes/readme.yaml": BROKEN})
    assert skipped.returncode == 0 and "(no files to check)Skipped" in skipped.stderr


def test_the_example_projects_pass_the_hook(scratch: tuple[Path, dict[str, str]]) -> None:
    work, env = scratch
    shutil.copytree(EXAMPLES / "sklearn_linear", work / "sklearn_linear")
    shutil.copytree(EXAMPLES / "typed_params", work / "typed_params")
    done = commit(work, env, {})
    assert done.returncode == 0 and "Passed" in done.stderr, done.stdout + done.stderr
