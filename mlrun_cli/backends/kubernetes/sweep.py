"""A sweep on Kubernetes as ONE Indexed Job: `completionMode: Indexed`, `completions` n,
`parallelism` P. Pod i finds its point from `JOB_COMPLETION_INDEX`: a `case` in the command
sets that point's own handshake (its child run's MLFLOW_RUN_ID) and runs its command. Each point
keeps its own JobRef (the Job's name plus the index), so each child run is followed, settled and
logged on its own; `backoffLimitPerIndex: 0` lets one failed point fail alone.

Each point keeps its own --timeout inside its pod (`with_deadline`: exit 124, that point alone
FAILED, the others go on). One point is stopped alone (`stop_index`: --early-stop); a whole
sweep (Ctrl-C) deletes the Job in one call (`kubernetes.cancel_many`).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from typing import Any

from mlrun_cli.backends.base import Job, JobRef, JobState, is_private
from mlrun_cli.backends.deadline import with_deadline
from mlrun_cli.backends.kubernetes import api as kube_api
from mlrun_cli.backends.kubernetes import job as kube_job
from mlrun_cli.backends.kubernetes import submit as kube_submit
from mlrun_cli.errors import UsageError
from mlrun_cli.shared.tags import EXIT_TERMINATED
from mlrun_cli.shared.types import RunStatus

INDEX = "index"
DEADLINE_MARGIN_S = 600
"""Added to the Indexed Job's activeDeadlineSeconds: scheduling and image pulls, which no point's
own timeout counts."""
STOP_DEADLINE_S = 1
"""A stopped point's pod's activeDeadlineSeconds: past already, so its kubelet stops it now."""
NEVER_STARTED = "never started: the Job exceeded its activeDeadlineSeconds before this point ran"


def dispatch_command(
    commands: Sequence[str], own_env: Sequence[dict[str, str]], timeout_s: float | None = None
) -> str:
    """The pod's command: point i's own variables, then its command, as `sh -c` would run it,
    stopped at the point's own time limit (exit 124) when it has one.

    The shell is the container's PID 1, which the kernel gives no signal it has no handler for:
    the kubelet's SIGTERM (a point stopped, `stop_index`) would wait out the grace period. So the
    command runs in the background, and a trap passes SIGTERM on to every process of the pod."""
    cases = []
    for i, (command, env) in enumerate(zip(commands, own_env, strict=True)):
        exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in sorted(env.items()))
        run = (
            f"eval {shlex.quote(command)} & mlrun_pid=$!; wait $mlrun_pid; mlrun_code=$?; "
            "while kill -0 $mlrun_pid 2>/dev/null; do wait $mlrun_pid; mlrun_code=$?; done; exit $mlrun_code"
            if timeout_s is None
            else with_deadline(command, timeout_s)
        )
        cases.append(f"  {i}) {exports}{run} ;;")
    return (
        "trap 'trap - TERM; kill -TERM 0' TERM\n"
        'case "$JOB_COMPLETION_INDEX" in\n' + "\n".join(cases) + "\n"
        '  *) echo "mlrun: no point for index $JOB_COMPLETION_INDEX" >&2; exit 2 ;;\nesac'
    )


def submit_many(jobs: Sequence[Job], max_parallel: int) -> list[JobRef]:
    first = jobs[0]
    envs = [kube_submit.pod_values(j.env_patch) for j in jobs]
    # What every point shares goes in the Job's env; what differs (the run id) in its case branch.
    shared = {
        k: v for k, v in kube_submit.pod_env(first.env_patch).items() if all(e.get(k) == v for e in envs)
    }
    own = [{k: v for k, v in e.items() if k not in shared} for e in envs]
    leaked = sorted({k for e in own for k, v in e.items() if is_private(k, v)})
    if leaked:  # they would be written into the Job's spec
        raise UsageError(f"the sweep's points differ in secret variables: {', '.join(leaked)}")
    # A bound for the whole Job, kept for a detached sweep (or an mlrun that died), which has no
    # mlrun to stop its points in time; an attached one stops each point itself, well before.
    # Kubernetes counts Pending time in it, so it is every point's timeout one after another
    # (ceil(n/P) rounds would kill points still waiting for a node), plus scheduling and pulls.
    deadline_s = None
    if first.timeout_s is not None:
        deadline_s = math.ceil(first.timeout_s) * len(jobs) + DEADLINE_MARGIN_S
    rendered = kube_submit.render(
        first,
        name=kube_job.job_name(f"{first.run_name}-sweep", first.run_id),
        command=dispatch_command([j.command for j in jobs], own, first.timeout_s),
        env=shared,
        deadline_s=deadline_s,
    )
    job_spec = rendered.manifest["spec"]
    job_spec.pop("backoffLimit", None)  # counted over every point; one index's failure is its own
    job_spec.update(
        completionMode="Indexed",
        completions=len(jobs),
        parallelism=max(1, max_parallel),
        backoffLimitPerIndex=0,
    )
    ref = kube_submit.create(rendered)
    return [JobRef(ref.backend, ref.job_id, {**ref.data, INDEX: str(i)}) for i in range(len(jobs))]


def stop_index(ref: JobRef) -> None:
    """Stop one point of the Indexed Job alone: its pod's `activeDeadlineSeconds` (one of the few
    fields a pod may change; only lowered) set to 1 s. The kubelet then stops the pod as at any
    deadline (SIGTERM, the grace period, SIGKILL) and marks it Failed, DeadlineExceeded; the Job
    controller counts a failed pod against its index, and with `backoffLimitPerIndex: 0` that
    index fails without a retry while the others go on. Deleting the pod would do the same (a
    deleted pod counts as failed) but lose its log and its status. A point with no pod yet (its
    index not started) has nothing to stop: it runs when its turn comes."""
    core, _ = kube_api.clients(ref.data.get("context"))
    namespace, index = ref.data["namespace"], ref.data[INDEX]
    for pod in kube_api.job_pods(core, namespace, ref.job_id):
        running = (pod.get("status") or {}).get("phase") in ("Pending", "Running")
        if running and kube_api.pod_index(pod) == index:
            name, body = pod["metadata"]["name"], {"spec": {"activeDeadlineSeconds": STOP_DEADLINE_S}}
            kube_api.call("stop the point's pod", core.patch_namespaced_pod, name, namespace, body)


def indexes(text: str | None) -> set[int]:
    """Kubernetes' index list ('0,2-4') as a set."""
    found: set[int] = set()
    for part in (text or "").split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit():
            found.update(range(int(low), int(high or low) + 1))
    return found


