"""Sweeps at scale on the real one-node Slurm cluster (issue 25): one watcher per engine (one squeue
call per poll for every point), bounded threads, retries inside an array sweep, arrays split at
the cluster's MaxArraySize, and a refused or unreachable controller leaving no run RUNNING.

Slurm's calls are counted by PATH shims in front of the real client wrappers; mlrun's threads are
read from /proc while it runs."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import MLRUN, Popen, Result

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

Run = Callable[..., Result]
SweepProject = Callable[[str], Path]
ON_SLURM = ("-b", "slurm", "--env-manager", "local")
MLPROJECT = """\
name: scale-on-slurm
entry_points:
  main:
    parameters:
      x: {{type: int, default: 1}}
    command: "{command}"
"""
STATE_QUERIES = ("squeue", "sacct", "scontrol show job")


@pytest.fixture
def store(isolated: Path) -> FileStore:
    return FileStore(isolated / "mlruns")


@pytest.fixture
def sweep_project(project_factory: Callable[[dict[str, str]], Path]) -> SweepProject:
    """A project whose entry point `main` takes `x` and runs the command given."""
    return lambda command: project_factory({"MLproject": MLPROJECT.format(command=command)})


def counting_shims(folder: Path, slurm_bin: Path) -> tuple[dict[str, str], Path]:
    """Every Slurm client on PATH logs `<time> <tool> <args>` to a calls file, then runs."""
    folder.mkdir()
    calls = folder / "calls.log"
    for tool in ("sbatch", "squeue", "scontrol", "scancel", "sacct"):
        shim = folder / tool
        shim.write_text(
            f'#!/bin/sh\necho "$(date +%s.%N) {tool} $*" >> {calls}\nexec {slurm_bin / tool} "$@"\n'
        )
        shim.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{slurm_bin}{os.pathsep}{os.environ['PATH']}"}, calls


def state_queries(calls: Path) -> list[float]:
    times = []
    for line in calls.read_text().splitlines():
        when, rest = line.split(" ", 1)
        if rest.startswith(STATE_QUERIES):
            times.append(float(when))
    return times


def _threads(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def test_a_60_point_sweep_one_watcher_bounded_threads_few_queries(
    sweep_project: SweepProject,
    slurm_bin: Path,
    isolated: Path,
    store: FileStore,
    tmp_path: Path,
    popen: Popen,
) -> None:
    project = sweep_project("echo point x={x}; sleep 1")
    env, calls = counting_shims(tmp_path / "shims", slurm_bin)
    started = time.monotonic()
    proc = popen(
        [*MLRUN, "run", str(project), *ON_SLURM, "-S", "x=range(0,60)", "--json"],
        cwd=isolated, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    peak = 0
    while proc.poll() is None and time.monotonic() - started < 600:
        peak = max(peak, _threads(proc.pid))
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    wall = time.monotonic() - started
    assert proc.returncode == 0, err
    children = json.loads(out)["children"]
    assert len(children) == 60
    assert all(store.get_run(c["run_id"]).status.name == "FINISHED" for c in children)
    print(f"60 points: {wall:.1f} s, peak threads {peak}, {len(state_queries(calls))} state queries")
    assert 0 < peak <= 16, peak
    queries = state_queries(calls)
    assert queries and len(queries) <= 2 * wall, (len(queries), wall)
    # One asker: a short burst at the start (0.1 s, backing off), then at most one every 3 s.
    assert all(sum(1 for t in queries if s <= t < s + 1) <= 6 for s in queries), queries
    late = [t for t in queries if t >= queries[0] + 10]
    assert all(b - a >= 2.5 for a, b in itertools.pairwise(late)), late
    submitted = [line for line in calls.read_text().splitlines() if " sbatch " in line]
    assert len(submitted) == 1  # one array job


def test_retries_in_an_array_sweep_submit_the_next_attempt(
    sweep_project: SweepProject,
    mlrun: Run,
    slurm_env: dict[str, str],
    store: FileStore,
    tmp_path: Path,
) -> None:
    """Each point fails once, then succeeds: its second attempt is a new array task, linked."""
    marks = tmp_path / "marks"
    marks.mkdir()
    command = f"echo try x={{x}}; test -f {marks}/{{x}} || {{{{ touch {marks}/{{x}}; exit 3; }}}}"
    project = sweep_project(command)
    result = mlrun(
        "run", str(project), *ON_SLURM, "-S", "x=1,2", "--retries", "2", "--retry-delay", "1s", "--json",
        env=slurm_env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "FINISHED"
    for child in out["children"]:
        assert child["status"] == "FINISHED" and child["exit_code"] == 0
        attempts = child["attempts"]
        assert [(a["attempt"], a["status"], a["exit_code"]) for a in attempts] == [
            (1, "FAILED", 3),
            (2, "FINISHED", 0),
        ]
        first, second = (store.get_run(str(a["run_id"])) for a in attempts)
        assert first.tags["mlrun.attempt"] == "1" and "mlrun.retry_of" not in first.tags
        assert second.tags["mlrun.attempt"] == "2" and second.tags["mlrun.retry_of"] == first.run_id
        assert second.tags["mlrun.slurm.job_id"] != first.tags["mlrun.slurm.job_id"]
        assert second.status.name == "FINISHED" and first.status.name == "FAILED"


@pytest.mark.parametrize("detach", [False, True])
def test_a_sweep_slurm_refuses_exits_2_and_leaves_nothing_running(
    sweep_project: SweepProject,
    mlrun: Run,
    slurm_env: dict[str, str],
    store: FileStore,
    detach: bool,
) -> None:
    project = sweep_project("echo x={x}")
    extra = ("--detach",) if detach else ()
    result = mlrun(
        "run", str(project), *ON_SLURM, "-S", "x=1,2,3", "-c", '{"partition": "nope"}', *extra, env=slurm_env
    )
    assert result.returncode == 2, result.stderr
    assert "sbatch refused the job" in result.stderr and "submitted" not in result.stdout
    runs = store.search_runs(None, 1000)
    assert runs and all(r.status.name != "RUNNING" for r in runs), [(r.run_id, r.status) for r in runs]


@pytest.fixture
def controller_down(slurm_bin: Path, tmp_path: Path) -> dict[str, str]:
    """Slurm's real clients, configured for a controller port nothing listens on."""
    folder = tmp_path / "down"
    folder.mkdir()
    conf = Path(os.environ.get("MLRUN_SLURM_DIR", "/tmp/mlrun-slurm")) / "slurm.conf"
    (folder / "slurm.conf").write_text(conf.read_text().replace("SlurmctldPort=6817", "SlurmctldPort=6899"))
    for tool in ("sbatch", "squeue", "scontrol", "scancel", "sacct"):
        wrapper = (slurm_bin / tool).read_text().replace(str(conf), str(folder / "slurm.conf"))
        (folder / tool).write_text(wrapper)
        (folder / tool).chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("sweep", [False, True])
