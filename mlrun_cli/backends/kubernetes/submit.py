"""Submitting to Kubernetes, one path for a single run and a sweep's Indexed Job: the pod's
environment, the image pushed and pinned by digest, the Job rendered from the template with its
private variables (`is_private`) in a Secret, then both created, the Secret owned by the Job."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mlrun_cli.backends.base import Job, JobRef, is_private
from mlrun_cli.backends.kubernetes import api as kube_api
from mlrun_cli.backends.kubernetes import job as kube_job
from mlrun_cli.backends.kubernetes import resources as kube_resources
from mlrun_cli.errors import UsageError
from mlrun_cli.shared.uri_credentials import redact_uri


def push_image(local_tag: str, repository: str) -> str:
    """Tag the built image under `repository`, push it, and return it pinned by digest."""
    from mlrun_cli.shared.docker_engine import DockerError, client

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
    """The variables the pod gets from a run's env patch (a pod has no environment to unset in)."""
    values = {k: v for k, v in env.items() if v is not None}
    # As MLflow does: where the pod reaches the tracking server by another address.
    kube_uri = os.environ.get("KUBE_MLFLOW_TRACKING_URI")
    if kube_uri:
        values["MLFLOW_TRACKING_URI"] = kube_uri
    return values


def pod_env(env: Mapping[str, str | None]) -> dict[str, str]:
    """`pod_values`, with a warning where the pod would record to this machine."""
    values = pod_values(env)
    uri = values.get("MLFLOW_TRACKING_URI", "")
    try:
        host = (urlsplit(uri).hostname or "") if "://" in uri else ""
    except ValueError:  # not a URL the warning can read (`http://[::1`): the pod will say
        host = ""
    if uri.startswith(("file:", "/")) or host in ("localhost", "::1") or host.startswith("127."):
        sys.stderr.write(
            f"mlrun: warning: the pod records to {redact_uri(uri)}, which is on this machine; "
            "set KUBE_MLFLOW_TRACKING_URI to the tracking server's address as the pod sees it\n"
        )
    return values


@dataclass(frozen=True)
class Rendered:
    """A Job ready to create: its manifest (a sweep still shapes its spec) and its Secret."""

    manifest: dict[str, Any]
    secrets: Mapping[str, str]
    secret_name: str | None
    image: str
    context: str | None


def render(job: Job, *, name: str, command: str, env: Mapping[str, str], deadline_s: int | None) -> Rendered:
    """The Job `name` running `command` in `job`'s container, its image pushed; the variables of
    `env` that `is_private` picks go in the Secret `<name>-env`, the rest in the Job's spec."""
    spec = job.container
    if spec is None:
        raise UsageError("the kubernetes backend runs docker_env projects only")
    config = job.config
    template = kube_job.load_template(str(config[kube_job.TEMPLATE_KEY]))
    image = push_image(spec.image, str(config[kube_job.REPOSITORY_KEY]))
    secrets = {k: v for k, v in env.items() if is_private(k, v)}
    secret_name = f"{name}-env" if secrets else None
    manifest = kube_job.render_job(
        template,
        name=name,
        container_name=kube_job.dns_label(job.run_name),
        image=image,
        command=command,
        env=env,
        run_id=job.run_id,
        secret_name=secret_name,
        secret_keys=frozenset(secrets),
        resources=kube_resources.resources(spec),
        deadline_s=deadline_s,
        volumes=kube_resources.host_path_volumes(spec),
    )
    context = config.get(kube_job.CONTEXT_KEY)
    return Rendered(manifest, secrets, secret_name, image, None if context is None else str(context))


def create(rendered: Rendered) -> JobRef:
    """Create the Job, and the Secret it owns; the ref to find it again."""
    manifest, secret_name = rendered.manifest, rendered.secret_name
    name = manifest["metadata"]["name"]
    namespace = manifest["metadata"]["namespace"]
    core, batch = kube_api.clients(rendered.context)
    if secret_name is not None:
        body = {
            "metadata": {"name": secret_name, "labels": manifest["metadata"]["labels"]},
            "stringData": dict(rendered.secrets),
        }
        kube_api.call("create the Secret", core.create_namespaced_secret, namespace, body)
    try:
        created = kube_api.call("create the Job", batch.create_namespaced_job, namespace, manifest)
        uid = (created or {}).get("metadata", {}).get("uid")
        if secret_name is not None and uid:
            owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid}
            patch = {"metadata": {"ownerReferences": [owner]}}
            kube_api.call("adopt the Secret", core.patch_namespaced_secret, secret_name, namespace, patch)
    except BaseException:
        # A submit that raised owns nothing: the Job (which a create that timed out may still have
        # made, under this run's own name) is deleted, and the Secret, with its credentials,
        # would otherwise stay behind unowned.
        with contextlib.suppress(Exception):
            kube_api.call(
                "delete the Job",
                batch.delete_namespaced_job,
                name,
                namespace,
                propagation_policy="Background",
            )
        if secret_name is not None:
            with contextlib.suppress(Exception):
                kube_api.call("delete the Secret", core.delete_namespaced_secret, secret_name, namespace)
        raise
    data = {"namespace": namespace, "image": rendered.image}
    if rendered.context:
        data["context"] = rendered.context
    if secret_name:
        data["secret"] = secret_name
    return JobRef(kube_api.BACKEND, name, data)
