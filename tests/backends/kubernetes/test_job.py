"""The Kubernetes Job manifest and resource mapping: pure functions, no cluster needed."""

from __future__ import annotations

import pytest

from mlrun_cli.backends.kubernetes import job as kube_job
from mlrun_cli.backends.kubernetes import resources as kube_resources
from mlrun_cli.envs.base import ContainerSpec
from mlrun_cli.errors import UsageError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("My_Project v2!", "my-project-v2"),
        ("---", "mlrun"),
        ("a" * 80, "a" * 63),
    ],
)
def test_dns_labels(raw: str, expected: str) -> None:
    assert kube_job.dns_label(raw) == expected


def test_job_names_fit_and_keep_the_run_id() -> None:
    name = kube_job.job_name("Very_Long Run Name " * 5, "0123456789abcdef" * 2)
    assert len(name) <= 63 and name.endswith("-0123456789ab") and name == kube_job.dns_label(name)


def test_resources_map_docker_units_and_gpus() -> None:
    spec = ContainerSpec("img", run_args=("cpus=0.5", "m=512m"), gpus="2")
    assert kube_resources.resources(spec) == {
        "limits": {"cpu": "0.5", "memory": "512Mi", "nvidia.com/gpu": "2"},
        "requests": {"cpu": "0.5", "memory": "512Mi"},
    }
    assert kube_resources.resources(ContainerSpec("img")) == {}


@pytest.mark.parametrize(
    ("spec", "config", "message"),
    [
        (ContainerSpec("img", run_args=("network=host",)), {}, "cannot honour -A network=host"),
        (ContainerSpec("img", gpus="all"), {}, "Kubernetes needs a number of GPUs"),
        (ContainerSpec("img", volumes=("/a:/b",)), {}, "cannot mount /a:/b"),
        (ContainerSpec("img", run_args=("memory=lots",)), {}, "not a docker memory size"),
    ],
)
def test_what_kubernetes_cannot_express_is_refused(
    spec: ContainerSpec, config: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        kube_resources.check_container(spec, config)


def test_volumes_become_host_paths_when_the_config_says_so() -> None:
    spec = ContainerSpec("img", volumes=("/data:/in:ro",), keep=True)
    kube_resources.check_container(spec, {"volumes": "hostPath"})  # keep: Jobs and pods are kept anyway
    volumes, mounts = kube_resources.host_path_volumes(spec)
    assert volumes == [{"name": "mlrun-volume-0", "hostPath": {"path": "/data"}}]
    assert mounts == [{"name": "mlrun-volume-0", "mountPath": "/in", "readOnly": True}]
