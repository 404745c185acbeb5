"""--backend-config and the checks made before any run exists (no cluster needed for these)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.backends import slurm, slurm_states
from mlrun_cli.backends.base import Job
from mlrun_cli.tracking.base import RunStatus
from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
PROJECT = {"MLproject": "entry_points: {main: {command: 'echo hi'}}\n"}


def _dry(mlrun: Mlrun, project: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return mlrun("run", str(project), "--env-manager", "local", "--dry-run", *args, env=env)


def test_every_config_problem_is_named_with_its_field(
    mlrun: Mlrun, project_factory: Factory, isolated: Path
) -> None:
    project = project_factory(PROJECT)
    config = '{"partitoin": "gpu", "time": "1h", "mem": 0, "cpus": 2}'
    result = _dry(mlrun, project, "-b", "slurm", "-c", config)
    assert result.returncode == 2
    assert "Error: invalid backend config: 3 problems" in result.stderr
    assert "--backend-config:1: partitoin: unknown key (did you mean 'partition'?)" in result.stderr
    assert "time: the string '1h' is not valid: expected minutes as a number, or 'MM'" in result.stderr
    assert "mem: the number 0 is not valid" in result.stderr
    assert not (isolated / "mlruns").exists()


def test_yaml_config_file_problems_name_file_and_line(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path
) -> None:
    config = tmp_path / "slurm.yaml"
    config.write_text("partition: debug\ncpus: two\n")
    result = _dry(mlrun, project_factory(PROJECT), "-b", "slurm", "-c", str(config))
    assert result.returncode == 2
    assert f"{config}:2: cpus: expected an integer, got the string 'two'" in result.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"time": 5', "YAML syntax error"),
        ("missing.json", "--backend-config: no such file:"),
        ("settings.txt", "must be JSON text ({...}) or a .json/.yaml file"),
        ('{"sbatch_args": ["-ofile.log"]}', "sbatch_args: mlrun sets -o itself; remove it"),
        ('{"sbatch_args": ["--wrap=hostname"]}', "sbatch_args: mlrun sets --wrap itself"),
    ],
)
def test_bad_config_is_a_usage_error(
    mlrun: Mlrun, project_factory: Factory, config: str, message: str
) -> None:
    result = _dry(mlrun, project_factory(PROJECT), "-b", "slurm", "-c", config)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_dry_run_shows_backend_and_config(mlrun: Mlrun, project_factory: Factory) -> None:
    result = _dry(
        mlrun, project_factory(PROJECT), "-b", "slurm", "-c", '{"partition": "gpu", "time": 30}', "--json"
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["backend"] == "slurm" and plan["backend_config"] == {"partition": "gpu", "time": 30}


def test_detach_needs_a_queueing_backend(mlrun: Mlrun, project_factory: Factory) -> None:
    result = mlrun("run", str(project_factory(PROJECT)), "--env-manager", "local", "--detach")
    assert result.returncode == 2
    assert "--detach needs a backend that queues jobs (slurm, kubernetes, ray), not 'local'" in result.stderr


def test_local_backend_takes_no_config(mlrun: Mlrun, project_factory: Factory) -> None:
    result = _dry(mlrun, project_factory(PROJECT), "-c", '{"a": 1}')
    assert result.returncode == 2 and "the local backend takes no --backend-config" in result.stderr


def test_slurm_without_sbatch_fails_before_a_run_exists(
    mlrun: Mlrun, project_factory: Factory, tmp_path: Path, isolated: Path
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = mlrun(
        "run",
        str(project_factory(PROJECT)),
        "-b",
        "slurm",
        "--env-manager",
        "local",
        env={"PATH": str(empty)},
    )
    assert result.returncode == 2
    assert "sbatch is not installed (not found on PATH)" in result.stderr
    assert not (isolated / "mlruns").exists()


def test_docker_projects_do_not_go_to_slurm(mlrun: Mlrun, project_factory: Factory) -> None:
    project = project_factory(
        {"MLproject": "docker_env: {image: x}\nentry_points: {main: {command: 'true'}}\n"}
    )
    result = mlrun("run", str(project), "-b", "slurm", "--dry-run")
    assert result.returncode == 2
    assert "the slurm backend cannot run a 'docker' environment" in result.stderr


def test_job_script_quotes_values_and_keeps_secrets_out(tmp_path: Path) -> None:
    job = Job(
        command="echo 'it''s' $HOME",
        cwd=tmp_path / "a dir",
        env_patch={"PATH": "/x y:/bin", "MLFLOW_TRACKING_TOKEN": "s3cr3t", "MLFLOW_EXPERIMENT_NAME": None},
        run_id="r1",
        run_name="n1",
        job_dir=tmp_path,
    )
    script = slurm.job_script(job)
    assert "export PATH='/x y:/bin'" in script and "unset MLFLOW_EXPERIMENT_NAME" in script
    assert "s3cr3t" not in script and "# MLFLOW_TRACKING_TOKEN: passed through sbatch's environment" in script
    assert f"cd '{tmp_path}/a dir' || exit 1" in script
    assert """exec bash -c 'echo '"'"'it'"'"''"'"'s'"'"' $HOME'""" in script


def test_a_value_with_credentials_is_kept_out_of_the_job_script(tmp_path: Path) -> None:
    """A database store's URI has its password in it (MlflowClientTracker.child_env passes it as
    MLFLOW_TRACKING_URI), and job.sh is logged with the run: it goes the secrets' way."""
    from mlrun_cli.backends import job_script

    patch = {
        "MLFLOW_TRACKING_URI": "postgresql://mlflow:db-pw-1@db:5432/mlflow",
        "PIP_EXTRA_INDEX_URL": "https://pypi.org/simple https://tok3n-2@pkgs.example/simple",
        "MLFLOW_RUN_ID": "r1",
        "PLAIN_URL": "http://host:80/a@b",  # an @ in the path is no user information
    }
    job = Job(command="true", cwd=tmp_path, env_patch=patch, run_id="r1", run_name="n1", job_dir=tmp_path)
    script = slurm.job_script(job)
    assert "db-pw-1" not in script and "tok3n-2" not in script
    assert "# MLFLOW_TRACKING_URI: passed through sbatch's environment, not written here" in script
    assert "export MLFLOW_RUN_ID=r1" in script and "export PLAIN_URL=http://host:80/a@b" in script
    private = job_script.private_env(job)
    assert private == {k: patch[k] for k in ("MLFLOW_TRACKING_URI", "PIP_EXTRA_INDEX_URL")}
    secrets = job_script.write_secrets(job)  # Ray's channel: the private file the script reads
    assert secrets is not None and "db-pw-1" in secrets.read_text()
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"