def test_controller_down_is_75_and_leaves_no_run(
    sweep_project: SweepProject,
    mlrun: Run,
    controller_down: dict[str, str],
    isolated: Path,
    sweep: bool,
) -> None:
    project = sweep_project("echo x={x}")
    extra = ("-S", "x=1,2") if sweep else ()
    result = mlrun("run", str(project), *ON_SLURM, *extra, env=controller_down)
    assert result.returncode == 75, result.stderr
    assert "cannot reach the Slurm controller" in result.stderr
    assert "refused" not in result.stderr and "Traceback" not in result.stderr
    meta = list((isolated / "mlruns").glob("*/*/meta.yaml"))
    assert meta == [], meta  # no run at all, FAILED or otherwise


def test_a_sweep_larger_than_max_array_size_is_split_and_every_point_finishes(
    sweep_project: SweepProject,
    slurm_bin: Path,
    mlrun: Run,
    store: FileStore,
    tmp_path: Path,
) -> None:
    """1,100 points on a cluster whose MaxArraySize is 1001: two array jobs, all FINISHED."""
    project = sweep_project("echo x={x}")
    env, calls = counting_shims(tmp_path / "shims", slurm_bin)
    result = mlrun("run", str(project), *ON_SLURM, "-S", "x=range(0,1100)", "--json", env=env, timeout=1700)
    assert result.returncode == 0, result.stderr[-3000:]
    children = json.loads(result.stdout)["children"]
    assert len(children) == 1100 and all(c["status"] == "FINISHED" for c in children)
    arrays = {store.get_run(c["run_id"]).tags["mlrun.slurm.job_id"].split("_")[0] for c in children[::50]}
    assert len(arrays) == 2, arrays
    assert sum(" sbatch " in line for line in calls.read_text().splitlines()) == 2


def test_a_points_timeout_stops_that_array_task_alone(
    sweep_project: SweepProject, mlrun: Run, slurm_env: dict[str, str], store: FileStore
) -> None:
    command = "if [ {x} = 1 ]; then sleep 300; else sleep 2; echo done {x}; fi"
    project = sweep_project(command)
    started = time.monotonic()
    result = mlrun(
        "run", str(project), *ON_SLURM, "-S", "x=1,2,3", "--timeout", "8s", "--json", env=slurm_env
    )
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 60
    children = {c["point"]["x"]: store.get_run(c["run_id"]) for c in json.loads(result.stdout)["children"]}
    assert children["1"].status.name == "FAILED" and children["1"].tags["mlrun.exit_code"] == "124"
    assert children["1"].tags["mlrun.timeout"] == "8s"
    assert children["2"].status.name == "FINISHED" and children["3"].status.name == "FINISHED"


def test_no_slurm_configuration_is_2_with_a_hint_not_75(
    project_factory: Callable[[dict[str, str]], Path],
    mlrun: Run,
    slurm_bin: Path,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slurm's real clients without the wrappers: no slurm.conf here, and the DNS SRV lookup for a
    controller fails. No retry can fix that (unlike a controller that is down: exit 75 above)."""
    monkeypatch.delenv("SLURM_CONF", raising=False)
    path = [p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != slurm_bin]
    project = project_factory({"MLproject": MLPROJECT.format(command="echo x={x}")})
    result = mlrun("run", str(project), *ON_SLURM, env={"PATH": os.pathsep.join(["/usr/bin", *path])})
    assert result.returncode == 2, result.stderr
    assert "Slurm is not configured on this machine" in result.stderr
    assert "SLURM_CONF" in result.stderr and "login node" in result.stderr
    assert "cannot reach" not in result.stderr and "resolve_ctls_from_dns_srv" not in result.stderr
    assert "Traceback" not in result.stderr
    assert list((isolated / "mlruns").glob("*/*/meta.yaml")) == []
