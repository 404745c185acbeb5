"""A run cache that does not miss (`--needed`): what a run writes into its project is not an input
of the next run (plain folder and git work tree); `path` parameters count by content, a touched
time stamp does not; an identical run in flight is waited for, not run twice. Real processes."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import MLRUN, Popen, Result

Mlrun = Callable[..., Result]
ProjectFactory = Callable[[dict[str, str]], Path]

WRITES = """name: writes
entry_points:
  main:
    parameters:
      n: {type: int, default: 1}
    command: "python3 train.py {n}"
"""
# As most MLflow examples do: the model and metrics are written into the project folder, and a
# committed results file is rewritten.
TRAIN = """import pathlib, sys
pathlib.Path("model.txt").write_text("model " + sys.argv[1])
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/metrics.json").write_text('{"loss": 0.5}')
pathlib.Path("results.csv").write_text("n,loss\\n" + sys.argv[1] + ",0.5\\n")
"""


def _needed(mlrun: Mlrun, project: Path, *extra: str) -> tuple[bool, str, Result]:
    result = mlrun("run", str(project), "--env-manager", "local", "--needed", "--json", *extra)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    return bool(out["reused"]), str(out["run_id"]), result


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _outputs_artifact(isolated: Path, run_id: str) -> dict[str, object]:
    [found] = list((isolated / "mlruns").glob(f"*/{run_id}/artifacts/mlrun/outputs.json"))
    return dict(json.loads(found.read_text())["outputs"])


def _check_outputs_do_not_count(mlrun: Mlrun, project: Path, isolated: Path) -> None:
    reused, first, _ = _needed(mlrun, project)
    assert not reused
    assert sorted(_outputs_artifact(isolated, first)) == ["model.txt", "out/metrics.json", "results.csv"]
    assert _needed(mlrun, project)[:2] == (True, first)  # its own outputs are not a change
    dry = mlrun("run", str(project), "--env-manager", "local", "--needed", "--dry-run")
    assert f"no, done already in run {first}" in dry.stdout  # the dry run says the same
    (project / "model.txt").write_text("edited by hand")  # the user's own edit counts
    reused, second, _ = _needed(mlrun, project)
    assert not reused and second != first
    assert _needed(mlrun, project)[:2] == (True, second)  # and that run's outputs are learned again
    (project / "train.py").write_text(TRAIN + "# edited\n")  # an edit of the code, of course
    assert not _needed(mlrun, project)[0]


def test_outputs_written_into_a_plain_folder_do_not_count(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    project = project_factory({"MLproject": WRITES, "train.py": TRAIN, "results.csv": "n,loss\n"})
    _check_outputs_do_not_count(mlrun, project, isolated)


def test_outputs_written_into_a_git_work_tree_do_not_count(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    project = project_factory({"MLproject": WRITES, "train.py": TRAIN, "results.csv": "n,loss\n"})
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    _check_outputs_do_not_count(mlrun, project, isolated)


DATA = """name: data
entry_points:
  main:
    parameters:
      data: path
    command: "echo ran >> {marks}; ls -d {{data}}"
"""


def test_a_path_parameter_counts_by_content_not_by_time_stamp(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    project = project_factory({"MLproject": DATA.format(marks=marks)})
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    reused, first, _ = _needed(mlrun, project, "-P", f"data={data}")
    assert not reused
    inputs = json.loads(FileStore(isolated / "mlruns").get_run(first).tags["mlrun.fingerprint.inputs"])
    assert inputs["paths"]["data"].startswith("file:") and inputs["params"]["data"] == str(data)
    assert (Path(os.environ["MLRUN_HOME"]) / "cache" / "digests.json").is_file()
    later = time.time() + 100
    os.utime(data, (later, later))  # a new time stamp alone: read again, the same digest
    assert _needed(mlrun, project, "-P", f"data={data}")[:2] == (True, first)
    data.write_text("a,b\n1,3\n")  # the same size, other bytes, even with the old mtime put back
    os.utime(data, (later, later))
    reused, second, _ = _needed(mlrun, project, "-P", f"data={data}")
    assert not reused and second != first
    folder = tmp_path / "dataset"
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "0.csv").write_text("x\n")
    reused, third, _ = _needed(mlrun, project, "-P", f"data={folder}")
    assert not reused
    assert _needed(mlrun, project, "-P", f"data={folder}")[:2] == (True, third)
    (folder / "part" / "1.csv").write_text("y\n")  # a folder: its names and bytes
    assert not _needed(mlrun, project, "-P", f"data={folder}")[0]
    assert marks.read_text().count("ran") == 4


def test_damaged_records_are_skipped_with_a_warning(
    mlrun: Mlrun, project_factory: ProjectFactory, tmp_path: Path
) -> None:
    command = DATA.format(marks=tmp_path / "marks").replace("ls -d", "echo m > model.txt; ls -d")
    project = project_factory({"MLproject": command})
    data = tmp_path / "data.csv"
    data.write_text("1\n")
    home = Path(os.environ["MLRUN_HOME"])
    (home / "cache").mkdir(parents=True)
    (home / "cache" / "digests.json").write_text('{"1:2": [3, "not a list')
    _, first, result = _needed(mlrun, project, "-P", f"data={data}")
    assert "the digest cache" in result.stderr and "is damaged, skipped" in result.stderr
    [record] = list((home / "outputs").glob("*.json"))  # model.txt, learned
    assert _needed(mlrun, project, "-P", f"data={data}")[:2] == (True, first)
    record.write_text('{"paths": {"model.txt": "bad"}}')
    reused, again, result = _needed(mlrun, project, "-P", f"data={data}")
    assert not reused  # model.txt is not known as an output any more: it counts
    assert "the record of outputs" in result.stderr and "is damaged, skipped" in result.stderr
    assert "Traceback" not in result.stderr
    assert _needed(mlrun, project, "-P", f"data={data}")[:2] == (True, again)  # learned again


TWIN = """name: twin
entry_points:
  main:
    command: >-
      echo ran >> {marks}; while [ ! -f {go} ]; do sleep 0.1; done;
      [ $(wc -l < {marks}) -ge {fail_until} ]
