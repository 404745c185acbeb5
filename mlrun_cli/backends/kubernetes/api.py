"""The Kubernetes API as the kubernetes backend and its sweeps see it: a client for a kube context,
the one call wrapper (raw JSON back, API errors as mlrun errors), a Job's pods, and what a Job's
or pod's status says. The client is imported inside the functions, only when the backend runs."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from mlrun_cli.backends.base import EXIT_TIMEOUT, JobRef, JobState
from mlrun_cli.errors import ExecutionError, InfrastructureError, UsageError
from mlrun_cli.shared import tags
from mlrun_cli.shared.budget import budget
from mlrun_cli.shared.types import RunStatus

BACKEND = "kubernetes"
"""The backend's registry name, which every JobRef made here carries."""
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
OOM_EXIT = tags.EXIT_OUT_OF_MEMORY
DEADLINE = JobState(
    "DeadlineExceeded", RunStatus.FAILED, EXIT_TIMEOUT, "the Job exceeded activeDeadlineSeconds"
)


def api(context: str | None) -> Any:
    from kubernetes import client, config

    settings = type.__call__(client.Configuration)
    # urllib3's default is four tries, each with its own read limit: a hung API server would
    # cost 40 s a call. Tried again only as far as the operation's limit allows.
    limits = budget()
    settings.retries = max(0, int(limits.operation_s // limits.call_s) - 1)
    try:
        # KUBECONFIG read now: the client's default is read once, when the client is imported.
        return config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG") or None, context=context, client_configuration=settings
        )
    except (config.ConfigException, OSError, TypeError) as error:
        if context is not None:
            raise UsageError(f"cannot use kube context {context!r}: {error}") from None
        try:
            config.load_incluster_config(client_configuration=settings)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            raise UsageError(
                f"no Kubernetes configuration found (kubeconfig or in-cluster): {error}"
            ) from None
        return client.ApiClient(settings)


_CLIENTS: dict[tuple[str | None, str | None], tuple[Any, Any]] = {}
_CLIENTS_LOCK = threading.Lock()


def clients(context: str | None) -> tuple[Any, Any]:
    """The core (pods, secrets) and batch (jobs) APIs for a kube context: made once per process
    (reading the kubeconfig and opening a connection pool), shared by every call and thread.
    Keyed by the kubeconfig too: a Python API caller may point KUBECONFIG elsewhere between runs."""
    from kubernetes import client

    key = (context, os.environ.get("KUBECONFIG"))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            connection = api(context)
            _CLIENTS[key] = (client.CoreV1Api(connection), client.BatchV1Api(connection))
        return _CLIENTS[key]


def call(what: str, fn: Any, *args: Any, raw: bool = False, **kwargs: Any) -> Any:
    """A Kubernetes API call; its JSON (or with raw=True its bytes) back, API errors as mlrun
    errors, 404 as None. Raw JSON, not the client's models: they reject partial objects."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    limits = budget()
    try:  # a (connect, read) limit: an API server that accepts and never answers costs seconds
        response = fn(
            *args, _preload_content=False, _request_timeout=(limits.connect_s, limits.call_s), **kwargs
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise InfrastructureError(
            f"Kubernetes refused to {what}: {error.status} {error.reason}: {error.body}"
        ) from error
    except (HTTPError, OSError) as error:
        raise InfrastructureError(f"cannot reach the Kubernetes API to {what}: {error}") from error
    data = response.data
    if raw:
        return bytes(data or b"")
    try:
        return json.loads(data) if data else {}
    except ValueError:
        raise ExecutionError(f"the Kubernetes API answered {what!r} with something other than JSON") from None


def latest_pod(core: Any, ref: JobRef, index: str | None = None) -> dict[str, Any] | None:
    """The newest pod of the ref's Job; of point `index` only, for an Indexed Job's point."""
    return newest_pod(job_pods(core, ref.data["namespace"], ref.job_id), index)


def job_pods(core: Any, namespace: str, job: str) -> list[dict[str, Any]]:
    """Every pod of a Job, in one list call by label selector."""
    pods = call("list pods", core.list_namespaced_pod, namespace, label_selector=f"job-name={job}")
    # Filtered here as well: not every API server (or emulator) honours label selectors.
    return [
        p
        for p in (pods or {}).get("items", [])
        if p.get("metadata", {}).get("labels", {}).get("job-name") == job
    ]


def newest_pod(pods: list[dict[str, Any]], index: str | None = None) -> dict[str, Any] | None:
    mine = [p for p in pods if index is None or pod_index(p) == index]
    mine.sort(key=lambda p: p.get("metadata", {}).get("creationTimestamp") or "")
    return mine[-1] if mine else None


def pod_index(pod: dict[str, Any]) -> str | None:
    """An Indexed Job's pod's index (a label on newer clusters, an annotation on older ones)."""
    metadata = pod.get("metadata", {})
    found = (metadata.get("labels") or {}).get(INDEX_LABEL) or (metadata.get("annotations") or {}).get(
        INDEX_LABEL
    )
    return str(found) if found is not None else None


def terminated(pod: dict[str, Any] | None) -> dict[str, Any]:
    for status in (pod or {}).get("status", {}).get("containerStatuses") or []:
        state = status.get("state", {}).get("terminated")
        if state:
            return state  # type: ignore[no-any-return]
    return {}


def waiting(pod: dict[str, Any] | None) -> str:
    """Why the pod's container is not running yet (ImagePullBackOff: ...), if it says."""
    for status in (pod or {}).get("status", {}).get("containerStatuses") or []:
        state = status.get("state", {}).get("waiting") or {}
        if state.get("reason"):
            message = state.get("message")
            return f"{state['reason']}: {message}" if message else str(state["reason"])
    return ""


def condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for found in job.get("status", {}).get("conditions") or []:
        if found.get("type") == kind and found.get("status") == "True":
            return found  # type: ignore[no-any-return]
    return None


def not_yet(word: str, pod: dict[str, Any] | None) -> JobState:
    """Not ended: Pending or Active, with why the container waits where the pod says."""
    why = waiting(pod)
    return JobState(word, None, None, f"{word} ({why})" if why else word)


def failed(word: str, reason: str, pod: dict[str, Any] | None) -> JobState:
    """A failed run's end as its pod tells it: out of memory, else the command's exit code (1
    where no container ended: the Job failed for `reason`)."""
    ended = terminated(pod)
    if ended.get("reason") == "OOMKilled":
        return JobState("OOMKilled", RunStatus.FAILED, OOM_EXIT, "the pod ran out of memory (OOMKilled)")
    code = int(ended.get("exitCode") or 1)
    why = f"command exited with code {code}" if ended else f"the Job failed ({reason})"
    return JobState(word, RunStatus.FAILED, code, why)
