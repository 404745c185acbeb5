"""Following a Ray job's log reads each byte once (one log stream per job), not the whole log at
every poll: the bytes the dashboard sends back go through a counting proxy."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.backends import steady
from tests.backends.ray.cluster import RayHead
from tests.backends.ray.test_backend import RUN, Factory, Mlrun, _console, on_ray, ray_head, ray_python  # noqa: F401
from tests.faults.byte_proxy import byte_proxy

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_a_steady_jobs_log_is_read_once_not_at_every_poll(
    on_ray: Mlrun,  # noqa: F811 (the fixture, imported)
    ray_head: RayHead,  # noqa: F811
    project_factory: Factory,
    isolated: Path,
) -> None:
    project = project_factory(
        {
            "MLproject": "name: steady\nentry_points:\n  main:\n    command: bash steady.sh\n",
            "steady.sh": steady.SCRIPT,
        }
    )
    head = urlsplit(ray_head.address)
    with byte_proxy(head.hostname or "127.0.0.1", head.port or 8265) as proxy:
        address = f"http://127.0.0.1:{proxy.port}"
        result = on_ray(RUN[0], str(project), *RUN[1:], "--json", env={"RAY_ADDRESS": address})
        moved = proxy.received
    assert result.returncode == 0, result.stderr
    steady.assert_incremental(moved, _console(isolated, json.loads(result.stdout)["run_id"]))


def test_a_sweeps_points_are_asked_about_in_one_list_per_poll(
    on_ray: Mlrun,  # noqa: F811 (the fixture, imported)
    ray_head: RayHead,  # noqa: F811
    project_factory: Factory,
    isolated: Path,
) -> None:
    """The watcher's poll is one `list_jobs` for every point running, not one call per point."""
    mlproject = "entry_points:\n  main:\n    parameters: {a: {type: int}}\n    command: 'sleep 3'\n"
    project = project_factory({"MLproject": mlproject})
    head = urlsplit(ray_head.address)
    with byte_proxy(head.hostname or "127.0.0.1", head.port or 8265) as proxy:
        address = f"http://127.0.0.1:{proxy.port}"
        sweep = ("-S", "a=1,2,3,4", "--max-parallel", "4", "--json")
        result = on_ray(RUN[0], str(project), *RUN[1:], *sweep, env={"RAY_ADDRESS": address}, timeout=300)
        requests = list(proxy.requests)
    assert result.returncode == 0, result.stderr
    lists = requests.count("GET /api/jobs/ HTTP/1.1")
    per_job = [r for r in requests if r.startswith("GET /api/jobs/mlrun-") and "/logs" not in r]
    assert lists >= 3, requests  # the points ran ~3 s: several polls, each one list
    assert len(per_job) <= 4, per_job  # no per-point status calls beyond the last point alone
