"""The run cache (`--needed`): what changes the fingerprint (a project file, a parameter, the
env's requirements) runs again; nothing changed does not. Against the file store and a real
`mlflow server`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result

Mlrun = Callable[..., Result]
ProjectFactory = Callable[[dict[str, str]], Path]

MLPROJECT = """name: cached
entry_points:
  main:
    parameters:
      n: {type: int, default: 1}
    command: "python3 count.py {n}"
"""
COUNT = "import sys\nprint('n =', sys.argv[1])\n"


def _needed(mlrun: Mlrun, project: Path, *extra: str) -> tuple[bool, str]:
    """(reused?, run id) of `mlrun run --needed`."""
    result = mlrun("run", str(project), "--env-manager", "local", "--needed", "--json", *extra)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    return bool(out["reused"]), str(out["run_id"])


def test_plain_folder_project_file_and_parameter_changes(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    project = project_factory({"MLproject": MLPROJECT, "count.py": COUNT, ".gitignore": "*.log\n"})
    reused, first = _needed(mlrun, project)
    assert not reused
    assert _needed(mlrun, project) == (True, first)  # nothing changed
    plain = mlrun("run", str(project), "--env-manager", "local", "--needed")
    assert plain.returncode == 0 and f"mlrun: done already in run {first}" in plain.stderr
    (project / "ignored.log").write_text("not part of the project")
    (project / "__pycache__").mkdir(exist_ok=True)
    assert _needed(mlrun, project) == (True, first)  # ignored by .gitignore, or written by runs
    reused, other = _needed(mlrun, project, "-P", "n=2")  # a parameter
    assert not reused and other != first
    (project / "count.py").write_text(COUNT + "# changed\n")  # a project file
    reused, third = _needed(mlrun, project)
    assert not reused and third not in (first, other)
    assert _needed(mlrun, project) == (True, third)
    record = FileStore(isolated / "mlruns").get_run(third)
    inputs = json.loads(record.tags["mlrun.fingerprint.inputs"])
    assert inputs["entry_point"] == "main" and inputs["params"] == {"n": "1"}
    assert inputs["source"].startswith("files:") and inputs["env"] == "local"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_git_work_tree_commit_and_uncommitted_changes(mlrun: Mlrun, project_factory: ProjectFactory) -> None:
    project = project_factory({"MLproject": MLPROJECT, "count.py": COUNT, ".gitignore": "mlruns/\n"})
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    reused, first = _needed(mlrun, project)
    assert not reused
    assert _needed(mlrun, project) == (True, first)
    (project / "count.py").write_text(COUNT + "# dirty\n")  # uncommitted
    reused, dirty = _needed(mlrun, project)
    assert not reused
    (project / "notes.txt").write_text("untracked, not ignored")
    reused, untracked = _needed(mlrun, project)
    assert not reused and untracked != dirty
    assert _needed(mlrun, project) == (True, untracked)


def _source_input(project: Path, mlrun: Mlrun) -> str:
    result = mlrun("run", str(project), "--env-manager", "local", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["fingerprint_inputs"]["source"])


def test_changes_are_fingerprinted_by_content_inside_the_project_folder_only(
    mlrun: Mlrun, project_factory: ProjectFactory
) -> None:
    repo = project_factory({"proj/MLproject": MLPROJECT, "proj/count.py": COUNT, "other.txt": "x"})
    project = repo / "proj"
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = _source_input(project, mlrun)
    assert clean.startswith("git:") and "+changes:" not in clean
    (repo / "other.txt").write_text("changed outside the project")
    assert _source_input(project, mlrun) == clean  # not the project's change
    (project / "count.py").unlink()
    deleted = _source_input(project, mlrun)
    assert deleted.startswith(clean + "+changes:")
    (project / "count.py").write_text(COUNT + "# edited\n")
    edited = _source_input(project, mlrun)
    assert edited.startswith(clean + "+changes:") and edited != deleted
    (project / "count.py").write_text(COUNT)  # back as committed: the same run as before
    assert _source_input(project, mlrun) == clean
    (project / "count.py").chmod(0o755)  # the executable bit alone
    assert _source_input(project, mlrun).startswith(clean + "+changes:")
    (project / "count.py").chmod(0o644)
    _git(repo, "mv", "proj/count.py", "proj/renamed.py")  # a rename, staged ...
    renamed = _source_input(project, mlrun)
    _git(repo, "mv", "proj/renamed.py", "proj/count.py")
    (project / "renamed.py").write_text(COUNT)  # ... is not the same as a copy beside the original
    copied = _source_input(project, mlrun)
    assert len({renamed, copied, deleted, edited, clean}) == 5


def test_through_a_symlink_a_change_is_still_a_change(
    mlrun: Mlrun, project_factory: ProjectFactory, tmp_path: Path
) -> None:
    """The path typed goes through a symlink (a home folder on many clusters, /tmp on macOS);
    git names the real one: the project's changes must be found all the same."""
    repo = project_factory({"MLproject": MLPROJECT, "count.py": COUNT})
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    link = tmp_path / "link"
    link.symlink_to(repo)
    clean = _source_input(link, mlrun)
    (repo / "count.py").write_text(COUNT + "# edited\n")
    assert _source_input(link, mlrun).startswith(clean + "+changes:")
    result = mlrun("run", str(link), "--env-manager", "local", "--dry-run", "--json")
    assert "#" not in json.loads(result.stdout)["source"]  # the top folder itself, no '#../link'


