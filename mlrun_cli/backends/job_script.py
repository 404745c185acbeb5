"""The job script of a cluster that shares mlrun's file system (Slurm, Ray).

mlrun builds the environment under $MLRUN_HOME before submission; the script, written to the run's
job folder there, activates it (the env patch), sets the MLFLOW_* handshake, enters the working
folder and runs the rendered command with bash, exactly as the local backend does. Secrets are
named, never written (`is_private`): each backend hands them to the job through its own channel;
the script is logged with the run.
"""

from __future__ import annotations

import math
import os
import shlex
from pathlib import Path

from mlrun_cli.backends.base import Job, is_private

SCRIPT_NAME = "job.sh"
SECRETS_NAME = "secrets.env"


def private_env(job: Job) -> dict[str, str]:
    """The variables a backend hands to the job through its private channel, not the script."""
    return {k: v for k, v in job.env_patch.items() if v is not None and is_private(k, v)}


def render(
    job: Job,
    *,
    launcher: str,
    secrets_via: str,
    limit_s: float | None = None,
    secrets_file: Path | None = None,
    banner: str | None = None,
) -> str:
    """The script; with `limit_s`, coreutils' `timeout` stops the command (exit 124) where the
    cluster has no time limit of its own; with `secrets_file` (see `write_secrets`), the script
    reads the secrets from it and removes it; `banner` is printed first, for a cluster whose log
    has lines of its own before the job's output."""
    lines = ["#!/bin/bash", f"# mlrun run {job.run_id} ({job.run_name}), submitted with {launcher}."]
    if banner is not None:
        lines.append(f"echo {shlex.quote(banner)}")
    lines.append("# The environment mlrun built and the tracking handshake:")
    for key, value in sorted(job.env_patch.items()):
        if value is None:
            lines.append(f"unset {key}")
        elif is_private(key, value):
            lines.append(f"# {key}: passed through {secrets_via}, not written here")
        else:
            lines.append(f"export {key}={shlex.quote(value)}")
    if secrets_file is not None:
        quoted = shlex.quote(str(secrets_file))
        lines.append(f". {quoted} || exit 1; rm -f {quoted}")
    limit = f"timeout --kill-after=10 {math.ceil(limit_s)}s " if limit_s is not None else ""
    lines += [
        f"cd {shlex.quote(str(job.cwd))} || exit 1",
        f"exec {limit}bash -c {shlex.quote(job.command)}",
        "",
    ]
    return "\n".join(lines)


def write(job: Job, text: str) -> Path:
    """The script in the job's own folder (private to the user), executable."""
    job.job_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    script = job.job_dir / SCRIPT_NAME
    script.write_text(text)
    script.chmod(0o700)
    return script


def write_secrets(job: Job) -> Path | None:
    """The job's secret variables in a file only the user can read (created so, never widened),
    for a cluster that has no private channel to the job; None when there are none."""
    secrets = private_env(job)
    if not secrets:
        return None
    job.job_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = job.job_dir / SECRETS_NAME
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(secrets.items()))
    return path
