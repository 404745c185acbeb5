"""`--backend kubernetes`: MLflow's Kubernetes backend, done carefully.

The project's docker image is built with the code in it, pushed to `repository-uri` and pinned by
digest; a Job made from MLflow's job template runs the command; the pod's log becomes
mlrun/console.log; cancelling deletes the Job with its pods. Secrets (a token, a password, a
tracking URI with credentials: `is_private`) go in a Secret the Job owns, not in the Job's spec.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from mlrun_cli.backends import kube_job, kube_resources, kube_sweep
from mlrun_cli.backends.base import EXIT_TIMEOUT, Job, JobRef, JobState, is_private
from mlrun_cli.errors import ExecutionError, InfrastructureError, NotAvailableError, UsageError
from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.uris import redact_uri

NAME = "kubernetes"
DETACHABLE = True
CONFIG_SCHEMA = "kubernetes_config"
ENV_KINDS = frozenset({"docker"})
CODE_IN_IMAGE = True
"""A pod has no bind mount of the project folder: the code goes into the image (--build-image)."""
_OOM_EXIT = 137


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


def _api(context: str | None) -> Any:
    from kubernetes import client, config

    try:
        return config.new_client_from_config(context=context)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, TypeError) as error:
        if context is not None:
            raise UsageError(f"cannot use kube context {context!r}: {error}") from None
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            raise UsageError(
                f"no Kubernetes configuration found (kubeconfig or in-cluster): {error}"
            ) from None
        return client.ApiClient()


def _call(what: str, fn: Any, *args: Any, raw: bool = False, **kwargs: Any) -> Any:
    """A Kubernetes API call; its JSON (or with raw=True its bytes) back, API errors as mlrun
    errors, 404 as None. Raw JSON, not the client's models: they reject partial objects."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        response = fn(*args, _preload_content=False, **kwargs)
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


def push_image(local_tag: str, repository: str) -> str:
    """Tag the built image under `repository`, push it, and return it pinned by digest."""
    from mlrun_cli.envs.docker import DockerError, client

    engine = client()
    tag = local_tag.rsplit(":", 1)[-1]
    engine.images.get(local_tag).tag(repository, tag)
    digest = None
    for line in engine.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in line:
            raise DockerError(f"pushing {repository}:{tag} failed: {line['error']}")
        digest = line.get("aux", {}).get("Digest", digest)
    if digest is None:
        digest = engine.images.get_registry_data(f"{repository}:{tag}").id
    return f"{repository}@{digest}"


def pod_values(env: Mapping[str, str | None]) -> dict[str, str]:
    values = {k: v for k, v in env.items() if v is not None}
    # As MLflow does: where the pod reaches the tracking server by another address.
    kube_uri = os.environ.get("KUBE_MLFLOW_TRACKING_URI")
    if kube_uri:
        values["MLFLOW_TRACKING_URI"] = kube_uri
    return values


def _pod_env(env: Mapping[str, str | None]) -> dict[str, str]:
    values = pod_values(env)
    uri = values.get("MLFLOW_TRACKING_URI", "")
    host = (urlsplit(uri).hostname or "") if "://" in uri else ""
    if uri.startswith(("file:", "/")) or host in ("localhost", "::1") or host.startswith("127."):
        sys.stderr.write(
            f"mlrun: warning: the pod records to {redact_uri(uri)}, which is on this machine; "
            "set KUBE_MLFLOW_TRACKING_URI to the tracking server's address as the pod sees it\n"
        )
    return values


def submit(job: Job) -> JobRef:
    spec = job.container
    if spec is None:
        raise UsageError("the kubernetes backend runs docker_env projects only")
    config = job.config
    template = kube_job.load_template(str(config[kube_job.TEMPLATE_KEY]))
    image = push_image(spec.image, str(config[kube_job.REPOSITORY_KEY]))
    name = kube_job.job_name(job.run_name, job.run_id)
    env = _pod_env(job.env_patch)
    secrets = {k: v for k, v in env.items() if is_private(k, v)}
    secret_name = f"{name}-env" if secrets else None
    manifest = kube_job.render_job(
        template,
        name=name,
        container_name=kube_job.dns_label(job.run_name),
        image=image,
        command=job.command,
        env=env,
        run_id=job.run_id,
        secret_name=secret_name,
        secret_keys=frozenset(secrets),
        resources=kube_resources.resources(spec),
        deadline_s=None if job.timeout_s is None else math.ceil(job.timeout_s),
        volumes=kube_resources.host_path_volumes(spec),
    )
    return create(manifest, secrets, secret_name, config.get(kube_job.CONTEXT_KEY), image)


