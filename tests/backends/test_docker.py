"""Projects in containers, against a real Docker engine (.ci/run installs and starts one, with no
bridge network). Images are built locally from a static busybox; nothing is pulled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore
from tests.conftest import MLRUN, Result
from tests.services.docker_images import BUSYBOX, containers_labelled, docker_project
from tests.services.mlflow_env import read_run

pytestmark = pytest.mark.docker
Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]


def _label() -> tuple[str, str]:
    value = uuid.uuid4().hex
    return f"label=mlrun-test={value}", value


def _containers(value: str) -> list[str]:
    return containers_labelled(f"mlrun-test={value}")


def _record(work: Path, result: Result):  # type: ignore[no-untyped-def]
    return FileStore(work / "mlruns").get_run(json.loads(result.stdout)["run_id"])


def test_command_runs_in_the_container_with_env_params_and_tags(
    busybox: str, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = docker_project(
        project_factory,
        "echo $COPIED $DEFINED {text}; id -u; pwd; cat data.txt; exit 3",
        "  environment: [COPIED, [DEFINED, defined-value]]\n",
        {"data.txt": "mounted data\n"},
    )
    label, value = _label()
    result = mlrun(
        "run",
        str(project),
        "-P",
        "text=$(touch /tmp/owned) a b",
        "--json",
        "-A",
        label,
        env={"COPIED": "from-host"},
    )
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert "from-host defined-value $(touch /tmp/owned) a b" in lines
    assert str(os.getuid()) in lines and "/mlflow/projects/code" in lines and "mounted data" in lines
    run = _record(isolated, result)
    assert run.status is RunStatus.FAILED and run.tags["mlrun.exit_code"] == "3"
    assert run.tags["mlflow.project.env"] == "docker"
    assert run.tags["mlflow.docker.image.uri"] == BUSYBOX
    assert run.tags["mlflow.docker.image.id"].startswith("sha256:")
    console = Path(run.artifact_uri.removeprefix("file://")) / "mlrun" / "console.log"
    assert "mounted data" in console.read_text()
    assert _containers(value) == []  # removed


def test_the_child_writes_into_the_mounted_tracking_store(
    busybox: str, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    # What mlflow.log_metric does in a file store, done with busybox's sh.
    command = (
        "d=${{MLFLOW_TRACKING_URI#file://}}/$MLFLOW_EXPERIMENT_ID/$MLFLOW_RUN_ID; "
        'echo "1700000000000 0.25 0" > $d/metrics/loss'
    )
    result = mlrun("run", str(docker_project(project_factory, command)), "--json")
    assert result.returncode == 0, result.stderr
    assert _record(isolated, result).metrics == {"loss": 0.25}


def test_code_is_mounted_so_edits_need_no_rebuild(
    busybox: str, mlrun: Mlrun, project_factory: Factory
) -> None:
    project = docker_project(project_factory, "cat data.txt", files={"data.txt": "one\n"})
    assert mlrun("run", str(project)).stdout == "one\n"
    (project / "data.txt").write_text("two\n")
    again = mlrun("run", str(project))
    assert again.stdout == "two\n" and "building" not in again.stderr


def test_build_image_bakes_the_code_once_and_honours_dockerignore(
    busybox: str, mlrun: Mlrun, project_factory: Factory
) -> None:
    project = docker_project(
        project_factory,
        "cat data.txt; ls -a",
        files={
            "data.txt": "baked\n",
            "secret.txt": "x\n",
            ".dockerignore": "secret.txt\n",
            "mlruns/0/meta.yaml": "x\n",
        },
    )
    first = mlrun("run", str(project), "--build-image")
    assert first.returncode == 0, first.stderr
    assert "building code image mlrun-code/dk-" in first.stderr
    listing = first.stdout.split()
    assert listing[0] == "baked" and "data.txt" in listing
    assert "secret.txt" not in listing and "mlruns" not in listing
    second = mlrun("run", str(project), "--build-image")
    assert second.stdout == first.stdout and "building" not in second.stderr
    (project / "data.txt").write_text("changed\n")
    third = mlrun("run", str(project), "--build-image")
    assert third.stdout.split()[0] == "changed" and "building code image" in third.stderr


def test_dockerfile_base_is_built_only_when_it_changes(
    busybox: str, mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory(
        {
            "MLproject": f"docker_env:\n  image: mlrun-test/base-{uuid.uuid4().hex[:8]}\n"
            "  dockerfile: base.Dockerfile\n"
            "entry_points:\n  main:\n    command: cat /built.txt\n",
            "base.Dockerfile": f"FROM {BUSYBOX}\nRUN echo v1 > /built.txt\n",
        }
    )
    first = mlrun("run", str(project))
    assert first.stdout == "v1\n" and "building base image" in first.stderr
    second = mlrun("run", str(project))
    assert second.stdout == "v1\n" and "building" not in second.stderr
    (project / "base.Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo v2 > /built.txt\n")
    third = mlrun("run", str(project))
    assert third.stdout == "v2\n", third.stderr
    (project / "base.Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo broken-step && false\n")
    failed = mlrun("run", str(project))
    assert failed.returncode == 2
    assert "building base image failed" in failed.stderr and "broken-step" in failed.stderr
    from tests.services.git_daemon import free_port

    (project / "base.Dockerfile").write_text(f"FROM 127.0.0.1:{free_port()}/mlrun-test/gone:1\n")
    unreachable = mlrun("run", str(project))  # the base's registry does not answer: worth a retry
    assert unreachable.returncode == 75 and "connection refused" in unreachable.stderr, unreachable.stderr
    assert len(FileStore(isolated / "mlruns").search_runs(None, 10)) == 3  # none for the failures


def test_volumes_from_the_project_and_from_docker_args(
    busybox: str, mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("A\n")
    (b / "f").write_text("B\n")
    project = docker_project(project_factory, "cat /a/f /b/f", f"  volumes: ['{a}:/a']\n")
    result = mlrun("run", str(project), "-A", f"v={b}:/b:ro", "-A", "e=X=1", "-A", "cpus=0.5")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "A\nB\n"


def test_sigterm_stops_the_container_and_records_killed(
    busybox: str, project_factory: Factory, isolated: Path
) -> None:
    project = docker_project(project_factory, "echo ready; sleep 300")
    label, value = _label()
    with subprocess.Popen(
        [*MLRUN, "run", str(project), "-A", label],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=isolated,
        env={**os.environ, "MLRUN_KILL_GRACE_SECONDS": "2"},
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    [run] = FileStore(isolated / "mlruns").search_runs(None, 5)
    assert run.status is RunStatus.KILLED
    assert _containers(value) == []


def test_keep_container(busybox: str, mlrun: Mlrun, project_factory: Factory) -> None:
    label, value = _label()
    result = mlrun("run", str(docker_project(project_factory, "true")), "--keep-container", "-A", label)
    assert result.returncode == 0
    kept = _containers(value)
    assert len(kept) == 1
    subprocess.run(["docker", "rm", "-f", *kept], check=True, capture_output=True)


@pytest.mark.parametrize(
    ("extra", "args", "env", "message", "code"),
    [
        ("  environment: [NOT_SET_ANYWHERE]\n", [], {}, "copies NOT_SET_ANYWHERE from this machine", 2),
        ("", ["-A", "bogus"], {}, "-A bogus: not a supported docker run option", 2),
        (
            "",
            [],
            {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
            "no Docker engine reachable at unix:///nonexistent/docker.sock",
            75,  # infrastructure, not the project's fault
        ),
    ],
)
def test_errors_before_any_run_exists(
    extra: str,
    args: list[str],
    env: dict[str, str],
    message: str,
    code: int,
    busybox: str,
    mlrun: Mlrun,
    project_factory: Factory,
    isolated: Path,
) -> None:
    result = mlrun("run", str(docker_project(project_factory, "true", extra)), *args, env=env)
    assert result.returncode == code and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (isolated / "mlruns").exists()


def test_an_image_a_registry_does_not_have_is_bad_input_and_one_that_does_not_answer_is_75(
    mlrun: Mlrun, project_factory: Factory, isolated: Path, tmp_path: Path
) -> None:
    """Issue 24 item 1: a registry that answered "no such image" is the input (2); a registry that
    did not answer (a closed port: Docker's engine says "connection refused") is worth a retry (75)."""
    from tests.backends.kubernetes.cluster import registry
    from tests.services.git_daemon import free_port

    cases = [(f"127.0.0.1:{free_port()}/mlrun-test/any:1", 75, "connection refused")]
    (tmp_path / "registry").mkdir()
    with registry(tmp_path / "registry") as host:
        cases.append((f"{host}/mlrun-test/does-not-exist:1", 2, "not found"))
        for image, code, says in sorted(cases, key=lambda case: case[1]):
            project = project_factory(
                {
                    "MLproject": f"docker_env: {{image: '{image}'}}\n"
                    "entry_points: {main: {command: 'true'}}\n"
                }
            )
            started = time.monotonic()
            result = mlrun("run", str(project))
            assert result.returncode == code, result.stderr
            assert f"image '{image}' is not available locally and could not be pulled" in result.stderr
            assert says in result.stderr.lower() and "Traceback" not in result.stderr
            assert time.monotonic() - started < 60
    assert not (isolated / "mlruns").exists()


DEBIAN_PYTHON = "mlrun-test/debian-python:1"


@pytest.fixture(scope="session")
def debian_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Debian bookworm image with python3, made from Debian's packages by mmdebstrap (the
    package registry, not a container registry) and imported; built once per machine."""
    import docker

    engine = docker.from_env()
    try:
        engine.images.get(DEBIAN_PYTHON)
        return DEBIAN_PYTHON
    except docker.errors.ImageNotFound:
        pass
    tarball = tmp_path_factory.mktemp("debian") / "rootfs.tar"
    subprocess.run(
        [
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            "--include=python3",
            "bookworm",
            str(tarball),
            "http://deb.debian.org/debian",
        ],
        check=True,
        timeout=600,
    )
    subprocess.run(
        ["docker", "import", str(tarball), DEBIAN_PYTHON], check=True, capture_output=True, timeout=300
    )
    return DEBIAN_PYTHON


@pytest.mark.mlflow
def test_sklearn_example_in_a_python_container_logs_into_the_run(
    debian_python: str,
    mlflow_python: Path,
    mlrun: Mlrun,
    example: Callable[[str], Path],
    isolated: Path,
) -> None:
    # MLflow and scikit-learn come from the side venv, mounted read-only at the same path:
    # no image can download them here.
    site = next((mlflow_python.parent.parent / "lib").glob("python3.*/site-packages"))
    project = example("sklearn_linear")
    (project / "MLproject").write_text(
        f"name: sklearn_docker\ndocker_env:\n  image: {debian_python}\n"
        f"  volumes: ['{mlflow_python.parent.parent}:{mlflow_python.parent.parent}:ro']\n"
        f"  environment: [[PYTHONPATH, '{site}'], [MLFLOW_DISABLE_TELEMETRY, 'true'], [HOME, /tmp]]\n"
        "entry_points:\n  main:\n    parameters: {alpha: {type: float, default: 0.5}}\n"
        "    command: 'echo shell=${{BASH_VERSION:+bash}}; python3 train.py {alpha}'\n"
    )
    result = mlrun("run", str(project), "-P", "alpha=0.3", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "shell=bash" in result.stderr and "alpha=0.3 mse=" in result.stderr
    data = read_run(mlflow_python, (isolated / "mlruns").as_uri(), json.loads(result.stdout)["run_id"])
    assert data["status"] == "FINISHED"
    assert data["params"] == {"alpha": "0.3"}
    assert data["metrics"]["mse"] > 1000
    assert data["tags"]["mlflow.project.env"] == "docker"


def test_docker_args_map_to_the_sdk_and_gpus_to_a_device_request() -> None:
    from mlrun_cli.shared.docker_args import gpu_request, parse_docker_args

    parsed = parse_docker_args(
        [
            "v=/a:/a",
            "volume=/b:/b",
            "e=K=V",
            "cpus=1.5",
            "privileged",
            "network=host",
            "gpus=all",
            "label=k=v",
            "cap-add=SYS_PTRACE",
            "memory=1g",
        ]
    )
    options = parsed.options
    assert parsed.volumes == ["/a:/a", "/b:/b"] and parsed.environment == {"K": "V"}
    assert options["nano_cpus"] == 1_500_000_000 and options["privileged"] is True
    assert options["network_mode"] == "host" and options["mem_limit"] == "1g"
    assert options["labels"] == {"k": "v"} and options["cap_add"] == ["SYS_PTRACE"]
    # Kept apart (a backend maps or refuses gpus), requested when the container starts.
    assert parsed.gpus == "all" and "device_requests" not in options
    request = gpu_request(parsed.gpus)
    assert request["Count"] == -1 and request["Capabilities"] == [["gpu"]]