def index_state(job: dict[str, Any], index: int, pod: dict[str, Any] | None) -> JobState:
    """Where point `index` of the Indexed Job stands."""
    status = job.get("status", {})
    if index in indexes(status.get("completedIndexes")):
        return JobState("Complete", RunStatus.FINISHED, 0)
    failed_job = kube_api.condition(job, "Failed")
    if index in indexes(status.get("failedIndexes")) or failed_job is not None:
        reason = (failed_job or {}).get("reason") or "Failed"
        if reason == "DeadlineExceeded" and not kube_api.terminated(pod):
            if never_started(job, index, pod):
                return JobState("NeverStarted", RunStatus.KILLED, EXIT_TERMINATED, NEVER_STARTED)
            return kube_api.DEADLINE
        return kube_api.failed("Failed", reason, pod)
    word = "Active" if pod is not None and (pod.get("status") or {}).get("phase") == "Running" else "Pending"
    return kube_api.not_yet(word, pod)


def never_started(job: dict[str, Any], index: int, pod: dict[str, Any] | None) -> bool:
    """Whether the Job's state shows point `index` never ran. Its pod, if any, never started a
    container. Without a pod (the controller deletes active pods at the deadline), the index
    order tells: the Job controller starts the lowest pending index first and never retries one
    here (backoffLimitPerIndex 0), so the started indexes are always 0..k with at most
    `parallelism` of them unfinished; an index at or past len(finished) + parallelism never ran.
    (Where unsure, the point counts as having run: FAILED by the deadline, not KILLED.)"""
    status = job.get("status", {})
    finished = indexes(status.get("completedIndexes")) | indexes(status.get("failedIndexes"))
    if index in finished:
        return False
    if pod is not None:
        phase = (pod.get("status") or {}).get("phase")
        containers = (pod.get("status") or {}).get("containerStatuses") or []
        ran = any(
            {"running", "terminated"} & set(c.get("state") or {}) or c.get("lastState") for c in containers
        )
        return phase == "Pending" and not ran
    parallelism = int(job.get("spec", {}).get("parallelism") or 1)
    return index >= len(finished) + parallelism
