"""`--backend slurm`: the run becomes a Slurm batch job.

The environment is built by mlrun before submission, under $MLRUN_HOME, which must therefore be on a
file system the compute nodes share (as must the project folder). The job script (`job_script.py`)
activates it and runs the rendered command with bash, exactly as the local backend does. Secrets
(tokens, passwords) reach the job through sbatch's own environment, never through the script on
the shared disk.
"""

from __future__ import annotations

import math
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mlrun_cli.backends import job_script as job_script_file
from mlrun_cli.backends import slurm_states
from mlrun_cli.backends.base import Job, JobRef, JobState
from mlrun_cli.backends.deadline import with_deadline
from mlrun_cli.errors import ExecutionError, InfrastructureError, MlrunError, NotAvailableError, UsageError
from mlrun_cli.shared.budget import budget
from mlrun_cli.shared.process import run_captured

NAME = "slurm"
DETACHABLE = True
CONFIG_SCHEMA = "slurm_config"
ENV_KINDS = frozenset({"local", "uv", "virtualenv", "conda"})

SCRIPT_NAME = job_script_file.SCRIPT_NAME
OUTPUT_NAME = "output.log"
_OPTIONS = {
    "partition": "--partition",
    "time": "--time",
    "cpus": "--cpus-per-task",
    "mem": "--mem",
    "gpus": "--gpus",
    "account": "--account",
    "qos": "--qos",
    "nodes": "--nodes",
    "job_name": "--job-name",
}


_UNREACHABLE = ("unable to contact", "timed out", "connection refused", "temporarily unavailable")
_UNCONFIGURED = (
    "could not establish a configuration source",
    "unable to process configuration file",
    "fetch_config: dns srv lookup failed",
)
_RESERVED = ("--output", "--error", "--chdir", "--parsable", "--wrap", "-o", "-e", "-D")


def preflight() -> None:
    """Before a run exists: Slurm's clients must be here."""
    if shutil.which("sbatch") is None:
        raise NotAvailableError(
            "sbatch is not installed (not found on PATH)",
            hint="the slurm backend submits with Slurm's own clients; run mlrun on a login node",
        )


def check_reachable() -> None:
    """The controller must answer before a run exists: a run made for a job that could never be
    submitted would be left behind, FAILED, for an outage."""
    try:
        proc = run_captured(["scontrol", "ping"], timeout=60)
    except ExecutionError as error:  # it hung (a controller host that drops packets)
        raise InfrastructureError(f"cannot reach the Slurm controller: {error.message}") from None
    said = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        _unconfigured(said)
    if proc.returncode != 0 or " is UP" not in said:
        raise InfrastructureError(
            f"cannot reach the Slurm controller: {said or f'scontrol ping exited {proc.returncode}'}",
            hint="check that slurmctld is up (`scontrol ping`), then run again",
        )


def _unconfigured(said: str) -> None:
    """Slurm's clients found no configuration (no slurm.conf, no controller by DNS SRV lookup, or
    a SLURM_CONF they cannot read): a setup problem no retry fixes, so exit 2, not 75."""
    lowered = said.lower()
    if not any(sign in lowered for sign in _UNCONFIGURED):
        return
    stat_failed = re.search(r"cannot stat file (\S+)", said)
    if stat_failed:
        detail = f"cannot read {stat_failed.group(1)}"
    elif "dns srv" in lowered:
        detail = "no slurm.conf, and no controller found by DNS SRV lookup"
    else:
        detail = "its configuration cannot be read"
    raise UsageError(
        f"Slurm is not configured on this machine ({detail})",
        hint="set SLURM_CONF to the cluster's slurm.conf, or run mlrun on a login node of the cluster",
    )


def _refused(what: str, message: str) -> NoReturn:
    """A Slurm client failed: the controller did not answer (exit 75, retry-worthy), or it refused
    the job's settings (exit 2)."""
    _unconfigured(message)
    if any(sign in message.lower() for sign in _UNREACHABLE):
        raise InfrastructureError(
            f"cannot reach the Slurm controller ({what}): {message}",
            hint="check that slurmctld is up (`scontrol ping`), then run again",
        )
    raise UsageError(f"{what} refused the job: {message}")


def check_config(config: Mapping[str, Any]) -> None:
    """What the schema cannot say: options mlrun sets itself cannot be overridden."""
    for arg in config.get("sbatch_args", ()):
        flag = str(arg).split("=", 1)[0]
        if not flag.startswith("--"):
            flag = flag[:2]  # '-ofile' is '-o file'
        if flag in _RESERVED:
            raise UsageError(f"backend config: sbatch_args: mlrun sets {flag} itself; remove it")


