"""A package index or conda channel that does not answer is infrastructure, exit 75 (issue 24,
item 1); one that answers "no such package" is the input, exit 2. Real faults: a closed port on
127.0.0.1, and a listener that accepts and never answers. An image registry: tests/backends/
test_docker.py."""

from __future__ import annotations

import functools
import http.server
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.envs.conda_channel import build_test_channel
from tests.faults.hung import hung_server
from tests.services.git_daemon import free_port
from tests.serving import serving

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
ABSENT = "mlrun-test-absent-pkg==1.0"
RETRY_LATER = "retry later"


@contextmanager
def answering_server(root: Path) -> Iterator[str]:
    """A static HTTP server over `root` (an index or channel that answers, 404 included)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url


def closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


def python_project(factory: Factory) -> Path:
    return factory(
        {
            "MLproject": "python_env: python_env.yaml\nentry_points: {main: {command: 'true'}}\n",
            "python_env.yaml": f"dependencies: ['{ABSENT}']\n",
        }
    )


def conda_project(factory: Factory, channel: str, spec: str = "python") -> Path:
    return factory(
        {
            "MLproject": "conda_env: conda.yaml\nentry_points: {main: {command: 'true'}}\n",
            "conda.yaml": f"channels: ['{channel}']\ndependencies: [{spec}]\n",
        }
    )


def run(mlrun: Mlrun, project: Path, manager: str, env: dict[str, str], code: int) -> Result:
    result = mlrun("run", str(project), "--env-manager", manager, env=env, timeout=300)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "unexpected internal error" not in result.stderr
    assert (RETRY_LATER in result.stderr) == (code == 75), result.stderr
    return result


@pytest.mark.parametrize("manager, variable", [("uv", "UV_INDEX_URL"), ("virtualenv", "PIP_INDEX_URL")])
def test_a_closed_package_index_is_75_and_a_missing_package_2(
    manager: str, variable: str, mlrun: Mlrun, project_factory: Factory, isolated: Path, tmp_path: Path
) -> None:
    project = python_project(project_factory)
    result = run(mlrun, project, manager, {variable: f"{closed_port()}/simple"}, 75)
    assert "Connection refused" in result.stderr  # the installer's own words, in the log's tail
    (tmp_path / "index" / "simple").mkdir(parents=True)
    with answering_server(tmp_path / "index") as url:  # it answers: 404 for the package
        run(mlrun, project, manager, {variable: f"{url}/simple"}, 2)
    assert not (isolated / "mlruns").exists()  # no run for a failed build


def test_a_package_index_that_never_answers_is_75(mlrun: Mlrun, project_factory: Factory) -> None:
    # uv's own defaults (30 s a read, 3 retries) make a user wait 126 s here; the test sets the
    # user's own knob, UV_HTTP_TIMEOUT, as a user in a hurry would: mlrun never changes it.
    with hung_server() as url:
        started = time.monotonic()
        result = run(mlrun, python_project(project_factory), "uv", {"UV_INDEX_URL": f"{url}/simple",
                     "UV_HTTP_TIMEOUT": "2"}, 75)  # fmt: skip
    assert "timed out" in result.stderr
    assert time.monotonic() - started < 60


@pytest.fixture(scope="module")
def served_channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    channel = build_test_channel(tmp_path_factory.mktemp("conda") / "channel")
    with answering_server(channel) as url:
        yield url


def test_a_conda_channel_that_is_closed_or_never_answers_is_75(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    result = run(mlrun, conda_project(project_factory, f"{closed_port()}/chan"), "conda", {}, 75)
    assert "did not answer" in result.stderr and "refused" in result.stderr
    with hung_server() as url:  # rattler alone waits without end (seen: > 10 min)
        started = time.monotonic()
        result = run(mlrun, conda_project(project_factory, f"{url}/chan"), "conda", {}, 75)
        waited = time.monotonic() - started
    assert "did not answer" in result.stderr and "timed out" in result.stderr
    assert 5 < waited < 30  # mlrun's call budget (MLRUN_CALL_TIMEOUT, 10 s by default)
    assert not (isolated / "mlruns").exists()


def test_a_conda_channel_that_answers_without_the_package_is_2(
    mlrun: Mlrun, project_factory: Factory, served_channel: str
) -> None:
    result = run(
        mlrun, conda_project(project_factory, served_channel, "mlrun-no-such-package"), "conda", {}, 2
    )
    assert "cannot solve conda.yaml" in result.stderr
