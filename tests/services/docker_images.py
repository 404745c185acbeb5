"""Test images built locally (nothing can be pulled here), and docker_env projects that use them."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import tiers

Factory = Callable[[dict[str, str]], Path]
BUSYBOX = "mlrun-test/busybox:1"


@pytest.fixture(scope="session")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A FROM-scratch image holding a static busybox (Debian's busybox-static), built once."""
    import docker

    tiers.require("docker")
    engine = docker.from_env()
    engine.ping()  # no engine is a failure here, not a skip: CI starts one
    source = shutil.which("busybox") or "/bin/busybox"
    context = tmp_path_factory.mktemp("busybox")
    shutil.copy(source, context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    )
    engine.images.build(path=str(context), tag=BUSYBOX, rm=True)
    return BUSYBOX


def docker_project(
    factory: Factory, command: str, extra: str = "", files: dict[str, str] | None = None
) -> Path:
    return factory(
        {
            # A new name each time: images outlive the test, and their tags start with the name.
            "MLproject": f"name: dk-{uuid.uuid4().hex[:8]}\ndocker_env:\n  image: {BUSYBOX}\n{extra}"
            "entry_points:\n  main:\n"
            f"    parameters: {{text: {{default: x}}}}\n    command: {json.dumps(command)}\n",
            **(files or {}),
        }
    )


def containers_labelled(label: str) -> list[str]:
    """Ids of the containers (running or not) with this `key=value` label."""
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()
