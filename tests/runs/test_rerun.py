"""`mlrun runs rerun RUN_ID`: a recorded run rebuilt from its record alone (its commit with its
uncommitted changes, its parameters, its env and backend), from a work tree and from a git
remote, against the file store and a real `mlflow server`; and the runs that cannot be replayed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result

Mlrun = Callable[..., Result]
ProjectFactory = Callable[[dict[str, str]], Path]

MLPROJECT = """name: replay
entry_points:
  main:
    parameters:
      n: {type: int, default: 1}
    command: "python3 show.py {n}"
"""


def _show(text: str) -> str:
    return f"import sys\nprint('{text}', sys.argv[1])\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


def _run_json(mlrun: Mlrun, *args: str) -> dict[str, Any]:
    result = mlrun(*args, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _dirty_run_then_later_commit(mlrun: Mlrun, project: Path, *tracking: str) -> str:
    """A run of a work tree with an uncommitted change and n=5; then the change and another
    are committed: the work tree no longer holds what the run was made from."""
    _git(project, "init", "-q")
    _commit(project, "one")
    (project / "show.py").write_text(_show("one, changed"))  # uncommitted
    first = _run_json(mlrun, "run", str(project), "--env-manager", "local", "-P", "n=5", *tracking)
    _commit(project, "two")
    (project / "show.py").write_text(_show("three"))
    _commit(project, "three")
    return str(first["run_id"])


def test_a_work_tree_run_is_rerun_at_its_commit_with_its_uncommitted_change(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    project = project_factory({"MLproject": MLPROJECT, "show.py": _show("one"), ".gitignore": "mlruns/\n"})
    original = _dirty_run_then_later_commit(mlrun, project)

    dry = mlrun("runs", "rerun", original, "--dry-run", "-P", "n=7")
    assert dry.returncode == 0, dry.stderr
    assert "+ the recorded uncommitted changes" in dry.stdout
    assert "params.n: '5' -> '7' (asked for)" in dry.stdout and "python3 show.py 7" in dry.stdout
    assert "source:" not in dry.stdout.split("differs from the original:")[1]  # the same source
    plan = _run_json(mlrun, "runs", "rerun", original, "--dry-run")
    assert plan["rerun_of"] == original and plan["recorded_changes"] is True
    assert [d["what"] for d in plan["differences"]] == ["env versions"]

    result = mlrun("runs", "rerun", original, "--json")
    assert result.returncode == 0, result.stderr
    assert "one, changed 5" in result.stderr and "three" not in result.stderr
    # The local interpreter's packages were never recorded: said, not hidden.
    assert "Warning: rerun: env versions: not recorded" in result.stderr
    out = json.loads(result.stdout)
    assert out["rerun_of"] == original and out["status"] == "FINISHED" and out["params"] == {"n": "5"}
    store = FileStore(isolated / "mlruns")
    before, after = store.get_run(original), store.get_run(out["run_id"])
    assert after.tags["mlrun.rerun_of"] == original
    for key in (
        "mlflow.source.git.commit",
        "mlrun.git.dirty",
        "mlrun.fingerprint",
        "mlflow.project.entryPoint",
    ):
        assert after.tags[key] == before.tags[key], key
    diffs = [
        Path(r.artifact_uri.removeprefix("file://"), "mlrun", "git.diff").read_text() for r in (before, after)
    ]
    assert diffs[0] == diffs[1] and "one, changed" in diffs[0]
    assert (project / "show.py").read_text() == _show("three")  # the user's work tree is untouched


def test_the_python_api_reruns_with_an_override(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import mlrun_cli

    project = project_factory({"MLproject": MLPROJECT, "show.py": _show("one"), ".gitignore": "mlruns/\n"})
    original = _dirty_run_then_later_commit(mlrun, project)
    result = mlrun_cli.rerun(original, {"n": 8})
    assert result.status == "FINISHED" and result.params == {"n": "8"}
    assert "one, changed 8" in capfd.readouterr().out
    assert FileStore(isolated / "mlruns").get_run(result.run_id).tags["mlrun.rerun_of"] == original
    with pytest.raises(mlrun_cli.MlrunError) as refused:  # local packages: not exactly the same
        mlrun_cli.rerun(original, exact=True)
    assert refused.value.exit_code == 2 and "cannot be rerun exactly" in refused.value.message


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Path, str, subprocess.Popen[bytes]]]:
    from tests.services.git_daemon import start_git_daemon

    served = tmp_path / "served"
    served.mkdir()
    proc, port = start_git_daemon(served)
    yield served, f"git://127.0.0.1:{port}", proc
    if proc.poll() is None:
        proc.terminate()  # SIGTERM: git passes it on to its git-daemon (SIGKILL would orphan that)
    proc.wait(timeout=10)


def test_a_run_from_a_git_remote_is_rerun_at_its_commit_and_an_unreachable_remote_is_75(
    mlrun: Mlrun, project_factory: ProjectFactory, daemon: tuple[Path, str, subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:  # fmt: skip
    served, url, proc = daemon
    work = project_factory({"sub/MLproject": MLPROJECT, "sub/show.py": _show("one")})
    _git(work, "init", "-q", "-b", "main")
    _commit(work, "one")
    _git(served, "clone", "-q", "--bare", str(work), "repo.git")
    first = _run_json(mlrun, "run", f"{url}/repo.git#sub", "--env-manager", "local", "-P", "n=3")
    (work / "sub/show.py").write_text(_show("two"))
    _commit(work, "two")
    _git(work, "push", "-q", str(served / "repo.git"), "main")
    later = mlrun("run", f"{url}/repo.git#sub", "--env-manager", "local", "--refresh")
    assert later.returncode == 0 and "two 1" in later.stdout, later.stderr

    dry = mlrun("runs", "rerun", str(first["run_id"]), "--dry-run", "-P", "n=4")
    assert dry.returncode == 0, dry.stderr
    assert f"{url}/repo.git#sub at" in dry.stdout and "params.n: '3' -> '4' (asked for)" in dry.stdout
    again = mlrun("runs", "rerun", str(first["run_id"]), "-P", "n=4")
    assert again.returncode == 0, again.stderr
    assert "one 4" in again.stdout and "two" not in again.stdout
    assert f"(rerun of {first['run_id']}) FINISHED" in again.stderr

    proc.terminate()  # the remote goes away (git passes SIGTERM on to its git-daemon)
    proc.wait(timeout=10)
    # The commit is in this machine's git cache: the remote is not needed for it.
    cached = mlrun("runs", "rerun", str(first["run_id"]))
    assert cached.returncode == 0 and "one 3" in cached.stdout, cached.stderr
    # A machine without it must fetch it: the remote does not answer, infrastructure, 75.
    fresh = mlrun("runs", "rerun", str(first["run_id"]), env={"MLRUN_HOME": str(tmp_path / "other-home")})
    assert fresh.returncode == 75, fresh.stderr
    assert "Traceback" not in fresh.stderr and "127.0.0.1" in fresh.stderr


def test_a_bare_repository_by_file_url(mlrun: Mlrun, project_factory: ProjectFactory, tmp_path: Path) -> None:
    work = project_factory({"MLproject": MLPROJECT, "show.py": _show("one")})
    _git(work, "init", "-q", "-b", "main")
    _commit(work, "one")
    bare = tmp_path / "bare.git"
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    first = _run_json(mlrun, "run", bare.as_uri(), "--env-manager", "local")
    (work / "show.py").write_text(_show("two"))
    _commit(work, "two")
    _git(work, "push", "-q", str(bare), "main")
    again = mlrun("runs", "rerun", str(first["run_id"]))
    assert again.returncode == 0 and "one 1" in again.stdout and "two" not in again.stdout, again.stderr


def test_runs_that_cannot_be_replayed_exit_2_and_record_nothing(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    unknown = mlrun("runs", "rerun", "0123456789abcdef0123456789abcdef")
    assert unknown.returncode == 2 and "no run with id" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    project = project_factory({"MLproject": MLPROJECT, "show.py": _show("one"), ".gitignore": "mlruns/\n"})
    original = _dirty_run_then_later_commit(mlrun, project)
    store = FileStore(isolated / "mlruns")
    experiment = store.resolve_experiment(None, None)
    bare = store.create_run(experiment.experiment_id, "by-hand", "t", 1, {})  # not made by mlrun run
    store.end_run(bare.run_id, RunStatus.FINISHED, 2)
    lacking = mlrun("runs", "rerun", bare.run_id)
    assert lacking.returncode == 2 and "its record lacks its entry point" in lacking.stderr

    count = len(store.search_runs(None, 100))
    exact = mlrun("runs", "rerun", original, "--exact")
    assert exact.returncode == 2 and "cannot be rerun exactly: env versions" in exact.stderr
    record = store.get_run(original)
    os.remove(Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "git.diff")
    missing = mlrun("runs", "rerun", original)
    assert missing.returncode == 2 and "mlrun/git.diff is missing" in missing.stderr
    shutil.rmtree(project)  # the repository is gone, and it had no remote
    gone = mlrun("runs", "rerun", original)
    assert gone.returncode == 2 and "recorded no repository URL" in gone.stderr
    assert len(store.search_runs(None, 100)) == count  # nothing was created


@pytest.mark.mlflow
def test_a_work_tree_run_on_a_real_mlflow_server(
    server: str, mlrun: Mlrun, project_factory: ProjectFactory
) -> None:
    project = project_factory({"MLproject": MLPROJECT, "show.py": _show("one"), ".gitignore": "mlruns/\n"})
    original = _dirty_run_then_later_commit(mlrun, project, "--tracking-uri", server)
    dry = mlrun("runs", "rerun", original, "--tracking-uri", server, "--dry-run", "-P", "n=6")
    assert dry.returncode == 0 and "params.n: '5' -> '6' (asked for)" in dry.stdout, dry.stderr
    result = mlrun("runs", "rerun", original, "--tracking-uri", server, "--json")
    assert result.returncode == 0, result.stderr
    assert "one, changed 5" in result.stderr  # git.diff came back through the server's artifact proxy
    new = json.loads(result.stdout)["run_id"]
    shown = _run_json(mlrun, "runs", "show", new, "--tracking-uri", server)
    tags = shown["tags"]
    assert tags["mlrun.rerun_of"] == original and tags["mlrun.git.dirty"] == "true"
    assert "mlrun/git.diff" in shown["artifacts"]


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_an_env_that_must_be_built_again_is_built_at_the_recorded_versions(
    manager: str, mlrun: Mlrun, project_factory: ProjectFactory, tmp_path: Path
) -> None:
    """Released since the run: a newer version its unpinned spec would now resolve to. A rerun
    on a machine without the env (another $MLRUN_HOME) builds it at the recorded version."""
    import sys

    from tests.envs.conftest import build_wheel

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "mlrun-demo-a", "1.0")
    offline = {"UV_NO_INDEX": "1", "UV_FIND_LINKS": str(wheels), "UV_PYTHON_DOWNLOADS": "never",
               "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "PIP_NO_INDEX": "1",
               "PIP_FIND_LINKS": str(wheels)}  # fmt: skip
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    show = "import importlib.metadata as m, sys\nprint('demo', m.version('mlrun-demo-a'), sys.argv[1])\n"
    project = project_factory({
        "MLproject": MLPROJECT.replace("python3 show.py", "python show.py"), "show.py": show,
        "python_env.yaml": f'python: "{python}"\ndependencies: [mlrun-demo-a]\n', ".gitignore": "mlruns/\n",
    })  # fmt: skip
    _git(project, "init", "-q")
    _commit(project, "one")
    first = mlrun("run", str(project), "--env-manager", manager, env=offline)
    assert first.returncode == 0 and "demo 1.0 1" in first.stdout, first.stderr
    original = first.stderr.split("mlrun: run ")[1].split()[0]
    build_wheel(wheels, "mlrun-demo-a", "2.0")  # released since

    elsewhere = {**offline, "MLRUN_HOME": str(tmp_path / "elsewhere")}
    plain = mlrun("run", str(project), "--env-manager", manager, env=elsewhere)
    assert "demo 2.0 1" in plain.stdout, plain.stderr  # what the spec resolves to now
    dry = mlrun("runs", "rerun", original, "--dry-run", env=elsewhere)
    assert "env versions: mlrun-demo-a==1.0 -> mlrun-demo-a==2.0" in dry.stdout, dry.stderr
    refused = mlrun("runs", "rerun", original, "--exact", env=elsewhere)
    assert refused.returncode == 2 and "cannot be rerun exactly: env versions" in refused.stderr

    fresh = {**offline, "MLRUN_HOME": str(tmp_path / "fresh")}
    assert "nothing differs" in mlrun("runs", "rerun", original, "--dry-run", env=fresh).stdout
    exact = mlrun("runs", "rerun", original, "--exact", env=fresh)
    assert exact.returncode == 0 and "demo 1.0 1" in exact.stdout, exact.stderr
    again = mlrun("runs", "rerun", original, "--exact", env=offline)  # its own env, still there
    assert again.returncode == 0 and "demo 1.0 1" in again.stdout, again.stderr


def test_an_untracked_file_is_named_not_recorded_so_the_rerun_says_so(
    mlrun: Mlrun, project_factory: ProjectFactory
) -> None:
    project = project_factory({"MLproject": MLPROJECT, "show.py": _show("one"), ".gitignore": "mlruns/\n"})
    _git(project, "init", "-q")
    _commit(project, "one")
    (project / "notes.txt").write_text("untracked, not ignored")
    original = str(_run_json(mlrun, "run", str(project), "--env-manager", "local")["run_id"])
    (project / "notes.txt").unlink()
    again = mlrun("runs", "rerun", original)
    assert again.returncode == 0 and "one 1" in again.stdout, again.stderr
    assert "Warning: rerun: untracked files were not recorded, only named: notes.txt" in again.stderr
    assert "Warning: rerun: source: git:" in again.stderr  # its fingerprint counted the file's bytes
    exact = mlrun("runs", "rerun", original, "--exact")
    assert exact.returncode == 2 and "untracked files were not recorded" in exact.stderr


PATH_MLPROJECT = """name: data
entry_points:
  main:
    parameters:
      data: {type: path}
      note: {type: string, default: ""}
      more: {type: string, default: ""}
    command: "python3 -c \\"print(open('{data}').read().strip())\\""