def create(
    manifest: dict[str, Any], secrets: Mapping[str, str], secret_name: str | None, context: Any, image: str
) -> JobRef:
    """Create the Job, and the Secret it owns; the ref to find it again."""
    from kubernetes import client

    name = manifest["metadata"]["name"]
    namespace = manifest["metadata"]["namespace"]
    api = _api(context)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    if secret_name is not None:
        body = {
            "metadata": {"name": secret_name, "labels": manifest["metadata"]["labels"]},
            "stringData": secrets,
        }
        _call("create the Secret", core.create_namespaced_secret, namespace, body)
    created = _call("create the Job", batch.create_namespaced_job, namespace, manifest)
    uid = (created or {}).get("metadata", {}).get("uid")
    if secret_name is not None and uid:
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid}
        patch = {"metadata": {"ownerReferences": [owner]}}
        _call("adopt the Secret", core.patch_namespaced_secret, secret_name, namespace, patch)
    data = {"namespace": namespace, "image": image}
    if context:
        data["context"] = str(context)
    if secret_name:
        data["secret"] = secret_name
    return JobRef(NAME, name, data)


def _clients(ref: JobRef) -> tuple[Any, Any]:
    from kubernetes import client

    api = _api(ref.data.get("context"))
    return client.CoreV1Api(api), client.BatchV1Api(api)


def _latest_pod(core: Any, ref: JobRef) -> dict[str, Any] | None:
    if kube_sweep.INDEX in ref.data:
        return kube_sweep.index_pod(_call, core, ref)
    pods = _call(
        "list pods", core.list_namespaced_pod, ref.data["namespace"], label_selector=f"job-name={ref.job_id}"
    )
    # Filtered here as well: not every API server (or emulator) honours label selectors.
    mine = [
        p
        for p in (pods or {}).get("items", [])
        if p.get("metadata", {}).get("labels", {}).get("job-name") == ref.job_id
    ]
    mine.sort(key=lambda p: p.get("metadata", {}).get("creationTimestamp") or "")
    return mine[-1] if mine else None


def submit_many(jobs: Sequence[Job], max_parallel: int) -> list[JobRef]:
    """A sweep as ONE Indexed Job (`completionMode: Indexed`, `parallelism` max_parallel)."""
    return kube_sweep.submit_many(jobs, max_parallel)


def _terminated(pod: dict[str, Any] | None) -> dict[str, Any]:
    for status in (pod or {}).get("status", {}).get("containerStatuses") or []:
        terminated = status.get("state", {}).get("terminated")
        if terminated:
            return terminated  # type: ignore[no-any-return]
    return {}


def _waiting(pod: dict[str, Any] | None) -> str:
    """Why the pod's container is not running yet (ImagePullBackOff: ...), if it says."""
    for status in (pod or {}).get("status", {}).get("containerStatuses") or []:
        waiting = status.get("state", {}).get("waiting") or {}
        if waiting.get("reason"):
            message = waiting.get("message")
            return f"{waiting['reason']}: {message}" if message else str(waiting["reason"])
    return ""


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


def status(ref: JobRef) -> JobState:
    core, batch = _clients(ref)
    job = _call("read the Job", batch.read_namespaced_job_status, ref.job_id, ref.data["namespace"])
    if job is None:
        return JobState("Deleted", RunStatus.KILLED, 143, "the Job was deleted")
    if kube_sweep.INDEX in ref.data:  # one point of a sweep's Indexed Job
        return kube_sweep.index_state(job, int(ref.data[kube_sweep.INDEX]), _latest_pod(core, ref))
    counts = job.get("status", {})
    if _condition(job, "Complete") or _condition(job, "SuccessCriteriaMet") or counts.get("succeeded"):
        return JobState("Complete", RunStatus.FINISHED, 0)
    failed = _condition(job, "Failed")
    if failed is None and not counts.get("failed"):
        word = "Active" if counts.get("active") else "Pending"
        waiting = _waiting(_latest_pod(core, ref))
        return JobState(word, None, None, f"{word} ({waiting})" if waiting else word)
    reason = (failed or {}).get("reason") or "Failed"
    if reason == "DeadlineExceeded":
        return JobState(reason, RunStatus.FAILED, EXIT_TIMEOUT, "the Job exceeded activeDeadlineSeconds")
    terminated = _terminated(_latest_pod(core, ref))
    if terminated.get("reason") == "OOMKilled":
        return JobState("OOMKilled", RunStatus.FAILED, _OOM_EXIT, "the pod ran out of memory (OOMKilled)")
    code = int(terminated.get("exitCode") or 1)
    why = f"command exited with code {code}" if terminated else f"the Job failed ({reason})"
    return JobState(reason, RunStatus.FAILED, code, why)


def logs(ref: JobRef) -> bytes:
    core, _ = _clients(ref)
    pod = _latest_pod(core, ref)
    if pod is None:
        return b""
    name, namespace = pod["metadata"]["name"], ref.data["namespace"]
    try:
        text = _call("read the pod's log", core.read_namespaced_pod_log, name, namespace, raw=True)
    except InfrastructureError:
        return b""  # the container has not started yet
    return bytes(text or b"")


def cancel(ref: JobRef) -> None:
    core, batch = _clients(ref)
    namespace = ref.data["namespace"]
    _call(
        "delete the Job", batch.delete_namespaced_job, ref.job_id, namespace, propagation_policy="Background"
    )
    if "secret" in ref.data:
        _call("delete the Secret", core.delete_namespaced_secret, ref.data["secret"], namespace)
