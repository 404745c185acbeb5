"""Shell completion through click's protocol, as a shell calls it: the real console scripts in a
subprocess, with COMP_WORDS/COMP_CWORD and the completion variable set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_startup import _modules
from tests.conftest import EXAMPLES, make_project

BIN = Path(sys.executable).parent
SCRIPTS = {"mlrun": "_MLRUN_COMPLETE", "mlrun-cli": "_MLRUN_CLI_COMPLETE"}


def complete(words: str, cwd: Path, script: str = "mlrun", env: dict[str, str] | None = None) -> list[str]:
    """What bash would be offered for the command line `words` (completing its last word)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    proc = subprocess.run(
        [str(BIN / script)],
        env={
            **os.environ,
            **(env or {}),
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
            SCRIPTS[script]: "bash_complete",
        },
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return [line.partition(",")[2] for line in proc.stdout.splitlines() if line]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(
        tmp_path / "proj",
        {
            "MLproject": (
                "name: p\nentry_points:\n"
                "  main:\n    parameters:\n      alpha: {type: float, default: 0.5}\n"
                "      alias: string\n      kind: {type: string, default: a, choices: [linear, tree]}\n"
                "      fast: {type: bool, default: false}\n"
                "    command: echo {alpha} {alias} {kind} {fast}\n"
                "  train:\n    parameters: {epochs: int}\n    command: echo {epochs}\n"
            ),
            "prep.py": "",
            "notes.txt": "",
        },
    )


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_entry_points_and_scripts_of_the_project_here(project: Path, script: str) -> None:
    assert complete(f"{script} run -e ", project, script) == ["main", "train", "prep.py"]
    assert complete(f"{script} run -e tr", project, script) == ["train"]


def test_parameter_names_end_in_equals(project: Path) -> None:
    assert complete("mlrun run -P al", project) == ["alpha=", "alias="]
    assert complete("mlrun run -e train -P ", project) == ["epochs="]
    # One already given is not offered again.
    assert complete("mlrun run -P alpha=1 -P al", project) == ["alias="]


def test_parameter_values_from_choices_and_bools(project: Path) -> None:
    # zsh and fish pass NAME=VALUE as one word (bash splits at '=': see README).
    assert complete("mlrun run -P kind=l", project) == ["kind=linear"]
    assert complete("mlrun run -P fast=", project) == ["fast=true", "fast=false"]
    assert complete("mlrun run -P alpha=", project) == []


def test_the_uri_argument_names_the_project(project: Path, tmp_path: Path) -> None:
    assert complete(f"mlrun run {project} -e ", tmp_path) == ["main", "train", "prep.py"]
    assert complete(f"mlrun run {EXAMPLES / 'sklearn_linear'} -P ", tmp_path) == ["alpha="]


def test_env_managers_and_backends_come_from_the_registry_with_plugins(tmp_path: Path) -> None:
    plugins = tmp_path / "site"
    dist = plugins / "fake_plugin-1.0.dist-info"
    make_project(
        dist,
        {
            "METADATA": "Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.0\n",
            "entry_points.txt": (
                "[mlrun_cli.backends]\nmybackend = fake:backend\n[mlrun_cli.envs]\nmyenv = fake:env\n"
            ),
        },
    )
    env = {"PYTHONPATH": str(plugins)}
    from mlrun_cli.backends import BACKENDS
    from mlrun_cli.envs import ENV_MANAGERS

    assert complete("mlrun run -b ", tmp_path, env=env) == [*BACKENDS.builtin, "mybackend"]
    assert {"local", "slurm", "kubernetes"} <= set(BACKENDS.builtin)
    assert complete("mlrun run -b my", tmp_path, env=env) == ["mybackend"]
    managers = complete("mlrun run --env-manager ", tmp_path, env=env)
    assert managers == [*ENV_MANAGERS.builtin, "myenv"]
    assert {"local", "virtualenv", "uv", "conda", "docker"} <= set(ENV_MANAGERS.builtin)
    assert complete("mlrun env build --env-manager c", tmp_path) == ["conda"]


def test_run_ids_from_the_store_here(mlrun: object, tmp_path: Path) -> None:
    work = make_project(tmp_path / "w", {"MLproject": "entry_points: {main: {command: 'true'}}\n"})
    assert complete("mlrun runs show ", work) == []  # no ./mlruns yet: none, and none created
    assert not (work / "mlruns").exists()
    ids = []
    for _ in range(2):
        proc = subprocess.run(
            [str(BIN / "mlrun"), "run", "--env-manager", "local", "--json"],
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        )
        ids.append(__import__("json").loads(proc.stdout)["run_id"])
    for command in ("wait", "show", "cancel"):
        assert sorted(complete(f"mlrun runs {command} ", work)) == sorted(ids)
    assert complete(f"mlrun runs show {ids[0][:6]}", work) == [i for i in ids if i.startswith(ids[0][:6])]
    store = f"--tracking-uri {work / 'mlruns'}"
    assert sorted(complete(f"mlrun runs show {store} ", tmp_path)) == sorted(ids)


@pytest.mark.parametrize(
    "text",
    [
        "entry_points: {main: {command: 'x'\n",  # half written
        "\tentry_points: []\n",
        "[1, 2]\n",
        "entry_points: {main: {parameters: [a, b], command: x}}\n",
    ],
)
def test_a_broken_mlproject_completes_quietly(tmp_path: Path, text: str) -> None:
    work = make_project(tmp_path / "w", {"MLproject": text, "go.sh": ""})
    assert complete("mlrun run -e ", work) in (["go.sh"], ["main", "go.sh"])
    assert complete("mlrun run -P ", work) == []


@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script_for_the_name_used(script: str, shell: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / script), "completion", shell], capture_output=True, text=True, check=True
    )
    assert SCRIPTS[script] in proc.stdout
    other = "mlrun-cli" if script == "mlrun" else "mlrun "
    assert other not in proc.stdout.replace(SCRIPTS[script], "")
    # The same script a shell gets through click's own `<var>=<shell>_source`.
    sourced = subprocess.run(
        [str(BIN / script)],
        env={**os.environ, SCRIPTS[script]: f"{shell}_source"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert sourced.stdout.strip() == proc.stdout.strip()


def test_either_completion_variable_works_for_either_script(project: Path) -> None:
    assert complete("mlrun-cli run -e ", project, "mlrun-cli") == ["main", "train", "prep.py"]
    proc = subprocess.run(
        [str(BIN / "mlrun-cli")],
        env={**os.environ, "COMP_WORDS": "mlrun-cli run -e tr", "COMP_CWORD": "3"}
        | {"_MLRUN_COMPLETE": "bash_complete"},
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.splitlines() == ["plain,train"]


def _bash_reply(project: Path, line: str, words: str, cword: int) -> list[str]:
    """Call the sourced script's function as bash's <TAB> does (words split at '=' as bash does)."""
    program = (
        f'eval "$({BIN / "mlrun"} completion bash)"\n'
        "complete -p mlrun\n"
        f"COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=({words}); COMP_CWORD={cword}\n"
        "_mlrun_completion mlrun 2>/dev/null\n"  # compopt complains outside a real <TAB>
        'printf "reply:%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        cwd=project,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "complete -o nosort -F _mlrun_completion mlrun" in proc.stdout
    return [line[6:] for line in proc.stdout.splitlines() if line.startswith("reply:")]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_script_in_a_real_bash(project: Path) -> None:
    assert _bash_reply(project, "mlrun run -P al", "mlrun run -P al", 3) == ["alpha=", "alias="]
    # bash splits at '=': readline replaces what follows it, so the answer is the value alone...
    assert _bash_reply(project, "mlrun run -P kind=l", "mlrun run -P kind = l", 5) == ["linear"]
    assert _bash_reply(project, "mlrun run -P fast=", "mlrun run -P fast =", 4) == ["true", "false"]
    # ...and an earlier NAME=VALUE does not shift what follows it.
    assert _bash_reply(project, "mlrun run --env-manager=u", "mlrun run --env-manager = u", 4) == ["uv"]
    line = "mlrun run -P alpha=0.3 -e tr"
    assert _bash_reply(project, line, "mlrun run -P alpha = 0.3 -e tr", 7) == ["train"]


def test_start_up_imports_no_completion_code() -> None:
    modules = _modules("--help")
    completion_code = ("mlrun_cli.cli.completers", "mlrun_cli.project.peek", "click.shell_completion")
    assert not [m for m in completion_code if m in modules]


@pytest.mark.parametrize(
    ("shell", "cword", "expected"),
    [("zsh", "3", "plain\nkind=linear\n_"), ("fish", "kind=l", "plain,kind=linear")],
)
def test_zsh_and_fish_get_whole_name_value_words(
    project: Path, shell: str, cword: str, expected: str
) -> None:
    """zsh and fish send the word as typed (COMP_CWORD is fish's current token); zsh's script
    adds `NAME=` with no space after it."""
    proc = subprocess.run(
        [str(BIN / "mlrun")],
        env={**os.environ, "COMP_WORDS": "mlrun run -P kind=l", "COMP_CWORD": cword}
        | {"_MLRUN_COMPLETE": f"{shell}_complete"},
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == expected
    script = subprocess.run(
        [str(BIN / "mlrun"), "completion", shell], capture_output=True, text=True, check=True
    )
    assert ("compadd -U -S '' -V unsorted -a completions_nospace" in script.stdout) == (shell == "zsh")
