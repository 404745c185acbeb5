"""The one time budget for what mlrun sends (issue 23), against real faults with MLflow's and
mlrun's default settings (no timeout shortened): a tracking server that accepts and never
answers, a real `mlflow server` stopped with SIGSTOP mid-run, a damaged outbox entry."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest

from mlrun_cli.errors import UsageError
from mlrun_cli.shared.budget import budget
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result
from tests.faults.hung import hung_server
from tests.faults.mid_run import started_run
from tests.outbox import pending
from tests.services.git_daemon import free_port
from tests.services.mlflow_server import start_server, stop_server

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
BUDGET_VARS = ("MLRUN_CONNECT_TIMEOUT", "MLRUN_CALL_TIMEOUT", "MLRUN_OPERATION_TIMEOUT")


@pytest.fixture(autouse=True)
def _default_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user has: none of the budget's variables set."""
    for name in BUDGET_VARS:
        monkeypatch.delenv(name, raising=False)


def _home() -> Path:
    return Path(os.environ["MLRUN_HOME"])


def test_the_budget_reads_its_variables_and_refuses_nonsense() -> None:
    assert budget({}) == budget({name: "" for name in BUDGET_VARS})
    assert budget({"MLRUN_CALL_TIMEOUT": "2.5"}).call_s == 2.5
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(UsageError, match="MLRUN_OPERATION_TIMEOUT"):
            budget({"MLRUN_OPERATION_TIMEOUT": bad})


def test_a_hung_server_at_the_start_is_exit_75_within_30_s(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    project = project_factory({"MLproject": f"entry_points: {{main: {{command: 'touch {marker}'}}}}\n"})
    with hung_server() as url:
        started = time.monotonic()
        result = mlrun("run", str(project), "--env-manager", "local", "--tracking-uri", url, timeout=400)
        took = time.monotonic() - started
    assert result.returncode == 75, result.stderr
    assert took < 30, f"{took:.1f} s"
    assert f"cannot reach the tracking server {url}: it accepted the connection but did not answer" in (
        result.stderr
    )
    assert "MLRUN_OPERATION_TIMEOUT" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()


def test_runs_sync_against_a_hung_server_is_one_budgeted_try_then_exit_1(mlrun: Mlrun) -> None:
    end = [{"op": "end_run", "status": "FINISHED", "end_time": 1}]
    with hung_server() as url:
        folders = [pending(name * 32, url, end) for name in "ab"]
        started = time.monotonic()
        result = mlrun("runs", "sync", timeout=400)
        took = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert took < 60, f"{took:.1f} s"
    for folder in folders:  # both named, both still pending; the second run costs no more wait
        assert f"run {folder.name} -> {url}: 0 sent, 1 still pending" in result.stdout
        assert (folder / "ops.json").is_file()


@pytest.mark.mlflow
def test_a_server_hung_mid_run_holds_up_neither_the_run_nor_its_end(
    mlflow_python: Path, mlrun: Mlrun, project_factory: Factory, tmp_path: Path, isolated: Path
) -> None:
    proc, url = start_server(mlflow_python, tmp_path / "server", free_port())
    project = project_factory(
        {"MLproject": "entry_points: {main: {command: 'echo started; sleep 4; echo done'}}\n"}
    )
    try:
        with started_run(project, url, cwd=isolated) as run:
            assert run.stdout is not None
            os.killpg(proc.pid, signal.SIGSTOP)  # the server hangs: it still accepts connections
            assert run.stdout.readline() == "done\n"
            command_ended = time.time()
            _, err = run.communicate(timeout=400)
            took = time.time() - command_ended
        assert run.returncode == 0, err  # the command's own code
        assert took < 30, f"mlrun exited {took:.1f} s after its command"
        assert "mlrun runs sync" in err and "Traceback" not in err
        run_id = err.split("mlrun: run ", 1)[1].split()[0]
        os.killpg(proc.pid, signal.SIGCONT)  # answering again
        synced = mlrun("runs", "sync")
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert f"run {run_id} -> {url}:" in synced.stdout and "all sent" in synced.stdout
        shown = json.loads(mlrun("runs", "show", run_id, "--tracking-uri", url, "--json").stdout)
        assert shown["status"] == "FINISHED" and shown["tags"]["mlrun.exit_code"] == "0"
        # Its end is when its command ended, not when the end reached the server.
        assert abs(shown["end_time_ms"] / 1000 - command_ended) < 2, shown
        assert 4 <= (shown["end_time_ms"] - shown["start_time_ms"]) / 1000 < 10, shown
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGCONT)
        stop_server(proc)


@pytest.mark.parametrize("recorded", [None, "FINISHED", "FAILED"])
def test_a_damaged_outbox_entry_still_ends_its_run(
    recorded: str | None, mlrun: Mlrun, isolated: Path
) -> None:
    store = FileStore(isolated / "mlruns")
    store.check()
    run = store.create_run("0", "r", "u", int(time.time() * 1000) - 60_000, {})
    ended_ms = int(time.time() * 1000) - 30_000
    if recorded is not None:  # where `mlrun run` writes the command's end before sending it
        job = _home() / "jobs" / run.run_id
        job.mkdir(parents=True)
        code = 0 if recorded == "FINISHED" else 3
        end = {"status": recorded, "exit_code": code, "end_time_ms": ended_ms}
        (job / "end.json").write_text(json.dumps(end))
    folder = pending(run.run_id, store.uri, [{"op": "end_run", "status": "FINISHED", "end_time": 1}])
    text = (folder / "ops.json").read_text()
    (folder / "ops.json").write_text(text[: len(text) // 2])  # truncated, as by a full disk
    synced = mlrun("runs", "sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    [warning] = [line for line in synced.stderr.splitlines() if line.startswith("mlrun: warning:")]
    assert "moved aside" in warning and run.run_id in warning
    record = store.get_run(run.run_id)
    if recorded is None:
        assert record.status is RunStatus.FAILED
        assert "outbox entry was damaged" in record.tags["mlrun.error"]
    else:
        assert record.status is RunStatus[recorded] and record.end_time_ms == ended_ms
        assert record.tags["mlrun.exit_code"] == str(code)
    assert mlrun("runs", "sync").stdout.strip() == "Nothing to send."