_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+@-]+")
NAME_MAX = 100


def job_name(run_name: str) -> str:
    """`mlrun-` and the run's name as one token (squeue's columns and `scontrol -o`'s KEY=VALUE
    line are split on spaces), short enough to read in `squeue`."""
    return "mlrun-" + _NAME_UNSAFE.sub("_", run_name).strip("_")[:NAME_MAX]


def sweep_name(run_names: Sequence[str]) -> str:
    """An array job's name: the sweep's, which its points' names share after their values
    (`rate=0.1 | warm-heron-859-0`, runs/sweeps/plan.point_name); else the first point's."""
    sweeps = {name.rpartition(" | ")[2].rpartition("-")[0] for name in run_names}
    return sweeps.pop() if len(sweeps) == 1 and "" not in sweeps else run_names[0]


def sbatch_options(config: Mapping[str, Any], run_name: str, timeout_s: float | None = None) -> list[str]:
    """The sbatch options a backend config asks for (its schema already checked the values);
    mlrun's --timeout becomes the job's --time (whole minutes, rounded up) unless `time` is set."""
    options = [f"--job-name={job_name(run_name)}"] if "job_name" not in config else []
    if timeout_s is not None and "time" not in config:
        options.append(f"--time={math.ceil(timeout_s / 60)}")
    for key, flag in _OPTIONS.items():
        if key in config:
            options.append(f"{flag}={config[key]}")
    options.extend(str(arg) for arg in config.get("sbatch_args", ()))
    return options


def job_script(job: Job) -> str:
    return job_script_file.render(job, launcher="sbatch", secrets_via="sbatch's environment")


def _write_script(job: Job) -> None:
    job_script_file.write(job, job_script(job))


def _sbatch(argv: list[str], job: Job) -> str:
    """Submit; the job id. Secrets reach the job through sbatch's environment. A submit that
    raises leaves nothing queued: when sbatch did not answer in time, or answered without a job
    id, the job it may have queued all the same is found by its comment (which names the run) and
    cancelled."""
    try:
        proc = run_captured(argv, timeout=120, env_patch=job_script_file.private_env(job))
    except ExecutionError:
        _cancel_commented(argv)
        raise
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
        # Retry-worthy when the controller did not answer; the job's own settings otherwise.
        _refused("sbatch", message)
    job_id = proc.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        _cancel_commented(argv)
        raise ExecutionError(f"sbatch answered without a job id: {proc.stdout.strip()[:200]!r}")
    return job_id


def _cancel_commented(argv: list[str]) -> None:
    """Cancel this user's jobs whose comment is the one `argv` gave (`--comment=mlrun run ID`)."""
    comment = next(arg.removeprefix("--comment=") for arg in argv if arg.startswith("--comment="))
    try:
        proc = run_captured(["squeue", "--me", "-h", "-o", "%F|%k"], timeout=budget().operation_s)
        lines = [line.partition("|") for line in proc.stdout.splitlines()]
        found = {job_id for job_id, _, comment_of in lines if comment_of == comment}
        if proc.returncode == 0 and found:
            run_captured(["scancel", *sorted(found)], timeout=budget().operation_s)
        if proc.returncode == 0:
            return
    except ExecutionError:
        pass
    sys.stderr.write(
        f"mlrun: warning: sbatch gave no job id and squeue could not be asked: a job with the comment "
        f"{comment!r} may be queued (squeue --me -o '%i %k'; scancel it)\n"
    )


def submit(job: Job) -> JobRef:
    _write_script(job)
    output = job.job_dir / OUTPUT_NAME
    output.touch()
    argv = [
        "sbatch",
        "--parsable",
        f"--output={output}",
        f"--chdir={job.cwd}",
        f"--comment=mlrun run {job.run_id}",
        *sbatch_options(job.config, job.run_name, job.timeout_s),
        str(job.job_dir / SCRIPT_NAME),
    ]
    return JobRef(NAME, _sbatch(argv, job), {"output": str(output)})


