"""The Kubernetes Job manifest: MLflow's job template with the run's name, image, command and
environment filled in. Pure data work; no Kubernetes client here."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlrun_cli.errors import Problem, SpecError, UsageError

TEMPLATE_KEY = "kube-job-template-path"
REPOSITORY_KEY = "repository-uri"
CONTEXT_KEY = "kube-context"
CODE_DIR = "/mlflow/projects/code"
MAX_NAME = 63
RUN_ID_LABEL = "mlrun.io/run-id"
# bash when the image has it, sh otherwise; the command arrives as $0, untouched by any shell.
SHELL = 'if command -v bash >/dev/null 2>&1; then exec bash -c "$0"; else exec sh -c "$0"; fi'


def dns_label(text: str, *, limit: int = MAX_NAME) -> str:
    """A DNS-1123 label: lower-case letters, digits and '-', starting and ending alphanumeric."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    label = re.sub(r"-{2,}", "-", label)[:limit].strip("-")
    return label or "mlrun"


def job_name(project_name: str, run_id: str) -> str:
    suffix = run_id[:12]
    return f"{dns_label(project_name, limit=MAX_NAME - len(suffix) - 1)}-{suffix}"


def load_template(path_text: str) -> dict[str, Any]:
    from mlrun_cli.documents.yamlfile import load_yaml

    path = Path(path_text).expanduser().absolute()
    if not path.is_file():
        raise UsageError(f"backend config: {TEMPLATE_KEY}: no such file: {path}")
    doc = load_yaml(path)
    if doc.problems:
        raise SpecError(doc.problems, subject="Kubernetes job template")
    data = doc.data
    problems = []
    if not isinstance(data, dict):
        problems.append(Problem(str(path), 1, "", "expected a Job manifest (a mapping)"))
    else:
        if data.get("kind", "Job") != "Job":
            problems.append(Problem(str(path), doc.line_of(("kind",)), "kind", "must be Job"))
        containers = data.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
        if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
            where = ("spec", "template", "spec", "containers")
            problems.append(
                Problem(str(path), doc.line_of(where), ".".join(where), "needs at least one container")
            )
    if problems:
        raise SpecError(problems, subject="Kubernetes job template")
    return data  # type: ignore[no-any-return]


def _env_entries(
    existing: list[Any], env: Mapping[str, str], secret_name: str | None, secret_keys: set[str]
) -> list[dict[str, Any]]:
    # MLflow's sample template holds a placeholder string here; only real entries are kept.
    kept = [e for e in existing if isinstance(e, dict) and e.get("name") not in env]
    ours: list[dict[str, Any]] = []
    for name, value in sorted(env.items()):
        if name in secret_keys and secret_name is not None:
            ours.append({"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": name}}})
        else:
            ours.append({"name": name, "value": value})
    return [*kept, *ours]


def render_job(
    template: Mapping[str, Any],
    *,
    name: str,
    container_name: str,
    image: str,
    command: str,
    env: Mapping[str, str],
    run_id: str,
    secret_name: str | None = None,
    secret_keys: frozenset[str] = frozenset(),
    resources: Mapping[str, Any] | None = None,
    volumes: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], []),
    deadline_s: int | None = None,
) -> dict[str, Any]:
    """The Job to create; the template itself is left as it is."""
    job: dict[str, Any] = copy.deepcopy(dict(template))
    job["apiVersion"] = job.get("apiVersion", "batch/v1")
    job["kind"] = "Job"
    metadata = job.setdefault("metadata", {})
    metadata["name"] = name
    metadata.setdefault("namespace", "default")
    labels = metadata.setdefault("labels", {})
    labels.update({"app.kubernetes.io/managed-by": "mlrun", RUN_ID_LABEL: run_id})
    spec = job.setdefault("spec", {})
    # One attempt per run unless the template asks for retries: a retried run would log twice.
    spec.setdefault("backoffLimit", 0)
    if deadline_s is not None:  # mlrun's --timeout; DeadlineExceeded then maps to 124
        spec["activeDeadlineSeconds"] = deadline_s
    pod = spec.setdefault("template", {})
    pod.setdefault("metadata", {}).setdefault("labels", {}).update({RUN_ID_LABEL: run_id})
    pod_spec = pod.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    container = pod_spec["containers"][0]
    container["name"] = container_name
    container["image"] = image
    container["command"] = ["sh", "-c", SHELL, command]
    container.pop("args", None)
    container.setdefault("workingDir", CODE_DIR)
    container["env"] = _env_entries(container.get("env") or [], env, secret_name, set(secret_keys))
    if resources:
        for kind, values in resources.items():
            container.setdefault("resources", {}).setdefault(kind, {}).update(values)
    pod_volumes, mounts = volumes
    if pod_volumes:
        pod_spec["volumes"] = [*(pod_spec.get("volumes") or []), *pod_volumes]
        container["volumeMounts"] = [*(container.get("volumeMounts") or []), *mounts]
    return job
