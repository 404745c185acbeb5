"""What of a container job Kubernetes can express, and the refusal of what it cannot.

`-A cpus=2` and `-A memory=1g` become the container's resource requests and limits, gpus an
`nvidia.com/gpu` limit, `-A env=K=V` (and docker_env.environment) the container's env; volumes
become hostPath volumes only when the backend config says so (`"volumes": "hostPath"`), since a
node's folders are not this machine's. Anything else is refused, naming the option, before a
run exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mlrun_cli.errors import UsageError
from mlrun_cli.shared.types import ContainerSpec

VOLUMES_KEY = "volumes"
_CPU = ("cpus",)
_MEMORY = ("memory", "m")
_ENV = ("e", "env")
_DOCKER_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([bkmg]?)b?$", re.IGNORECASE)
_UNITS = {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi"}


def _name_value(arg: str) -> tuple[str, str]:
    name, _, value = arg.partition("=")
    return name.strip().lstrip("-"), value


def _memory(value: str) -> str:
    match = _DOCKER_MEMORY.match(value.strip())
    if match is None:
        raise UsageError(f"-A memory={value}: not a docker memory size (such as 512m or 2g)")
    number, unit = match.groups()
    return f"{number}{_UNITS[unit.lower()]}"


def resources(spec: ContainerSpec) -> dict[str, Any]:
    """The container's `resources`, from -A cpus/memory and gpus (limits equal requests)."""
    limits: dict[str, str] = {}
    for arg in spec.run_args:
        name, value = _name_value(arg)
        if name in _CPU:
            limits["cpu"] = value
        elif name in _MEMORY:
            limits["memory"] = _memory(value)
    if spec.gpus is not None:
        limits["nvidia.com/gpu"] = spec.gpus
    requests = {k: v for k, v in limits.items() if k != "nvidia.com/gpu"}
    return {"limits": limits, **({"requests": requests} if requests else {})} if limits else {}


def host_path_volumes(spec: ContainerSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(pod volumes, container volumeMounts) for `HOST:CONTAINER[:ro]` volume strings."""
    volumes, mounts = [], []
    for index, text in enumerate(spec.volumes):
        host, _, rest = text.partition(":")
        target, _, mode = rest.partition(":")
        name = f"mlrun-volume-{index}"
        volumes.append({"name": name, "hostPath": {"path": host}})
        mounts.append({"name": name, "mountPath": target or host, "readOnly": mode == "ro"})
    return volumes, mounts


def check_container(spec: ContainerSpec, config: Mapping[str, Any]) -> None:
    refused = []
    for arg in spec.run_args:
        name, value = _name_value(arg)
        if name in _MEMORY:
            _memory(value)
        elif name not in (*_CPU, *_ENV, "gpus", "v", "volume"):
            refused.append(f"-A {arg}")
    if spec.gpus is not None and not spec.gpus.isdigit():
        refused.append(f"gpus {spec.gpus!r} (Kubernetes needs a number of GPUs)")
    if spec.volumes and config.get(VOLUMES_KEY) != "hostPath":
        raise UsageError(
            f"the kubernetes backend cannot mount {', '.join(spec.volumes)}: a pod does not see "
            "this machine's folders",
            hint='mount them from the node with --backend-config {"volumes": "hostPath", ...}, '
            "or declare the volumes in the job template",
        )
    if refused:
        raise UsageError(
            f"the kubernetes backend cannot honour {', '.join(refused)}",
            hint="it maps -A cpus, -A memory, -A env, gpus and volumes; say the rest in the job template",
        )
