"""A real one-node Slurm cluster for the slurm tier, started by .ci/slurm-up (idempotent)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests import tiers
from tests.conftest import REPO

SLURM_DIR = Path(os.environ.get("MLRUN_SLURM_DIR", "/tmp/mlrun-slurm"))


@pytest.fixture(scope="session")
def slurm_bin() -> Path:
    """The folder of Slurm client wrappers (they enter the cluster's network namespace)."""
    tiers.require("slurm")
    proc = subprocess.run(
        ["bash", str(REPO / ".ci" / "slurm-up")], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f".ci/slurm-up could not start Slurm:\n{proc.stdout}\n{proc.stderr}")
    return SLURM_DIR / "bin"


@pytest.fixture(scope="session")
def slurm_env(slurm_bin: Path) -> dict[str, str]:
    """What a user on a login node has: Slurm's clients first on PATH."""
    return {"PATH": f"{slurm_bin}{os.pathsep}{os.environ['PATH']}"}


def scontrol_state(slurm_bin: Path, job_id: str) -> str:
    out = subprocess.run(
        [str(slurm_bin / "scontrol"), "show", "job", "-o", job_id], capture_output=True, text=True, check=True
    ).stdout
    return out.split("JobState=", 1)[1].split()[0]
