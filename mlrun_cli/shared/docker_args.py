"""`-A/--docker-args name[=value]`: docker run options, mapped to the Docker SDK's arguments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlrun_cli.errors import UsageError

_FLAGS = {"privileged": "privileged", "init": "init", "read-only": "read_only", "tty": "tty", "t": "tty"}
_SCALARS = {
    "network": "network_mode",
    "net": "network_mode",
    "memory": "mem_limit",
    "m": "mem_limit",
    "shm-size": "shm_size",
    "name": "name",
    "user": "user",
    "u": "user",
    "workdir": "working_dir",
    "w": "working_dir",
    "hostname": "hostname",
    "h": "hostname",
    "ipc": "ipc_mode",
    "pid": "pid_mode",
    "platform": "platform",
    "runtime": "runtime",
    "memory-swap": "memswap_limit",
    "pids-limit": "pids_limit",
    "stop-signal": "stop_signal",
}
_LISTS = {
    "cap-add": "cap_add",
    "cap-drop": "cap_drop",
    "device": "devices",
    "dns": "dns",
    "group-add": "group_add",
    "security-opt": "security_opt",
}


def gpu_request_count(value: str) -> int:
    """How many GPUs `--gpus VALUE` asks for; -1 is all of them."""
    return -1 if value in ("all", "") else int(value)


def gpu_request(value: str) -> Any:
    import docker.types

    return docker.types.DeviceRequest(count=gpu_request_count(value), capabilities=[["gpu"]])


@dataclass(frozen=True)
class DockerArgs:
    options: dict[str, Any]
    """Docker SDK arguments of `containers.create`."""
    volumes: list[str]
    environment: dict[str, str]
    gpus: str | None


def parse_docker_args(args: Sequence[str]) -> DockerArgs:
    """Repeated -A name[=value], checked and mapped; gpus are kept apart (a device request needs
    the Docker SDK, imported only when a container really starts)."""
    options: dict[str, Any] = {}
    volumes: list[str] = []
    environment: dict[str, str] = {}
    gpus: str | None = None
    problems = []
    for arg in args:
        name, has_value, value = arg.partition("=")
        name = name.strip().lstrip("-")
        try:
            if name in ("v", "volume"):
                volumes.append(value)
            elif name in ("e", "env"):
                key, _, val = value.partition("=")
                environment[key] = val
            elif name in _FLAGS and not has_value:
                options[_FLAGS[name]] = True
            elif name in _SCALARS and has_value:
                options[_SCALARS[name]] = int(value) if name == "pids-limit" else value
            elif name in _LISTS and has_value:
                options.setdefault(_LISTS[name], []).append(value)
            elif name == "cpus" and has_value:
                options["nano_cpus"] = int(float(value) * 1e9)
            elif name == "gpus":
                gpu_request_count(value)  # checked now, requested when the container starts
                gpus = value
            elif name in ("l", "label") and has_value:
                key, _, val = value.partition("=")
                options.setdefault("labels", {})[key] = val
            elif name == "add-host" and has_value:
                host, _, address = value.partition(":")
                options.setdefault("extra_hosts", {})[host] = address
            else:
                problems.append(f"-A {arg}: not a supported docker run option (or it needs a value)")
        except (ValueError, OverflowError):
            problems.append(f"-A {arg}: the value is not a (finite) number")
    if problems:
        supported = sorted(
            {"v", "volume", "e", "env", "cpus", "gpus", "label", "add-host", *_FLAGS, *_SCALARS, *_LISTS}
        )
        raise UsageError(
            "invalid --docker-args:\n  " + "\n  ".join(problems), hint=f"supported: {', '.join(supported)}"
        )
    return DockerArgs(options, volumes, environment, gpus)
