"""An MLflow tracking server over its REST API (no MLflow needed on this side).

Only calls that are safe to repeat are retried; run creation never is.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from mlrun_cli.errors import TrackingError, TrackingUnreachable
from mlrun_cli.shared.budget import Budget, budget, budget_help
from mlrun_cli.shared.uri_credentials import split_credentials
from mlrun_cli.tracking.base import Experiment, RunQuery, RunRecord, RunRef, RunStatus

BATCH = 100  # MLflow's MAX_PARAMS_TAGS_PER_BATCH
MAX_PARAM, MAX_TAG = 6000, 8000
_RETRIES = 3
# The child's own MLflow during an outage: MLflow's defaults (120 s timeout, 7 retries with
# backoff up to 120 s) stretch a short job to minutes per call. What it logs then is its own.
# The read timeout still leaves a slow, busy server (basic auth on 2 cores) time to answer: a
# server that is down refuses at once, whatever the timeout.
CHILD_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
}


class _Retryable(Exception):
    """A try that may be repeated: no answer in time, or a server error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RestTracker:
    def __init__(self, uri: str) -> None:
        # Credentials in the URI authenticate; `uri` (shown, recorded, queued) never holds them.
        clean, user, password = split_credentials(uri.rstrip("/"))
        self.uri = clean.rstrip("/")
        self.display = self.uri
        self._auth = (user or "", password or "") if user is not None or password is not None else None
        # Set by the outbox for a bounded attempt: no try starts after this (monotonic) time.
        self.deadline: float | None = None

    # -- HTTP ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, str] | None = None,
        retry: bool = True,
        data: bytes | None = None,
        api: str = "/api/2.0/mlflow/",
    ) -> dict[str, Any]:
        url = f"{self.uri}{api}{path}" + (f"?{urlencode(query)}" if query else "")
        payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
        limits = budget()
        end = limits.deadline().end if self.deadline is None else min(limits.deadline().end, self.deadline)
        attempts, tried, reason = (_RETRIES if retry else 1), 0, "no time left"
        # Each try waits at most call_s for an answer; a new try starts only while the operation
        # has time left, so a server that accepts and never answers costs operation_s at most.
        while tried < attempts and time.monotonic() < end:
            tried += 1
            try:
                return self._send(method, path, url, payload, limits, end)
            except _Retryable as error:
                reason = error.reason
                pause = 0.5 * 2 ** (tried - 1)
                if tried < attempts and time.monotonic() + pause < end:
                    time.sleep(pause)
        raise TrackingUnreachable(
            f"cannot reach the tracking server {self.display}: {reason} "
            f"({tried} {'try' if tried == 1 else 'tries'} in at most {limits.operation_s:g} s)",
            hint=f"is it up? {budget_help()}",
        )

    def _send(
        self, method: str, path: str, url: str, payload: bytes | None, limits: Budget, end: float
    ) -> dict[str, Any]:
        import http.client
        import urllib.error
        import urllib.request

        from mlrun_cli.tracking.rest.http_client import headers, open_url, tls_context

        request = urllib.request.Request(url, data=payload, method=method, headers=headers(self._auth))
        wait = max(0.001, min(limits.call_s, end - time.monotonic()))
        try:
            with open_url(
                request, connect_s=limits.connect_s, timeout=wait, context=tls_context()
            ) as response:
                text = response.read().decode() or "{}"
                return json.loads(text) if text.strip().startswith("{") else {}
        except urllib.error.HTTPError as error:
            detail = self._detail(error)
            if error.code in (401, 403):
                raise TrackingError(
                    f"the tracking server {self.display} refused the credentials ({error.code})",
                    hint="check MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN",
                ) from None
            if error.code in (429, 500, 502, 503, 504):
                raise _Retryable(f"it keeps failing ({error.code}): {detail}") from None
            raise TrackingError(
                f"{method} {path} on {self.display} failed ({error.code}): {detail}"
            ) from None
        except TimeoutError:
            raise _Retryable("it accepted the connection but did not answer in time") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                reason = f"no connection within {limits.connect_s:g} s"
            raise _Retryable(str(reason)) from None

    @staticmethod
    def _detail(error: Any) -> str:
        try:
            data = json.loads(error.read().decode())
            return f"{data.get('error_code', '')}: {data.get('message', '')}".strip(": ")
        except (ValueError, OSError):
            return str(error.reason)

    def _missing(self, error: TrackingError) -> bool:
        return "RESOURCE_DOES_NOT_EXIST" in error.message or "(404)" in error.message

    # -- the Tracker protocol -----------------------------------------------------------------

    def check(self) -> None:
        self.request("GET", "experiments/search", query={"max_results": "1"})

    @staticmethod
    def _experiment(data: Mapping[str, Any]) -> Experiment:
        return Experiment(
            str(data["experiment_id"]), str(data["name"]), str(data.get("artifact_location", ""))
        )

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self.request("GET", "experiments/get-by-name", query={"experiment_name": name})
        except TrackingError as error:
            if self._missing(error):
                return None
            raise
        return self._experiment(data["experiment"])

    def resolve_experiment(self, name: str | None, experiment_id: str | None) -> Experiment:
        if experiment_id is not None or name is None:
            wanted = experiment_id or "0"
            try:
                data = self.request("GET", "experiments/get", query={"experiment_id": wanted})
            except TrackingError as error:
                if self._missing(error):
                    raise TrackingError(f"no experiment with id {wanted!r} on {self.display}") from None
                raise
            return self._experiment(data["experiment"])
        found = self.get_experiment_by_name(name)
        if found:
            return found
        try:
            created = self.request("POST", "experiments/create", {"name": name}, retry=False)
            return Experiment(str(created["experiment_id"]), name, "")
        except TrackingError as error:
            if "RESOURCE_ALREADY_EXISTS" not in error.message:  # created meanwhile by another run
                raise
        found = self.get_experiment_by_name(name)
        if found is None:  # pragma: no cover - the server said it exists
            raise TrackingError(f"experiment {name!r} exists but cannot be read")
        return found

    def create_run(
        self, experiment_id: str, run_name: str, user: str, start_time_ms: int, tags: Mapping[str, str]
    ) -> RunRef:
        body = {
            "experiment_id": experiment_id,
            "user_id": user,
            "start_time": start_time_ms,
            "run_name": run_name,
            "tags": [{"key": k, "value": v[:MAX_TAG]} for k, v in tags.items()],
        }
        info = self.request("POST", "runs/create", body, retry=False)["run"]["info"]
        return RunRef(str(info["run_id"]), str(info["experiment_id"]), str(info.get("artifact_uri", "")))

    def log_batch(self, run_id: str, params: Mapping[str, str], tags: Mapping[str, str]) -> None:
        items = [("params", k, v[:MAX_PARAM]) for k, v in params.items()]
        items += [("tags", k, v[:MAX_TAG]) for k, v in tags.items()]
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            body: dict[str, Any] = {"run_id": run_id, "params": [], "tags": []}
            for kind, key, value in chunk:
                body[kind].append({"key": key, "value": value})
            # Logging the same values again is harmless, so a retry is safe.
            self.request("POST", "runs/log-batch", body)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], timestamp_ms: int) -> None:
        entries = [{"key": k, "value": v, "timestamp": timestamp_ms, "step": 0} for k, v in metrics.items()]
        self.request("POST", "runs/log-batch", {"run_id": run_id, "metrics": entries})

    def log_artifact(self, run_id: str, local_path: Path, artifact_path: str) -> None:
        record = self.request("GET", "runs/get", query={"run_id": run_id})["run"]["info"]
        artifact_uri = str(record.get("artifact_uri", ""))
        if artifact_uri.startswith("mlflow-artifacts:"):
            target = artifact_uri.split(":", 1)[1].lstrip("/")
            path = quote(f"{target}/{artifact_path}/{local_path.name}")
            self.request(
                "PUT", path, data=local_path.read_bytes(), api="/api/2.0/mlflow-artifacts/artifacts/"
            )
            return
        if artifact_uri.startswith("file:") or artifact_uri.startswith("/"):
            import shutil

            folder = Path(artifact_uri.removeprefix("file://")) / artifact_path
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local_path, folder / local_path.name)
            return
        raise TrackingError(
            f"artifacts at {artifact_uri} cannot be uploaded by mlrun yet "
            "(start the server with its artifact proxy: mlflow server --serve-artifacts)"
        )

    def read_artifact(self, record: RunRecord, path: str) -> bytes | None:
        """The run's artifact at `path`, None when it has none (tracking/artifacts.py)."""
        from mlrun_cli.tracking.artifacts import read_over_rest
        from mlrun_cli.tracking.rest.http_client import headers, tls_context

        return read_over_rest(self.uri, headers(self._auth), tls_context(), record.artifact_uri, path)

    def end_run(self, run_id: str, status: RunStatus, end_time_ms: int) -> None:
        self.request(
            "POST", "runs/update", {"run_id": run_id, "status": status.name, "end_time": end_time_ms}
        )

    def child_env(self, run: RunRef) -> dict[str, str]:
        env = {name: value for name, value in CHILD_HTTP_DEFAULTS.items() if name not in os.environ}
        env.update(
            {
                "MLFLOW_TRACKING_URI": self.uri,
                "MLFLOW_RUN_ID": run.run_id,
                "MLFLOW_EXPERIMENT_ID": run.experiment_id,
            }
        )
        if self._auth is not None:  # as variables: backends keep *PASSWORD out of job files
            env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"] = self._auth
        return env

    def experiment_names(self) -> dict[str, str]:
        data = self.request("GET", "experiments/search", query={"max_results": "1000"})
        return {str(e["experiment_id"]): str(e["name"]) for e in data.get("experiments", [])}

    def search_runs(self, experiment_ids: Sequence[str] | None, max_results: int) -> list[RunRecord]:
        from mlrun_cli.tracking.rest import search as rest_search  # here: a run records and never searches

        return rest_search.recent(self, experiment_ids, max_results)

    def get_run(self, run_id: str) -> RunRecord:
        from mlrun_cli.tracking.rest import search as rest_search

        try:
            run = self.request("GET", "runs/get", query={"run_id": run_id})["run"]
        except TrackingError as error:
            if self._missing(error):
                raise TrackingError(f"no run with id {run_id!r} on {self.display}") from None
            raise
        return rest_search.run_record(self, run, self.experiment_names(), full=True)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        from mlrun_cli.tracking.rest import search as rest_search

        return rest_search.metric_history(self, run_id, key)

    def search_runs_by_tag(self, experiment_id: str, key: str, value: str) -> list[RunRecord]:
        """A tag filter in runs/search: the server does the searching."""
        from mlrun_cli.tracking.rest import search as rest_search

        return rest_search.by_tag(self, experiment_id, key, value)

    def query_runs(self, query: RunQuery) -> list[RunRecord]:
        from mlrun_cli.tracking.rest import search as rest_search

        return rest_search.query(self, query)

    def set_deleted(self, run_id: str, deleted: bool) -> None:
        from mlrun_cli.tracking.rest import search as rest_search

        rest_search.set_deleted(self, run_id, deleted)