"""


def test_a_changed_or_gone_path_parameter_file_differs_from_the_original(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path, tmp_path: Path
) -> None:
    """The bytes behind a `path` parameter are the run's input as much as its value: a rerun
    compares their digest with the recorded one (the run cache already does, for --needed)."""
    project = project_factory({"MLproject": PATH_MLPROJECT})
    data = tmp_path / "ext.csv"
    data.write_text("1 2\n")
    long_note = "n" * 5000  # twice: the inputs tag is split over several tags
    first = _run_json(mlrun, "run", str(project), "--env-manager", "local", "-P", f"data={data}",
                      "-P", f"note={long_note}", "-P", f"more={long_note}")  # fmt: skip
    original = str(first["run_id"])
    same = mlrun("runs", "rerun", original, "--dry-run")
    assert same.returncode == 0, same.stderr
    assert "params." not in same.stdout and "content" not in same.stdout  # the same bytes, the same note

    with data.open("a") as handle:
        handle.write("3\n")
    changed = mlrun("runs", "rerun", original, "--dry-run")
    assert changed.returncode == 0, changed.stderr
    assert "  params.data: content differs from the original run's (sha256 " in changed.stdout
    exact = mlrun("runs", "rerun", original, "--exact", "--dry-run")
    assert exact.returncode == 2 and "params.data: content differs" in exact.stderr, exact.stderr
    plan = _run_json(mlrun, "runs", "rerun", original, "--dry-run")
    assert "params.data" in [d["what"] for d in plan["differences"]]

    other = tmp_path / "other.csv"
    other.write_text("4\n")
    asked = mlrun("runs", "rerun", original, "--dry-run", "-P", f"data={other}")
    assert "params.data: content differs" in asked.stdout and "(asked for)" in asked.stdout, asked.stdout

    data.unlink()  # gone: refused before any comparison, as for any run, with or without --exact
    gone = mlrun("runs", "rerun", original, "--dry-run")
    assert gone.returncode == 2 and f"data (path): no such file or directory: {data}" in gone.stderr

    # A run recorded before path digests existed: said, not refused.
    data.write_text("1 2\n")
    store = FileStore(isolated / "mlruns")
    record = store.get_run(original)
    from mlrun_cli.shared import tags

    inputs = json.loads(tags.joined_value(record.tags, tags.FINGERPRINT_INPUTS) or "{}")
    del inputs["paths"], inputs["params"]["note"], inputs["params"]["more"]
    store.log_batch(original, {}, {tags.FINGERPRINT_INPUTS: json.dumps(inputs)})
    old = mlrun("runs", "rerun", original, "--dry-run", "-P", "note=", "-P", "more=")
    assert "params.data: content not recorded" in old.stdout, old.stdout
    refused = mlrun("runs", "rerun", original, "--exact", "--dry-run", "-P", "note=", "-P", "more=")
    assert refused.returncode == 2 and "cannot be rerun exactly: env versions" in refused.stderr
    assert "params.data" not in refused.stderr.split("cannot be rerun exactly")[1]
    run = mlrun("runs", "rerun", original, "-P", "note=", "-P", "more=")
    assert run.returncode == 0 and "1 2" in run.stdout, run.stderr
    assert "Warning: rerun: params.data: content not recorded" in run.stderr
