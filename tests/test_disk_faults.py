"""A read-only or full disk under $MLRUN_HOME or the tracking store (issue 23, item 6), injected
for real with tmpfs mounts (root only): exit 75 with a clear message, and nothing half-made (no
run, RUNNING or FAILED; no run folder without meta.yaml; no store begun and left)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlrun_cli.errors import TrackingUnreachable
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
QUICK = {
    "MLproject": "entry_points: {main: {command: 'true'}, p: {parameters: {a: float}, command: 'true {a}'}}\n"
}
SIZE = "1m"


@contextmanager
def tmpfs(where: Path, *options: str) -> Iterator[Path]:
    """A real tmpfs at `where` (mounted with `options`), unmounted however the test ends."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join([f"size={SIZE}", *options]), "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


def fill(where: Path) -> None:
    """Write until the file system says it is full."""
    try:
        with open(where / "filler", "wb") as out:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
    except OSError as error:
        assert error.errno == 28, error  # ENOSPC


def run_folders(store: Path) -> set[str]:
    """Every folder in the store's experiments that is (or could pass for) a run."""
    return {p.name for exp in store.iterdir() if exp.is_dir() for p in exp.iterdir() if p.is_dir()} - {"tags"}


def assert_clean_failure(result: Result, *says: str) -> None:
    assert result.returncode == 75, result.stderr
    assert "Traceback" not in result.stderr and "unexpected internal error" not in result.stderr
    assert "mlrun: run " not in result.stderr, "a run was started"
    for text in says:
        assert text in result.stderr, result.stderr


def no_owned_jobs() -> None:
    jobs = Path(os.environ["MLRUN_HOME"]) / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []


def test_a_read_only_home_is_exit_75_and_creates_no_run(
    mlrun: Mlrun, project_factory: Factory, isolated: Path, tmp_path: Path
) -> None:
    project = project_factory(QUICK)
    with tmpfs(tmp_path / "home", "ro") as home:
        env = {"MLRUN_HOME": str(home)}
        for args in ([], ["-e", "p", "-S", "a=1,2"]):  # a run, and a sweep's parent
            result = mlrun("run", str(project), "--env-manager", "local", *args, env=env)
            assert_clean_failure(result, f"mlrun's folder {home}/jobs cannot be written", "Read-only")
    assert not (isolated / "mlruns").exists()  # not even a store was begun


def test_a_read_only_store_is_exit_75_and_left_as_it_was(
    mlrun: Mlrun, project_factory: Factory, isolated: Path, tmp_path: Path
) -> None:
    project = project_factory(QUICK)
    with tmpfs(tmp_path / "empty", "ro") as empty:  # no store yet: one cannot be made there
        result = mlrun("run", str(project), "--env-manager", "local", "--tracking-uri", str(empty / "mlruns"))
        assert_clean_failure(result, f"cannot use the tracking store at {empty}/mlruns", "Read-only")
        result = mlrun("run", str(project), "--env-manager", "local", cwd=empty)  # ./mlruns there
        assert_clean_failure(result, "Read-only")
        assert list(empty.iterdir()) == []
    with tmpfs(tmp_path / "disk") as disk:  # a store with a run in it, then the disk read-only
        store = disk / "mlruns"
        first = mlrun("run", str(project), "--env-manager", "local", "--tracking-uri", str(store))
        assert first.returncode == 0, first.stderr
        before = run_folders(store)
        remount_read_only(disk)
        result = mlrun("run", str(project), "--env-manager", "local", "--tracking-uri", str(store))
        assert_clean_failure(result, f"cannot use the tracking store at {store}", "Read-only")
        assert run_folders(store) == before
    no_owned_jobs()


def test_a_full_store_is_exit_75_and_leaves_no_run_folder(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    project = project_factory(QUICK)
    with tmpfs(tmp_path / "disk") as disk:
        store = disk / "mlruns"
        first = mlrun("run", str(project), "--env-manager", "local", "--tracking-uri", str(store))
        assert first.returncode == 0, first.stderr
        before = run_folders(store)
        fill(disk)
        for args in ([], ["-e", "p", "-S", "a=1,2"]):
            result = mlrun("run", str(project), "--env-manager", "local", "--tracking-uri", str(store), *args)
            assert_clean_failure(result, f"cannot use the tracking store at {store}", "No space left")
            assert run_folders(store) == before
        # No store yet on a full disk: none is begun and left behind.
        result = mlrun("run", str(project), "--env-manager", "local", "--tracking-uri", str(disk / "new"))
        assert_clean_failure(result, "No space left")
        assert not (disk / "new").exists()
    no_owned_jobs()


def test_a_disk_filling_as_a_run_is_created_leaves_no_run_folder(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        store = FileStore(disk / "mlruns")
        store.check()
        before = run_folders(store.root)
        fill(disk)
        with pytest.raises(TrackingUnreachable, match="No space left"):
            store.create_run("0", "r", "u", 1, {"mlflow.runName": "r" * 10_000})
        with pytest.raises(TrackingUnreachable, match="No space left"):
            store.resolve_experiment("new experiment", None)
        assert run_folders(store.root) == before
        assert {p.name for p in store.root.iterdir()} - {".mlrun.lock"} == {".trash", "0"}  # none begun