def test_a_submodule_at_another_commit_is_a_change(mlrun: Mlrun, project_factory: ProjectFactory) -> None:
    lib = project_factory({"l.py": "x = 1\n"})
    _git(lib, "init", "-q")
    _git(lib, "add", ".")
    _git(lib, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lib one")
    repo = project_factory({"MLproject": MLPROJECT, "count.py": COUNT})
    _git(repo, "init", "-q")
    _git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = _source_input(repo, mlrun)
    (repo / "lib" / "l.py").write_text("x = 2\n")
    _git(repo / "lib", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "lib two")
    two = _source_input(repo, mlrun)
    (repo / "lib" / "l.py").write_text("x = 3\n")  # and then dirty inside
    three = _source_input(repo, mlrun)
    assert two.startswith(clean + "+changes:") and three.startswith(clean + "+changes:") and two != three


def test_a_damaged_index_records_a_plain_folder_with_a_warning(
    mlrun: Mlrun, project_factory: ProjectFactory
) -> None:
    repo = project_factory({"MLproject": MLPROJECT, "count.py": COUNT})
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    (repo / ".git" / "index").write_bytes(b"junk")
    result = mlrun("run", str(repo), "--env-manager", "local", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    assert "the project is recorded as a plain folder" in result.stderr
    assert json.loads(result.stdout)["fingerprint_inputs"]["source"].startswith("files:")


def test_a_dirty_work_tree_costs_five_git_processes(
    mlrun: Mlrun, project_factory: ProjectFactory, tmp_path: Path
) -> None:
    """Each git process costs a run milliseconds: the tags, the diff and the fingerprint share
    one `git status` (it was seven processes); learning the run's outputs costs one `ls-files`."""
    project = project_factory({"MLproject": MLPROJECT, "count.py": COUNT, ".gitignore": "mlruns/\n"})
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    (project / "count.py").write_text(COUNT + "# dirty\n")
    (project / "notes.txt").write_text("untracked")
    shims = tmp_path / "shims"
    shims.mkdir()
    calls = tmp_path / "calls"
    real = shutil.which("git")
    (shims / "git").write_text(
        f'#!/bin/sh\necho "locks=$GIT_OPTIONAL_LOCKS $*" >> {calls}\nexec {real} "$@"\n'
    )
    (shims / "git").chmod(0o755)
    env = {"PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    result = mlrun("run", str(project), "--env-manager", "local", "-P", "n=1", env=env)
    assert result.returncode == 0, result.stderr
    invoked = calls.read_text().splitlines()
    assert len(invoked) == 5, invoked  # rev-parse, status, config, diff; ls-files after the run
    assert " ls-files " in invoked[-1]
    # No index lock taken behind the user's back: their own git at the same moment would fail.
    assert all(line.startswith("locks=0 ") for line in invoked), invoked
    _git(project, "checkout", "--", "count.py")
    (project / "notes.txt").unlink()
    calls.unlink()
    assert mlrun("run", str(project), "--env-manager", "local", "-P", "n=1", env=env).returncode == 0
    assert len(calls.read_text().splitlines()) == 4, calls.read_text()  # clean: no diff


def test_a_file_name_that_is_not_utf8_is_fingerprinted(mlrun: Mlrun, project_factory: ProjectFactory) -> None:
    project = project_factory({"MLproject": MLPROJECT, "count.py": COUNT})
    before = _source_input(project, mlrun)
    (project / os.fsdecode(b"donn\xe9es.csv")).write_bytes(b"1\n")  # Latin-1, as old projects have
    after = _source_input(project, mlrun)
    assert after.startswith("files:") and after != before


def test_env_requirements_are_part_of_the_fingerprint(mlrun: Mlrun, project_factory: ProjectFactory) -> None:
    project = project_factory(
        {
            "MLproject": MLPROJECT.replace("entry_points", "python_env: python_env.yaml\nentry_points"),
            "count.py": COUNT,
            "python_env.yaml": "dependencies:\n  - requests==2.31.0\n",
        }
    )

    def inputs() -> dict[str, object]:
        result = mlrun("run", str(project), "--env-manager", "virtualenv", "--dry-run", "--json")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout)["fingerprint_inputs"])

    before = inputs()
    assert inputs() == before
    (project / "python_env.yaml").write_text("dependencies:\n  - requests==2.32.0\n")
    after = inputs()
    assert after["env"] != before["env"] and str(after["env"]).startswith("virtualenv:")


@pytest.mark.mlflow
def test_sweep_needed_against_a_real_mlflow_server(
    server: str, mlrun: Mlrun, project_factory: ProjectFactory
) -> None:
    import urllib.request

    project = project_factory({"MLproject": MLPROJECT, "count.py": COUNT})
    args = ("run", str(project), "--env-manager", "local", "-S", "n=1,2,3,4", "--tracking-uri", server,
            "--experiment-name", "cache", "--json")  # fmt: skip
    first = mlrun(*args)
    assert first.returncode == 0, first.stderr
    children = json.loads(first.stdout)["children"]
    assert [c["status"] for c in children] == ["FINISHED"] * 4 and not any(c["reused"] for c in children)
    again = json.loads(mlrun(*args, "--needed").stdout)["children"]
    assert [c["run_id"] for c in again] == [c["run_id"] for c in children]
    assert all(c["reused"] for c in again)
    for child in (children[1], children[2]):  # MLflow's delete: lifecycle_stage deleted
        body = json.dumps({"run_id": child["run_id"]}).encode()
        request = urllib.request.Request(
            f"{server}/api/2.0/mlflow/runs/delete", body, {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=30).close()
    third = mlrun(*args, "--needed")
    assert third.returncode == 0, third.stderr
    rerun = [c for c in json.loads(third.stdout)["children"] if not c["reused"]]
    assert [c["point"]["n"] for c in rerun] == ["2", "3"]
    single = mlrun("run", str(project), "--env-manager", "local", "-P", "n=4", "--tracking-uri", server,
                   "--experiment-name", "cache", "--needed")  # fmt: skip
    assert single.returncode == 0 and f"done already in run {children[3]['run_id']}" in single.stderr


def test_a_deleted_run_is_not_reused(mlrun: Mlrun, project_factory: ProjectFactory) -> None:
    project = project_factory({"MLproject": MLPROJECT, "count.py": COUNT})
    _, first = _needed(mlrun, project)
    assert mlrun("runs", "delete", first).returncode == 0
    reused, second = _needed(mlrun, project)  # as MLflow's search: a deleted run is not there
    assert not reused and second != first
    assert mlrun("runs", "restore", first).returncode == 0
    assert _needed(mlrun, project) == (True, second)  # the newest finished one


def test_runs_show_gives_the_fingerprint_inputs_attempts_and_sweep_parent(
    mlrun: Mlrun, project_factory: ProjectFactory
) -> None:
    project = project_factory(
        {"MLproject": MLPROJECT, "count.py": COUNT + "sys.exit(int(sys.argv[1]) > 5)\n"}
    )
    sweep = mlrun("run", str(project), "--env-manager", "local", "--needed", "-S", "n=1,2", "--json")
    assert sweep.returncode == 0, sweep.stderr
    listed = json.loads(mlrun("runs", "list", "--json").stdout)
    parent = next(r for r in listed if "mlrun.sweep" in r["tags"])
    children = json.loads(mlrun("runs", "list", "--parent", parent["run_id"], "--json").stdout)
    assert sorted(r["params"]["n"] for r in children) == ["1", "2"]
    shown = mlrun("runs", "show", children[0]["run_id"]).stdout
    assert f"Sweep:       child of {parent['run_id']} (point " in shown
    assert "Fingerprint: " in shown and "  entry_point = main" in shown and '  params = {"n": "' in shown
    assert (
        f"2 points: mlrun runs list --parent {parent['run_id']}"
        in mlrun("runs", "show", parent["run_id"]).stdout
    )
    failed = mlrun("run", str(project), "--env-manager", "local", "-P", "n=9", "--retries", "1", "--json")
    assert failed.returncode == 1
    second = json.loads(mlrun("runs", "list", "--json", "--max-results", "1").stdout)[0]
    lineage = json.loads(mlrun("runs", "show", second["run_id"], "--json").stdout)["lineage"]
    assert lineage["attempt"] == "2" and lineage["retry_of"] != second["run_id"]
    assert lineage["fingerprint_inputs"]["params"] == {"n": "9"}
    assert f"Attempt:     2, retry of {lineage['retry_of']}" in mlrun("runs", "show", second["run_id"]).stdout


def test_a_dry_run_says_whether_needed_would_reuse_a_run(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    project = project_factory({"MLproject": MLPROJECT, "count.py": COUNT})
    dry = ("run", str(project), "--env-manager", "local", "--needed", "--dry-run")
    before = mlrun(*dry)
    assert before.returncode == 0 and "Needed:       yes, no run to reuse" in before.stdout
    assert json.loads(mlrun(*dry, "--json").stdout)["reused_run_id"] is None
    _, done = _needed(mlrun, project)
    after = mlrun(*dry)
    assert f"Needed:       no, done already in run {done}" in after.stdout
    assert json.loads(mlrun(*dry, "--json").stdout)["reused_run_id"] == done
    assert "Needed:" not in mlrun("run", str(project), "--env-manager", "local", "--dry-run").stdout
    assert len(FileStore(isolated / "mlruns").search_runs(None, 10)) == 1  # the dry runs recorded none