def limits() -> tuple[int, int]:
    """The cluster's MaxArraySize and MaxJobCount (`scontrol show config`)."""
    proc = run_captured(["scontrol", "show", "config"], timeout=60)
    if proc.returncode != 0:
        _refused(
            "scontrol show config", (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
        )
    found = dict(re.findall(r"^(MaxArraySize|MaxJobCount)\s*=\s*(\d+)", proc.stdout, re.MULTILINE))
    return int(found.get("MaxArraySize", 1001)), int(found.get("MaxJobCount", 10000))


def submit_many(jobs: Sequence[Job], max_parallel: int) -> list[JobRef]:
    """A sweep as array jobs (`--array=0-(n-1)%P`), each within the cluster's MaxArraySize: task i
    runs its job's own script, which sets its own run's MLFLOW_RUN_ID. `max_parallel` is shared
    out among the arrays' throttles; with fewer than arrays, an array waits for an earlier one."""
    if len(jobs) == 1:
        return [submit(jobs[0])]
    max_array, max_jobs = limits()
    if len(jobs) > max_jobs:
        raise UsageError(
            f"a sweep of {len(jobs)} runs is more than the cluster holds (MaxJobCount {max_jobs})"
        )
    size = max(1, max_array)
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    parallel = max(1, max_parallel)
    ids: list[str] = []
    refs: list[JobRef] = []
    for n, chunk in enumerate(chunks):
        throttle = max(1, parallel // len(chunks) + (1 if n < parallel % len(chunks) else 0))
        after = ids[n - parallel] if parallel < len(chunks) and n >= parallel else None
        array_id, outputs = _submit_array(chunk, throttle, after)
        ids.append(array_id)
        refs += [JobRef(NAME, f"{array_id}_{i}", {"output": str(out)}) for i, out in enumerate(outputs)]
    return refs


def _submit_array(jobs: Sequence[Job], throttle: int, after: str | None) -> tuple[str, list[Path]]:
    for job in jobs:
        _write_script(job)
    array_dir = jobs[0].job_dir.parent / f"array-{jobs[0].run_id}"
    array_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Each task keeps the point's own time limit (exit 124), from when it starts: `--time` is
    # only in whole minutes, and mlrun stops no task itself (one poll loop follows them all).
    cases = []
    for i, job in enumerate(jobs):
        run = f"exec bash {shlex.quote(str(job.job_dir / SCRIPT_NAME))}"
        cases.append(f"  {i}) {run if job.timeout_s is None else with_deadline(run, job.timeout_s)} ;;")
    driver = array_dir / SCRIPT_NAME
    driver.write_text(
        "#!/bin/bash\n# An mlrun sweep: array task i runs point i.\n"
        'case "$SLURM_ARRAY_TASK_ID" in\n' + "\n".join(cases) + "\nesac\n"
        'echo "mlrun: no point for array task $SLURM_ARRAY_TASK_ID" >&2\nexit 2\n'
    )
    driver.chmod(0o700)
    outputs = [array_dir / f"task-{i}.log" for i in range(len(jobs))]
    for output in outputs:
        output.touch()
    argv = [
        "sbatch",
        "--parsable",
        f"--array=0-{len(jobs) - 1}%{throttle}",
        f"--output={array_dir / 'task-%a.log'}",
        f"--chdir={jobs[0].cwd}",
        f"--comment=mlrun sweep of {len(jobs)} runs, first {jobs[0].run_id}",
        *([f"--dependency=afterany:{after}"] if after else []),
        *sbatch_options(jobs[0].config, sweep_name([job.run_name for job in jobs]), jobs[0].timeout_s),
        str(driver),
    ]
    return _sbatch(argv, jobs[0]), outputs


def status_many(refs: Sequence[JobRef]) -> list[JobState | MlrunError]:
    """Every job mlrun follows, in one squeue call (the watcher's one poll)."""
    states = slurm_states.query_many([ref.job_id for ref in refs])
    return [states[ref.job_id] for ref in refs]


def status(ref: JobRef) -> JobState:
    return slurm_states.query(ref.job_id)


def cancel(ref: JobRef) -> None:
    proc = run_captured(["scancel", ref.job_id])
    if proc.returncode != 0:
        raise ExecutionError(f"scancel {ref.job_id} failed: {(proc.stderr or proc.stdout).strip()}")


def _output(ref: JobRef) -> Path:
    return Path(ref.data.get("output", ""))


def logs(ref: JobRef) -> bytes:
    path = _output(ref)
    return path.read_bytes() if path.is_file() else b""


def new_output(ref: JobRef, offset: int) -> bytes:
    """Only the new bytes of the job's output file (Slurm writes it on the node)."""
    try:
        with _output(ref).open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except OSError:
        return b""
