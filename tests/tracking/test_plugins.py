"""A third-party tracking backend, installed as a real package, found by its URI scheme."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result
from tests.envs.conftest import install_plugin

PLUGIN = '''
import json, uuid
from mlrun_cli.tracking.base import Experiment, RunRef


class JournalTracker:
    """Writes every call as a JSON line to the file the URI names (journal:///path)."""

    def __init__(self, uri):
        self.uri = uri
        self.path = uri.split("://", 1)[1]

    def _write(self, **entry):
        with open(self.path, "a") as out:
            out.write(json.dumps(entry) + "\\n")

    def check(self):
        self._write(call="check")

    def resolve_experiment(self, name, experiment_id):
        return Experiment("7", name or "Default", "")

    def get_experiment_by_name(self, name):
        return None

    def create_run(self, experiment_id, run_name, user, start_time_ms, tags):
        run_id = uuid.uuid4().hex
        self._write(call="create_run", run_id=run_id, tags=dict(tags))
        return RunRef(run_id, experiment_id, "")

    def log_batch(self, run_id, params, tags):
        self._write(call="log_batch", params=dict(params), tags=dict(tags))

    def log_artifact(self, run_id, local_path, artifact_path):
        self._write(call="log_artifact", name=f"{artifact_path}/{local_path.name}")

    def end_run(self, run_id, status, end_time_ms):
        self._write(call="end_run", status=status.name)

    def child_env(self, run):
        return {"JOURNAL_RUN_ID": run.run_id}

    def search_runs(self, experiment_ids, max_results):
        return []

    def get_run(self, run_id):
        raise KeyError(run_id)
'''


def test_an_installed_plugin_records_through_its_scheme(
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
    tmp_path: Path,
) -> None:
    plugin_path = install_plugin(
        tmp_path,
        "mlrun-journal",
        "mlrun_journal",
        PLUGIN,
        "[mlrun_cli.tracking]\njournal = mlrun_journal:JournalTracker\n",
    )
    project = project_factory(
        {
            "MLproject": "entry_points: {main: {parameters: {a: {default: 1}},"
            " command: 'echo $JOURNAL_RUN_ID {a}'}}\n"
        }
    )
    journal = tmp_path / "journal.jsonl"
    result = mlrun(
        "run",
        str(project),
        "--env-manager",
        "local",
        "--tracking-uri",
        f"journal://{journal}",
        env={"PYTHONPATH": plugin_path},
    )
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [c["call"] for c in calls] == [
        "check",
        "create_run",
        "log_batch",
        "log_artifact",
        "log_batch",
        "end_run",
    ]
    run_id = calls[1]["run_id"]
    assert result.stdout == f"{run_id} 1\n"
    assert calls[2]["params"] == {"a": "1"} and calls[-1]["status"] == "FINISHED"
    assert calls[1]["tags"]["mlflow.source.type"] == "PROJECT"


def test_no_track_runs_and_records_nothing(
    mlrun: Callable[..., Result],
    project_factory: Callable[[dict[str, str]], Path],
    isolated: Path,
) -> None:
    project = project_factory({"MLproject": "entry_points: {main: {command: 'echo ran; exit 5'}}\n"})
    result = mlrun("run", str(project), "--env-manager", "local", "--no-track")
    assert result.returncode == 5 and result.stdout == "ran\n"
    assert not (isolated / "mlruns").exists()
