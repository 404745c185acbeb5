"""The job script of a cluster that shares mlrun's file system (Slurm, Ray).

mlrun builds the environment under $MLRUN_HOME before submission; the script, written to the run's
job folder there, activates it (the env patch), sets the MLFLOW_* handshake, enters the working
folder and runs the rendered command with bash, exactly as the local backend does. Secrets are
named, never written: each backend hands them to the job through its own channel.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from mlrun_cli.backends.base import Job, is_secret

SCRIPT_NAME = "job.sh"


def render(job: Job, *, launcher: str, secrets_via: str, limit_s: float | None = None) -> str:
    """The script; with `limit_s`, coreutils' `timeout` stops the command (exit 124) where the
    cluster has no time limit of its own."""
    lines = [
        "#!/bin/bash",
        f"# mlrun run {job.run_id} ({job.run_name}), submitted with {launcher}.",
        "# The environment mlrun built and the tracking handshake:",
    ]
    for key, value in sorted(job.env_patch.items()):
        if value is None:
            lines.append(f"unset {key}")
        elif is_secret(key):
            lines.append(f"# {key}: passed through {secrets_via}, not written here")
        else:
            lines.append(f"export {key}={shlex.quote(value)}")
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