"""


class Started:
    """`mlrun run --needed --json` in the background, its stderr read as it comes."""

    def __init__(self, popen: Popen, project: Path, *extra: str) -> None:
        argv = [*MLRUN, "run", str(project), "--env-manager", "local", *extra]
        self.proc: subprocess.Popen[str] = popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.err: list[str] = []
        self.out = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None and self.proc.stdout is not None
        self.err.extend(self.proc.stderr)
        self.out = self.proc.stdout.read()

    def says(self, text: str) -> bool:
        return any(text in line for line in self.err)

    def end(self) -> tuple[int, str]:
        returncode = self.proc.wait(timeout=120)
        self.reader.join(timeout=60)
        return returncode, "".join(self.err)


def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _twin(project_factory: ProjectFactory, tmp_path: Path, fail_until: int) -> tuple[Path, Path, Path]:
    marks, go = tmp_path / "marks", tmp_path / "go"
    project = project_factory({"MLproject": TWIN.format(marks=marks, go=go, fail_until=fail_until)})
    return project, marks, go


WAITING = "waiting for it to end"


def test_two_identical_needed_runs_started_together_run_the_command_once(
    popen: Popen, mlrun: Mlrun, project_factory: ProjectFactory, tmp_path: Path
) -> None:
    project, marks, go = _twin(project_factory, tmp_path, fail_until=1)
    both = [Started(popen, project, "--needed", "--json") for _ in range(2)]
    _until(lambda: any(run.says(WAITING) for run in both))  # one runs the command, one waits
    dry = mlrun("run", str(project), "--env-manager", "local", "--needed", "--dry-run")
    assert "an identical --needed run is in flight here: a real run would wait" in dry.stderr
    go.touch()
    ends = [run.end() for run in both]
    assert [code for code, _ in ends] == [0, 0], ends
    outs = [json.loads(run.out) for run in both]
    assert marks.read_text() == "ran\n"  # the command ran once
    assert sorted(o["reused"] for o in outs) == [False, True]
    assert outs[0]["run_id"] == outs[1]["run_id"]


def test_a_twin_that_fails_is_run_again_by_the_one_waiting(
    popen: Popen, project_factory: ProjectFactory, tmp_path: Path
) -> None:
    project, marks, go = _twin(project_factory, tmp_path, fail_until=2)  # fails the first time
    first = Started(popen, project, "--needed", "--json")
    _until(marks.exists)
    second = Started(popen, project, "--needed", "--json")
    _until(lambda: second.says(WAITING))
    go.touch()
    assert first.end()[0] == 1
    code, err = second.end()
    assert code == 0, err
    assert "ended FAILED, not FINISHED: running it here" in err
    assert not json.loads(second.out)["reused"] and marks.read_text() == "ran\nran\n"


def test_a_needed_run_waits_for_an_identical_run_started_without_needed(
    popen: Popen, mlrun: Mlrun, project_factory: ProjectFactory, tmp_path: Path
) -> None:
    project, marks, go = _twin(project_factory, tmp_path, fail_until=1)
    plain = Started(popen, project)
    _until(marks.exists)  # its command has started
    dry = mlrun("run", str(project), "--env-manager", "local", "--needed", "--dry-run")
    assert dry.returncode == 0 and "is in flight here: a real run would wait for it" in dry.stderr
    needed = Started(popen, project, "--needed", "--json")
    _until(lambda: needed.says("is running; " + WAITING))
    go.touch()
    assert plain.end()[0] == 0
    assert needed.end()[0] == 0 and json.loads(needed.out)["reused"]
    assert marks.read_text() == "ran\n"


def test_a_swept_path_parameter_counts_by_content_point_by_point(
    mlrun: Mlrun, project_factory: ProjectFactory, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    project = project_factory({"MLproject": DATA.format(marks=marks)})
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text("1\n")
    two.write_text("2\n")
    args = ("run", str(project), "--env-manager", "local", "--needed", "-S", f"data={one},{two}", "--json")
    first = mlrun(*args)
    assert first.returncode == 0, first.stderr
    two.write_text("3\n")  # one point's data changes
    again = mlrun(*args)
    assert again.returncode == 0, again.stderr
    reused = {c["point"]["data"]: c["reused"] for c in json.loads(again.stdout)["children"]}
    assert reused == {str(one): True, str(two): False}
    assert marks.read_text().count("ran") == 3


def test_long_fingerprint_inputs_are_split_over_tags_and_shown_whole(
    mlrun: Mlrun, project_factory: ProjectFactory, isolated: Path
) -> None:
    project = project_factory({"MLproject": "name: long\nentry_points:\n  main:\n    command: 'true'\n"})
    many = [arg for i in range(300) for arg in ("-P", f"extra_parameter_{i:03d}=value-{i:03d}")]
    _, run_id, _ = _needed(mlrun, project, *many)
    tags = FileStore(isolated / "mlruns").get_run(run_id).tags
    assert int(tags["mlrun.fingerprint.inputs"]) >= 2 and len(tags["mlrun.fingerprint.inputs.0"]) == 8000
    shown = json.loads(mlrun("runs", "show", run_id, "--json").stdout)["lineage"]["fingerprint_inputs"]
    assert shown["params"]["extra_parameter_299"] == "value-299"
    assert _needed(mlrun, project, *many)[:2] == (True, run_id)
