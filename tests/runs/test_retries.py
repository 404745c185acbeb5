"""--retries: each attempt is its own run, linked to the first; only what may succeed is retried."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]


def _flaky(project_factory: Factory, tmp_path: Path, failures: int, code: int = 3) -> Path:
    """A command that fails `failures` times with `code`, then succeeds."""
    count = tmp_path / "count"
    command = (
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}; "
        f'echo attempt $((n + 1)); [ "$n" -ge {failures} ] || exit {code}'
    )
    return project_factory({"MLproject": f"entry_points:\n  main:\n    command: {json.dumps(command)}\n"})


def test_fails_twice_then_succeeds_in_three_linked_runs(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path, isolated: Path
) -> None:
    project = _flaky(project_factory, tmp_path, failures=2)
    started = time.monotonic()
    result = mlrun(
        "run", str(project), "--env-manager", "local", "--retries", "3", "--retry-delay", "0.2", "--json"
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    data = json.loads(result.stdout)
    attempts = data["attempts"]
    assert [a["exit_code"] for a in attempts] == [3, 3, 0] and [a["attempt"] for a in attempts] == [1, 2, 3]
    assert data["run_id"] == attempts[-1]["run_id"] and data["status"] == "FINISHED"
    store = FileStore(isolated / "mlruns")
    first, second, third = (store.get_run(a["run_id"]) for a in attempts)
    assert [r.status for r in (first, second, third)] == [
        RunStatus.FAILED,
        RunStatus.FAILED,
        RunStatus.FINISHED,
    ]
    assert [r.tags["mlrun.attempt"] for r in (first, second, third)] == ["1", "2", "3"]
    assert "mlrun.retry_of" not in first.tags
    assert second.tags["mlrun.retry_of"] == third.tags["mlrun.retry_of"] == first.run_id
    assert "mlrun: attempt 1 of 4 failed (exit code 3); trying again in 0.2s" in result.stderr
    assert "mlrun: attempt 2 of 4 failed (exit code 3); trying again in 0.4s" in result.stderr
    for record in (first, third):  # each attempt keeps its own console log
        console = Path(record.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
        assert console.read_text() == f"attempt {record.tags['mlrun.attempt']}\n"


def test_the_last_attempts_exit_code_when_all_fail(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    project = _flaky(project_factory, tmp_path, failures=5, code=7)
    result = mlrun("run", str(project), "--env-manager", "local", "--retries", "1", "--retry-delay", "0.1")
    assert result.returncode == 7
    assert (tmp_path / "count").read_text().strip() == "2"


def test_retry_on_limits_the_codes_and_timeouts_are_not_retried(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    project = _flaky(project_factory, tmp_path, failures=5, code=7)
    result = mlrun(
        "run", str(project), "--env-manager", "local", "--retries", "3", "--retry-on", "137,143", "--json"
    )
    assert result.returncode == 7 and len(json.loads(result.stdout)["attempts"]) == 1
    slow = project_factory({"MLproject": "entry_points: {main: {command: 'sleep 5'}}\n"})
    timed = mlrun("run", str(slow), "--env-manager", "local", "--retries", "2", "--timeout", "0.5", "--json")
    assert timed.returncode == 124 and len(json.loads(timed.stdout)["attempts"]) == 1
    again = mlrun(
        "run", str(slow), "--env-manager", "local", "--retries", "1", "--timeout", "0.5",
        "--retry-on-timeout", "--retry-delay", "0.1", "--json",
    )  # fmt: skip
    assert again.returncode == 124 and len(json.loads(again.stdout)["attempts"]) == 2


def test_the_entry_point_says_how_many_retries(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    count = tmp_path / "count"
    command = f"echo x >> {count}; exit 1"
    project = project_factory(
        {"MLproject": f"entry_points:\n  main:\n    command: '{command}'\n    retries: 2\n"}
    )
    result = mlrun("run", str(project), "--env-manager", "local", "--retry-delay", "0.05")
    assert result.returncode == 1 and count.read_text() == "x\nx\nx\n"
    none = mlrun("run", str(project), "--env-manager", "local", "--retries", "0")
    assert none.returncode == 1 and count.read_text().count("x") == 4
    bad = mlrun("run", str(project), "--env-manager", "local", "--retry-on", "oops")
    assert bad.returncode == 2 and "--retry-on 'oops'" in bad.stderr


def test_a_zero_delay_retries_at_once_and_the_counts_agree(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    project = _flaky(project_factory, tmp_path, failures=2)
    result = mlrun("run", str(project), "--env-manager", "local", "--retries", "3", "--retry-delay", "0")
    assert result.returncode == 0, result.stderr
    assert "mlrun: attempt 1 of 4 failed (exit code 3); trying again now" in result.stderr
    assert "mlrun: attempt 2 of 4 failed (exit code 3); trying again now" in result.stderr
    # The last line counts as the progress lines do: of the attempts allowed, not of those made.
    assert " FINISHED in " in result.stderr and "(exit code 0) at attempt 3 of 4" in result.stderr
    again = ("run", str(project), "--env-manager", "local", "--retries", "1", "--retry-delay", "0s")
    data = json.loads(mlrun(*again, "--json").stdout)
    assert data["max_attempts"] == 2
    # A time limit of 0 is still no time limit at all: refused.
    zero = mlrun("run", str(project), "--env-manager", "local", "--timeout", "0")
    assert zero.returncode == 2 and "a duration must be more than 0" in zero.stderr