def test_slurm_job_names_are_one_token_and_an_array_takes_the_sweeps_name() -> None:
    """squeue's columns and `scontrol -o`'s KEY=VALUE line split on spaces: a name has none."""
    points = ["rate=0.4,floor=0.1 | warm-heron-859-0", "rate=0.05,floor=0.5 | warm-heron-859-1"]
    assert slurm.job_name(points[0]) == "mlrun-rate=0.4,floor=0.1_warm-heron-859-0"
    assert slurm.job_name("a b\tc/" + "x" * 300) == "mlrun-a_b_c_" + "x" * 94
    assert slurm.sweep_name(points) == "warm-heron-859"
    assert slurm.sweep_name(["one", "two"]) == "one"  # not a sweep's names: the first


def test_sbatch_options_from_config() -> None:
    config = {
        "partition": "gpu",
        "time": "1-00:00:00",
        "cpus": 4,
        "mem": "8G",
        "gpus": "a100:2",
        "sbatch_args": ["--exclusive"],
    }
    assert slurm.sbatch_options(config, "swift-otter-001") == [
        "--job-name=mlrun-swift-otter-001",
        "--partition=gpu",
        "--time=1-00:00:00",
        "--cpus-per-task=4",
        "--mem=8G",
        "--gpus=a100:2",
        "--exclusive",
    ]


@pytest.mark.parametrize(
    ("state", "exit_code", "status", "code"),
    [
        ("COMPLETED", "0:0", RunStatus.FINISHED, 0),
        ("FAILED", "3:0", RunStatus.FAILED, 3),
        ("FAILED", "0:9", RunStatus.FAILED, 137),
        ("CANCELLED by 0", "0:15", RunStatus.KILLED, 143),
        ("TIMEOUT", "0:15", RunStatus.FAILED, 124),
        ("OUT_OF_MEMORY", "0:125", RunStatus.FAILED, 137),
        ("NODE_FAIL", "0:0", RunStatus.FAILED, 1),
        ("PENDING", "0:0", None, None),
        ("RUNNING", "0:0", None, None),
        ("COMPLETING", "0:0", None, None),
    ],
)
def test_slurm_states_map_to_statuses_and_exit_codes(
    state: str, exit_code: str, status: RunStatus | None, code: int | None
) -> None:
    mapped = slurm_states.to_job_state(state, exit_code)
    assert (mapped.status, mapped.exit_code) == (status, code)
