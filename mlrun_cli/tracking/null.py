"""`--no-track` (tracking URI `none`): the command runs, nothing is recorded anywhere.

The command's own MLflow still gets a store to log into (MLflow 3.13+ refuses to log without
one it accepts): a throw-away file store holding a run made for it, removed when the run ends.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrun_cli.errors import TrackingError
from mlrun_cli.tracking.base import Experiment, RunRecord, RunRef, RunStatus


class NullTracker:
    uri = "none"

    def __init__(self) -> None:
        self._scratch: dict[str, Path] = {}  # run id -> its throw-away store

    def check(self) -> None:
        return None

    def resolve_experiment(self, name: str | None, experiment_id: str | None) -> Experiment:
        return Experiment(experiment_id or "0", name or "Default", "")

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return None

    def create_run(
        self, experiment_id: str, run_name: str, user: str, start_time_ms: int, tags: Mapping[str, str]
    ) -> RunRef:
        return RunRef(uuid.uuid4().hex, experiment_id, "")

    def log_batch(self, run_id: str, params: Mapping[str, str], tags: Mapping[str, str]) -> None:
        return None

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], timestamp_ms: int) -> None:
        return None

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        return None

    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        scratch = self._scratch.pop(run_id, None)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    def child_env(self, run: RunRef) -> dict[str, str]:
        from mlrun_cli.tracking.filestore.store import FileStore

        scratch = Path(tempfile.mkdtemp(prefix="mlrun-notrack-"))
        self._scratch[run.run_id] = scratch
        store = FileStore(scratch / "mlruns")
        store.check()
        # A run made for it: the script's mlflow.start_run() joins it, as when tracked.
        throwaway = store.create_run("0", "no-track", "mlrun", int(time.time() * 1000), {})
        return store.child_env(RunRef(throwaway.run_id, "0", throwaway.artifact_uri))

    def search_runs(self, experiment_ids: Sequence[str] | None, max_results: int) -> list[RunRecord]:
        return []

    def get_run(self, run_id: str) -> RunRecord:
        raise TrackingError("runs are not recorded with --no-track (tracking URI 'none')")

    def search_runs_by_tag(self, experiment_id: str, key: str, value: str) -> list[RunRecord]:
        return []
