"""MLflow's FileStore layout on disk (./mlruns), written exactly so MLflow's own client reads it."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlrun_cli.errors import TrackingError, TrackingUnreachable, disk_unavailable
from mlrun_cli.shared.home import probe_write, write_atomic
from mlrun_cli.tracking.base import Experiment, RunQuery, RunRecord, RunRef, RunStatus
from mlrun_cli.tracking.filestore.records import (
    DamagedRecord,
    dump_yaml,
    read_run,
    read_yaml,
    safe_key_path,
    warn,
    writing,
)

DEFAULT_EXPERIMENT_ID = "0"
_TRASH = ".trash"
_LOCK = ".mlrun.lock"


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


class FileStore:
    """A Tracker writing MLflow's FileStore format under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.uri = self.root.as_uri()
        self._warned: set[Path] = set()

    @classmethod
    def from_uri(cls, uri: str) -> FileStore:
        if uri.startswith("file:"):
            parsed = urlparse(uri)
            if parsed.netloc not in ("", "localhost"):
                raise TrackingError(f"file tracking URIs must be local: {uri}")
            return cls(Path(unquote(parsed.path)))
        return cls(Path(uri).expanduser())

    # -- set-up -------------------------------------------------------------------------------

    def check(self) -> None:
        """Before any run: a store on a read-only or full disk is TrackingUnreachable (exit 75),
        found by a real write, and a store this call began is not left half-made."""
        began = not self.root.exists()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / _TRASH).mkdir(exist_ok=True)
            if not (self.root / DEFAULT_EXPERIMENT_ID / "meta.yaml").is_file():
                self._write_experiment(DEFAULT_EXPERIMENT_ID, "Default")
            probe_write(self.root)
        except OSError as err:
            if began:
                shutil.rmtree(self.root, ignore_errors=True)
            kind = TrackingUnreachable if disk_unavailable(err) else TrackingError
            raise kind(f"cannot use the tracking store at {self.root}: {err.strerror or err}") from None

    def _lock(self) -> Any:
        from filelock import FileLock

        return FileLock(str(self.root / _LOCK), timeout=60)

    def _write_experiment(self, experiment_id: str, name: str) -> Experiment:
        now = _now_ms()
        location = (self.root / experiment_id).as_uri()
        meta = {
            "artifact_location": location,
            "creation_time": now,
            "experiment_id": experiment_id,
            "last_update_time": now,
            "lifecycle_stage": "active",
            "name": name,
        }
        folder = self.root / experiment_id
        began = not folder.exists()
        try:
            (folder / "tags").mkdir(parents=True, exist_ok=True)
            write_atomic(folder / "meta.yaml", dump_yaml(meta))
        except BaseException:
            if began:  # never an experiment folder without its meta.yaml
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return Experiment(experiment_id, name, location)

    # -- experiments --------------------------------------------------------------------------

    def _experiments(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.iterdir()):
            meta_file = path / "meta.yaml"
            if path.name != _TRASH and meta_file.is_file():
                try:
                    meta = read_yaml(meta_file)
                except DamagedRecord as error:  # one bad experiment must not hide the others
                    if meta_file not in self._warned:  # one line per file, however often read
                        warn(f"skipping experiment: {error.message}")
                    self._warned.add(meta_file)
                    continue
                if str(meta.get("experiment_id")) == path.name and "name" in meta:
                    yield path, meta

    @staticmethod
    def _experiment(meta: dict[str, Any]) -> Experiment:
        return Experiment(
            str(meta["experiment_id"]), str(meta["name"]), str(meta.get("artifact_location", ""))
        )

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        for _, meta in self._experiments():
            if meta.get("name") == name and meta.get("lifecycle_stage", "active") == "active":
                return self._experiment(meta)
        return None

    def get_experiment(self, experiment_id: str) -> Experiment:
        meta_file = self.root / experiment_id / "meta.yaml"
        if not experiment_id or not meta_file.is_file() or "/" in experiment_id:
            raise TrackingError(f"no experiment with id {experiment_id!r} in {self.uri}")
        meta = read_yaml(meta_file)
        if meta.get("lifecycle_stage") == "deleted":
            raise TrackingError(f"experiment {experiment_id} is deleted")
        if "name" not in meta:
            raise DamagedRecord(f"{meta_file} is damaged: it has no name")
        return self._experiment(meta)

    def resolve_experiment(self, name: str | None, experiment_id: str | None) -> Experiment:
        if experiment_id is not None:
            return self.get_experiment(experiment_id)
        if name is None:
            return self.get_experiment(DEFAULT_EXPERIMENT_ID)
        found = self.get_experiment_by_name(name)
        if found:
            return found
        # Double-checked under the lock: parallel runs must not create the name twice.
        with self._lock():
            found = self.get_experiment_by_name(name)
            if found:
                return found
            import secrets  # here: a new experiment is rare, and every run pays for an import

            new_id = str(10**17 + secrets.randbelow(9 * 10**17))
            with writing(self.root):
                return self._write_experiment(new_id, name)

    # -- runs ---------------------------------------------------------------------------------

    def _run_dir(self, run_id: str) -> Path:
        if run_id and all(c in "0123456789abcdefABCDEF-" for c in run_id):
            for candidate in self.root.glob(f"*/{run_id}/meta.yaml"):
                return candidate.parent
        raise TrackingError(f"no run with id {run_id!r} in {self.uri}")

    def create_run(
        self, experiment_id: str, run_name: str, user: str, start_time_ms: int, tags: Mapping[str, str]
    ) -> RunRef:
        run_id = uuid.uuid4().hex
        run_dir = self.root / experiment_id / run_id
        artifact_uri = (run_dir / "artifacts").as_uri()
        meta: dict[str, Any] = {
            "artifact_uri": artifact_uri,
            "end_time": None,
            "entry_point_name": "",
            "experiment_id": experiment_id,
            "lifecycle_stage": "active",
            "run_id": run_id,
            "run_name": run_name,
            "source_name": "",
            "source_type": 4,
            "source_version": "",
            "start_time": start_time_ms,
            "status": RunStatus.RUNNING.number,
            "tags": [],
            "user_id": user,
        }
        try:
            with writing(self.root):
                for sub in ("metrics", "params", "tags", "artifacts"):
                    (run_dir / sub).mkdir(parents=True, exist_ok=True)
                self._write_values(run_dir / "tags", tags)
                write_atomic(run_dir / "meta.yaml", dump_yaml(meta))
        except BaseException:  # e.g. the disk filled up: never a run folder without meta.yaml
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return RunRef(run_id, experiment_id, artifact_uri)

    @staticmethod
    def _write_values(base: Path, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            write_atomic(safe_key_path(base, key), value)

    def log_batch(self, run_id: str, params: Mapping[str, str], tags: Mapping[str, str]) -> None:
        run_dir = self._run_dir(run_id)
        for key, value in params.items():
            existing = safe_key_path(run_dir / "params", key)
            if existing.is_file() and existing.read_text(encoding="utf-8") != value:
                raise TrackingError(
                    f"parameter {key!r} of run {run_id} is already logged with a different value"
                )
        with writing(self.root):
            self._write_values(run_dir / "params", params)
            self._write_values(run_dir / "tags", tags)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], timestamp_ms: int) -> None:
        """One line `TIMESTAMP VALUE STEP` appended per metric, as MLflow's file store writes it."""
        run_dir = self._run_dir(run_id)
        with writing(self.root):
            for key, value in metrics.items():
                path = safe_key_path(run_dir / "metrics", key)
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as out:
                    out.write(f"{timestamp_ms} {value!r} 0\n")

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        target_dir = safe_key_path(self._run_dir(run_id) / "artifacts", artifact_path)
        with writing(self.root):
            target_dir.mkdir(parents=True, exist_ok=True)
            tmp = target_dir / f".{local_path.name}.tmp"
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, target_dir / local_path.name)

    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        meta_file = self._run_dir(run_id) / "meta.yaml"
        # Re-read: the child's mlflow may have rewritten meta.yaml while it ran.
        meta = read_yaml(meta_file)
        meta["status"] = status.number
        meta["end_time"] = end_time_ms
        with writing(self.root):
            write_atomic(meta_file, dump_yaml(meta))

    def child_env(self, run: RunRef) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.uri,
            "MLFLOW_RUN_ID": run.run_id,
            "MLFLOW_EXPERIMENT_ID": run.experiment_id,
            # MLflow >= 3.13 refuses file stores without this opt-in.
            "MLFLOW_ALLOW_FILE_STORE": "true",
        }

    # -- reading ------------------------------------------------------------------------------

    def _record(
        self, run_dir: Path, experiment_name: str, *, full: bool, artifacts: bool = True
    ) -> RunRecord:
        return read_run(run_dir, experiment_name, full=full, artifacts=artifacts)

    def search_runs(self, experiment_ids: Sequence[str] | None, max_results: int) -> list[RunRecord]:
        records = []
        for exp_dir, meta in self._experiments():
            if experiment_ids is not None and exp_dir.name not in experiment_ids:
                continue
            for run_meta in exp_dir.glob("*/meta.yaml"):
                try:
                    records.append(self._record(run_meta.parent, str(meta["name"]), full=False))
                except DamagedRecord as error:  # one bad run must not hide the others
                    warn(f"skipping run: {error.message}")
        records.sort(key=lambda r: r.start_time_ms, reverse=True)
        return records[:max_results]

    def get_run(self, run_id: str) -> RunRecord:
        run_dir = self._run_dir(run_id)
        try:
            name = str(read_yaml(run_dir.parent / "meta.yaml").get("name", ""))
        except DamagedRecord as error:  # the run itself may still be readable
            warn(error.message)
            name = ""
        return self._record(run_dir, name, full=True)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        from mlrun_cli.tracking.filestore.records import metric_history

        return metric_history(safe_key_path(self._run_dir(run_id) / "metrics", key))

    def search_runs_by_tag(self, experiment_id: str, key: str, value: str) -> list[RunRecord]:
        from mlrun_cli.tracking.filestore.search import search_by_tag  # here: only --needed searches by tag

        return search_by_tag(self.root, experiment_id, key, value)

    def query_runs(self, query: RunQuery) -> list[RunRecord]:
        """MLflow's search, answered through the run index beside the cache (`query.py`)."""
        from mlrun_cli.tracking.filestore.query import query as index_query  # here: a run never lists runs

        ids = query.experiment_ids
        names = {p.name: str(m["name"]) for p, m in self._experiments() if ids is None or p.name in ids}
        return index_query(self.root, names, query)

    def set_deleted(self, run_id: str, deleted: bool) -> None:
        """lifecycle_stage (and deleted_time) in meta.yaml, as MLflow's delete_run/restore_run."""
        meta_file = self._run_dir(run_id) / "meta.yaml"
        meta = read_yaml(meta_file)
        meta["lifecycle_stage"] = "deleted" if deleted else "active"
        meta.pop("deleted_time", None)
        if deleted:
            meta["deleted_time"] = _now_ms()
        with writing(self.root):
            write_atomic(meta_file, dump_yaml(meta))
