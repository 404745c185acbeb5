"""`--backend kubernetes`: MLflow's Kubernetes backend, done carefully.

The project's docker image is built with the code in it, pushed to `repository-uri` and pinned by
digest; a Job made from MLflow's job template runs the command; the pod's log becomes
mlrun/console.log; cancelling deletes the Job with its pods (one point of a sweep's Indexed
Job is stopped alone, `kube_sweep.stop_index`; a whole sweep deletes its Job, `cancel_many`).
Secrets (a token, a password, a tracking URI with credentials: `is_private`) go in a Secret the
Job owns, not in the Job's spec.
This module is the protocol; submitting is `kube_submit` (one path for a run and for a sweep's
Indexed Job, `kube_sweep`), API calls and reading a Job's status are `kube_api`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlrun_cli.backends.base import Job, JobRef, JobState
from mlrun_cli.backends.kubernetes import api as kube_api
from mlrun_cli.backends.kubernetes import job as kube_job
from mlrun_cli.backends.kubernetes import logs as kube_logs
from mlrun_cli.backends.kubernetes import resources as kube_resources
from mlrun_cli.backends.kubernetes import submit as kube_submit
from mlrun_cli.backends.kubernetes import sweep as kube_sweep
from mlrun_cli.errors import ExecutionError, InfrastructureError, MlrunError, NotAvailableError
from mlrun_cli.shared import tags
from mlrun_cli.shared.types import RunStatus

NAME = kube_api.BACKEND
DETACHABLE = True
CONFIG_SCHEMA = "kubernetes_config"
ENV_KINDS = frozenset({"docker"})
CODE_IN_IMAGE = True
"""A pod has no bind mount of the project folder: the code goes into the image (--build-image)."""


def preflight() -> None:
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        raise NotAvailableError(
            "the kubernetes backend needs the Kubernetes client",
            hint="pip install 'mlrun-cli[kubernetes]'",
        ) from None


def check_config(config: Mapping[str, Any]) -> None:
    kube_job.load_template(str(config[kube_job.TEMPLATE_KEY]))


check_container = kube_resources.check_container


def submit(job: Job) -> JobRef:
    rendered = kube_submit.render(
        job,
        name=kube_job.job_name(job.run_name, job.run_id),
        command=job.command,
        env=kube_submit.pod_env(job.env_patch),
        deadline_s=None if job.timeout_s is None else math.ceil(job.timeout_s),
    )
    return kube_submit.create(rendered)


def submit_many(jobs: Sequence[Job], max_parallel: int) -> list[JobRef]:
    """A sweep as ONE Indexed Job (`completionMode: Indexed`, `parallelism` max_parallel)."""
    return kube_sweep.submit_many(jobs, max_parallel)


def _latest_pod(core: Any, ref: JobRef) -> dict[str, Any] | None:
    return kube_api.latest_pod(core, ref, ref.data.get(kube_sweep.INDEX))


def status(ref: JobRef) -> JobState:
    core, batch = kube_api.clients(ref.data.get("context"))
    job = kube_api.call("read the Job", batch.read_namespaced_job_status, ref.job_id, ref.data["namespace"])
    if job is None:
        return JobState("Deleted", RunStatus.KILLED, tags.EXIT_TERMINATED, "the Job was deleted")
    if kube_sweep.INDEX in ref.data:  # one point of a sweep's Indexed Job
        return kube_sweep.index_state(job, int(ref.data[kube_sweep.INDEX]), _latest_pod(core, ref))
    counts = job.get("status", {})
    done = kube_api.condition(job, "Complete") or kube_api.condition(job, "SuccessCriteriaMet")
    if done or counts.get("succeeded"):
        return JobState("Complete", RunStatus.FINISHED, 0)
    failed = kube_api.condition(job, "Failed")
    if failed is None and not counts.get("failed"):
        return kube_api.not_yet("Active" if counts.get("active") else "Pending", _latest_pod(core, ref))
    reason = (failed or {}).get("reason") or "Failed"
    if reason == "DeadlineExceeded":
        return kube_api.DEADLINE
    return kube_api.failed(reason, reason, _latest_pod(core, ref))


def status_many(refs: Sequence[JobRef]) -> list[JobState | MlrunError]:
    """The watcher's one poll: per Job (a sweep's Indexed Job holds every point), one read of the
    Job and one list of its pods by label selector, whatever the number of points."""
    states: list[JobState | MlrunError | None] = [None] * len(refs)
    jobs: dict[tuple[str, str, str | None], list[int]] = {}
    for n, ref in enumerate(refs):
        if kube_sweep.INDEX in ref.data:
            jobs.setdefault((ref.job_id, ref.data["namespace"], ref.data.get("context")), []).append(n)
        else:
            try:
                states[n] = status(ref)
            except MlrunError as error:
                states[n] = error
    for (name, namespace, context), points in jobs.items():
        try:
            core, batch = kube_api.clients(context)
            job = kube_api.call("read the Job", batch.read_namespaced_job_status, name, namespace)
            pods = kube_api.job_pods(core, namespace, name) if job is not None else []
        except MlrunError as error:
            for n in points:
                states[n] = error
            continue
        for n in points:
            index = refs[n].data[kube_sweep.INDEX]
            if job is None:
                states[n] = JobState("Deleted", RunStatus.KILLED, tags.EXIT_TERMINATED, "the Job was deleted")
            else:
                states[n] = kube_sweep.index_state(job, int(index), kube_api.newest_pod(pods, index))
    return [s if s is not None else ExecutionError("no state") for s in states]


def logs(ref: JobRef) -> bytes:
    core, _ = kube_api.clients(ref.data.get("context"))
    pod = _latest_pod(core, ref)
    if pod is None:
        return b""
    name, namespace = pod["metadata"]["name"], ref.data["namespace"]
    try:
        text = kube_api.call("read the pod's log", core.read_namespaced_pod_log, name, namespace, raw=True)
    except InfrastructureError:
        return b""  # the container has not started yet
    return bytes(text or b"")


def new_output(ref: JobRef, offset: int) -> bytes:
    """Only the log lines the pod wrote since the last poll (`kube_logs`)."""
    core, _ = kube_api.clients(ref.data.get("context"))
    pod = _latest_pod(core, ref)
    if pod is None:
        return b""
    name, namespace = pod["metadata"]["name"], ref.data["namespace"]

    def read(tail: int | None) -> bytes:
        lines = {} if tail is None else {"tail_lines": tail}
        log = core.read_namespaced_pod_log
        return bytes(
            kube_api.call("read the pod's log", log, name, namespace, raw=True, timestamps=True, **lines)
        )

    try:
        return kube_logs.new_output(ref, name, offset, read)
    except InfrastructureError:
        return b""  # the container has not started yet


def cancel(ref: JobRef) -> None:
    if kube_sweep.INDEX in ref.data:  # one point of a sweep: its pod alone, the Job goes on
        kube_sweep.stop_index(ref)
        return
    core, batch = kube_api.clients(ref.data.get("context"))
    namespace = ref.data["namespace"]
    kube_api.call(
        "delete the Job", batch.delete_namespaced_job, ref.job_id, namespace, propagation_policy="Background"
    )
    if "secret" in ref.data:
        kube_api.call("delete the Secret", core.delete_namespaced_secret, ref.data["secret"], namespace)


def cancel_many(refs: Sequence[JobRef]) -> None:
    """A whole sweep: each Indexed Job its points belong to deleted once (no queued index starts)."""
    jobs = {(r.job_id, r.data["namespace"], r.data.get("context")): r for r in refs}
    first: MlrunError | None = None
    for ref in jobs.values():
        whole = JobRef(ref.backend, ref.job_id, {k: v for k, v in ref.data.items() if k != kube_sweep.INDEX})
        try:
            cancel(whole)
        except MlrunError as error:  # the others still; then the first error
            first = first or error
    if first is not None:
        raise first
