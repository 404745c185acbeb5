"""Test tiers: each service a test starts or uses carries a marker, so a marker expression selects
the tests that need no service (the fast tier, README "Development").

Every helper that starts or reaches a service calls `require(MARKER)`: a test that uses the service
without carrying the marker fails at once, saying which marker to add, so the fast tier cannot
quietly grow a test that needs Docker, Slurm, Ray, the Kubernetes emulator or an MLflow server.
"""

from __future__ import annotations

import pytest

SERVICE_MARKERS = ("mlflow", "docker", "slurm", "ray", "kubernetes")
FAST_TIER = "fast"
"""The fast tier's marker: given to every test that needs none of the services (`mark_fast`)."""


def mark_fast(items: list[pytest.Item]) -> None:
    """Give the `fast` marker to every collected test that carries no service marker and is not
    the long fuzz slice, so `pytest -m fast` selects them."""
    for item in items:
        names = {mark.name for mark in item.iter_markers()}
        if not names & {*SERVICE_MARKERS, "fuzz"}:
            item.add_marker(pytest.mark.fast)


# Fixtures that hold a service for the whole session: `require` runs once, in the first test
# that asks for them, so every later test that asks is checked by name here.
FIXTURE_MARKERS = {
    "mlflow_python": "mlflow",
    "busybox": "docker",
    "slurm_bin": "slurm",
    "slurm_env": "slurm",
    "ray_python": "ray",
    "ray_head": "ray",
}

_current: set[str] = set()


def enter(item: pytest.Item) -> None:
    """Called as each test's setup starts (tests/conftest.py): the markers it carries."""
    _current.clear()
    _current.update(mark.name for mark in item.iter_markers())
    for fixture in getattr(item, "fixturenames", ()):
        marker = FIXTURE_MARKERS.get(fixture)
        if marker is not None:
            require(marker)


def require(marker: str) -> None:
    if marker not in SERVICE_MARKERS:
        raise ValueError(marker)
    if marker not in _current:
        pytest.fail(
            f"this test uses what the '{marker}' marker stands for but is not marked with it: add "
            f"pytest.mark.{marker}, so the fast tier (-m {FAST_TIER}) leaves it out",
            pytrace=False,
        )
