"""examples/ci: the workflow files are valid YAML, every `mlrun` command they call exists with the
options they give it, and their validate and env-key steps work as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from mlrun_cli.cli import cli
from tests.conftest import REPO

CI = REPO / "examples" / "ci"
BIN = Path(sys.executable).parent
# An `mlrun` (or `mlrun-cli`) call in a shell line, up to the end of its simple command.
CALL = re.compile(r"(?:^|[\s;&|(])(mlrun(?:-cli)?)\s+([^;&|)>\n]*)")
GITLAB_KEYWORDS = {"stages", "variables", "default", "include", "workflow", "image", "services", "cache"}


def github_lines(doc: dict[Any, Any]) -> list[str]:
    assert "on" in doc or True in doc  # PyYAML reads the bare key `on` as True
    return [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]


def gitlab_lines(doc: dict[str, Any]) -> list[str]:
    lines = list(doc.get("default", {}).get("before_script", []))
    for name, job in doc.items():
        if name in GITLAB_KEYWORDS or name.startswith("."):
            continue
        assert "script" in job, name
        lines += [*job.get("before_script", []), *job["script"], *job.get("after_script", [])]
    return lines


FILES = {"github-actions.yml": github_lines, "gitlab-ci.yml": gitlab_lines}


def calls(lines: list[str]) -> list[list[str]]:
    return [[m.group(1), *shlex.split(m.group(2))] for line in lines for m in CALL.finditer(line)]


def resolve(words: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """The subcommand path a call names, its click command, and the words after it."""
    command: click.Command = cli
    path: list[str] = []
    rest = words[1:]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return path, command, rest


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_mlrun_call_names_a_command_and_options_that_exist(name: str) -> None:
    doc = yaml.safe_load((CI / name).read_text())
    found = calls(FILES[name](doc))
    assert {tuple(resolve(c)[0]) for c in found} >= {("validate",), ("env", "key"), ("run",)}
    for words in found:
        path, command, rest = resolve(words)
        assert path and not isinstance(command, click.Group), words
        helped = subprocess.run([str(BIN / words[0]), *path, "--help"], capture_output=True, text=True)
        assert helped.returncode == 0, helped.stderr
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for word in rest:
            if word.startswith("-"):
                assert word.partition("=")[0] in known, f"{name}: {' '.join(words)}: no option {word}"
        if path == ["run"]:
            assert "--json" in rest  # the run record is what the job uploads


def test_the_github_workflow_caches_envs_by_the_env_key_and_uploads_the_record() -> None:
    doc = yaml.safe_load((CI / "github-actions.yml").read_text())
    [job] = doc["jobs"].values()
    steps = {step.get("id") or step.get("name") or step["uses"]: step for step in job["steps"]}
    cache = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "${{ env.MLRUN_HOME }}/envs"
    assert "${{ steps.env.outputs.key }}" in cache["with"]["key"]
    assert "mlrun env key" in steps["env"]["run"]
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and "run.json" in upload["with"]["path"]


def test_the_gitlab_job_caches_envs_by_the_env_key_and_keeps_the_record() -> None:
    doc = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    assert doc["variables"]["MLRUN_HOME"] == "$CI_PROJECT_DIR/.mlrun-home"
    assert doc["mlrun-validate"]["artifacts"]["reports"]["dotenv"] == "mlrun-env.env"
    run = doc["mlrun-run"]
    assert run["cache"]["key"] == "mlrun-envs-$MLRUN_ENV_KEY" and run["cache"]["paths"] == [
        ".mlrun-home/envs/"
    ]
    assert run["retry"]["exit_codes"] == [75]
    assert run["artifacts"]["when"] == "always" and "run.json" in run["artifacts"]["paths"]


def test_the_validate_and_key_steps_run_as_written(tmp_path: Path) -> None:
    """Both files' validate and env-key lines, run by bash on the example they name."""
    gitlab = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    github = yaml.safe_load((CI / "github-actions.yml").read_text())
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PROJECT": str(REPO / github["jobs"]["run"]["env"]["PROJECT"]),
        "MLRUN_HOME": str(tmp_path / "home"),
        "GITHUB_OUTPUT": str(tmp_path / "github-output"),
    }
    assert github["jobs"]["run"]["env"]["PROJECT"] == gitlab["variables"]["PROJECT"]
    for line in gitlab["mlrun-validate"]["script"]:
        subprocess.run(["bash", "-ec", line], cwd=tmp_path, env=env, check=True)
    [step] = [s for s in github["jobs"]["run"]["steps"] if s.get("id") == "env"]
    subprocess.run(["bash", "-ec", step["run"]], cwd=tmp_path, env=env, check=True)
    gitlab_key = (tmp_path / "mlrun-env.env").read_text().strip().removeprefix("MLRUN_ENV_KEY=")
    github_key = (tmp_path / "github-output").read_text().strip().removeprefix("key=")
    assert re.fullmatch(r"uv-[0-9a-f]{16}", gitlab_key) and github_key == gitlab_key
    assert not (tmp_path / "home" / "envs").exists()  # a key, not a build
    # The key names the folder the cache keeps: $MLRUN_HOME/envs/KEY.
    where = subprocess.run(
        [str(BIN / "mlrun"), "env", "path", env["PROJECT"]], env=env, capture_output=True, text=True
    )
    assert where.returncode == 1 and where.stderr.splitlines()[0].endswith(f"/home/envs/{gitlab_key}")


def test_the_pre_commit_hook_readme_names_exists() -> None:
    page = (REPO / "docs" / "ci.md").read_text()
    section = page[page.index("## pre-commit") : page.index("## CI")]
    config = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))  # type: ignore[union-attr]
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert config["repos"][0]["hooks"][0]["id"] == hook["id"] == "mlrun-validate"
    words = shlex.split(hook["entry"])
    path, _, rest = resolve(words)
    assert path == ["validate"] and rest == [] and hook["pass_filenames"] is True
    pattern = re.compile(hook["files"])
    matched = ["MLproject", "a/b/mlproject", "python_env.yaml", "p/conda.yml", "envs/py_python_env.yml"]
    assert all(pattern.search(name) for name in matched)
    assert not any(pattern.search(name) for name in ["README.md", "src/train.py", "notes/env.yaml"])
