"""`--backend ray`: the run becomes a Ray job, submitted through Ray's Job Submission API.

Environment strategy: the cluster shares mlrun's file system (as a Slurm cluster does), so the
job runs in the environment mlrun built under $MLRUN_HOME, in the project folder itself (no
`working_dir` upload: the env and the code are already where every node sees them). The job's
entrypoint is `bash job.sh` (`job_script.py`): it activates the env, sets the MLFLOW_* handshake,
enters the project folder and runs the rendered command. Ray starts an entrypoint with the
environment of its own raylet, not the submitter's, so the submitter's PATH goes along in the
job's runtime_env (as sbatch passes the submitter's environment). Secrets go in neither the
script nor the runtime_env (Ray logs it and lists it to anyone): a file in the job's private
folder, read and removed by the job script.
Docker environments cannot run this way and are refused before any run exists.

Ray is imported only here, and only when a Ray job is submitted or followed.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from mlrun_cli.backends import job_script
from mlrun_cli.backends.base import Job, JobRef, JobState
from mlrun_cli.backends.ray import logs as ray_logs
from mlrun_cli.backends.ray.logs import banner as _banner
from mlrun_cli.backends.ray.logs import command_output
from mlrun_cli.backends.ray.states import to_job_state
from mlrun_cli.errors import ExecutionError, InfrastructureError, MlrunError, NotAvailableError, UsageError
from mlrun_cli.shared.budget import budget

NAME = "ray"
DETACHABLE = True
CONFIG_SCHEMA = "ray_config"
ENV_KINDS = frozenset({"local", "uv", "virtualenv", "conda"})
ADDRESS_VARIABLE = "RAY_ADDRESS"
TIMEOUT_VARIABLE = "MLRUN_RAY_REQUEST_TIMEOUT"
_ENTRYPOINT_OPTIONS = {
    "num_cpus": "entrypoint_num_cpus",
    "num_gpus": "entrypoint_num_gpus",
    "memory": "entrypoint_memory",
    "resources": "entrypoint_resources",
}
_T = TypeVar("_T")
# The job's own time limit comes this much after --timeout, so that an attached mlrun stops it
# first (and records the timeout as on any backend); a detached run ends this much later.
_LIMIT_MARGIN_S = 5.0
# Not the runtime_env: Ray logs it on the head node and serves it to anyone who lists the jobs.
_SECRETS_VIA = f"{job_script.SECRETS_NAME} (only you can read it; the job removes it once read)"


def preflight() -> None:
    try:
        import ray.job_submission  # noqa: F401
    except ImportError:
        raise NotAvailableError(
            "the ray backend needs Ray's job submission client",
            hint="pip install 'mlrun-cli[ray]'",
        ) from None


def address(config: Mapping[str, Any]) -> str:
    """The dashboard's URL, from the config or RAY_ADDRESS (as `ray job submit` reads it)."""
    raw = str(config.get("address") or os.environ.get(ADDRESS_VARIABLE) or "").strip()
    if not raw:
        raise UsageError(
            "the ray backend needs the cluster's address",
            hint=f'give -c \'{{"address": "http://HOST:8265"}}\' or set {ADDRESS_VARIABLE}',
        )
    _refuse_credentials(raw)
    if raw.startswith("ray://") or raw == "auto":
        raise UsageError(
            f"ray address {raw!r} is not a Job Submission address",
            hint="give the dashboard's address, e.g. http://HOST:8265",
        )
    url = raw if "://" in raw else f"http://{raw}"
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
        raise UsageError(f"ray address {raw!r} is not an http(s) URL such as http://HOST:8265")
    return url.rstrip("/")


def _refuse_credentials(raw: str) -> None:
    """`http://user:pw@host` would be printed in errors and recorded in the run's tags (the
    address is how a later mlrun finds the job again): refused, and never shown whole."""
    scheme, _, rest = raw.rpartition("://")
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        shown = f"{scheme}://" if scheme else ""
        raise UsageError(
            f"ray address {shown}***@{authority.rpartition('@')[2]} has credentials in it",
            hint="mlrun records the address in the run: give it without them, and authenticate "
            "with Ray's own token auth (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN in the environment)",
        )


def check_config(config: Mapping[str, Any]) -> None:
    address(config)


@functools.lru_cache(maxsize=8)
def _client(url: str) -> Any:
    """One client per address and process: making one asks the cluster for its version twice.

    Ray's client lets RAY_API_SERVER_ADDRESS or RAY_ADDRESS override the address it is given;
    rather than submit to (or follow a job on) another cluster, mlrun stops when they disagree."""
    from ray.job_submission import JobSubmissionClient

    client = _call(url, "connect", lambda: JobSubmissionClient(url))
    used = str(client.get_address()).rstrip("/")
    if used != url:
        raise UsageError(
            f"Ray's client would go to {used}, not to {url}: RAY_API_SERVER_ADDRESS or "
            f"{ADDRESS_VARIABLE} in the environment overrides the address mlrun gives it",
            hint="unset the variable, or make it the same address",
        )
    return client


def request_timeout_s() -> float:
    """How long one call to the cluster may take: MLRUN_RAY_REQUEST_TIMEOUT, else the budget's
    operation limit (MLRUN_OPERATION_TIMEOUT)."""
    raw = os.environ.get(TIMEOUT_VARIABLE, "")
    try:
        value = float(raw) if raw else budget().operation_s
    except ValueError:
        raise UsageError(f"{TIMEOUT_VARIABLE}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise UsageError(f"{TIMEOUT_VARIABLE}={raw!r} must be more than 0 seconds")
    return value


def _bounded(url: str, what: str, fn: Callable[[], _T]) -> _T:
    """`fn` with a deadline. Ray's client sends its requests with no timeout, so a cluster that
    accepts the connection and never answers would hang mlrun (and `runs wait`) forever; the
    call runs in a daemon thread instead, left behind if it does not answer in time."""
    timeout_s = request_timeout_s()
    outcome: list[Any] = []

    def call() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as error:  # handed to the caller's thread, raised there
            outcome.append((False, error))

    worker = threading.Thread(target=call, name=f"ray: {what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        raise InfrastructureError(
            f"the Ray cluster at {url} did not answer within {timeout_s:g} s to {what}",
            hint=f"is the cluster overloaded or stuck? ({TIMEOUT_VARIABLE} sets the limit)",
        )
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def _call(url: str, what: str, fn: Callable[[], _T]) -> _T:
    """A call to the cluster; unreachable or silent is InfrastructureError (exit 75), refusals
    explained."""
    try:
        return _bounded(url, what, fn)
    except OSError as error:  # ConnectionError, and requests' errors (all are OSErrors)
        detail = "" if url in str(error) else f": {error}"
        raise InfrastructureError(
            f"cannot reach the Ray cluster at {url} to {what}{detail}",
            hint="is the cluster up? the address is its dashboard's (http://HOST:8265)",
        ) from None
    except RuntimeError as error:
        message = str(error).strip()
        if "status code 5" in message:
            raise InfrastructureError(f"the Ray cluster at {url} failed to {what}: {message}") from None
        raise ExecutionError(f"the Ray cluster at {url} refused to {what}: {message[:500]}") from None


def submit(job: Job) -> JobRef:
    url = address(job.config)
    client = _client(url)
    secrets = job_script.write_secrets(job)
    submission_id = f"mlrun-{job.run_id}"
    text = job_script.render(
        job,
        banner=_banner(submission_id),
        launcher="Ray's Job Submission API",
        secrets_via=_SECRETS_VIA,
        limit_s=None if job.timeout_s is None else job.timeout_s + _LIMIT_MARGIN_S,
        secrets_file=secrets,
    )
    script = job_script.write(job, text)
    env_vars = {"PATH": job.environment().get("PATH", os.defpath)}
    options = {arg: job.config[key] for key, arg in _ENTRYPOINT_OPTIONS.items() if key in job.config}
    try:
        _call(
            url,
            "submit the job",
            lambda: client.submit_job(
                entrypoint=f"bash {shlex.quote(str(script))}",
                submission_id=submission_id,
                runtime_env={"env_vars": env_vars},
                metadata={"mlrun_run_id": job.run_id, "mlrun_run_name": job.run_name},
                **options,
            ),
        )
    except BaseException as error:
        _abandon(url, job, submission_id, refused=isinstance(error, ExecutionError))
        raise
    data = {"address": url}
    if job.timeout_s is not None:
        data["time_limit_s"] = f"{job.timeout_s:g}"
    return JobRef(NAME, submission_id, data)


def _abandon(url: str, job: Job, submission_id: str, *, refused: bool) -> None:
    """A submission that failed: its run ends FAILED, so no job may run for it. The job's files
    go first (a job that starts late finds no script and no secrets, and stops); unless the
    cluster clearly refused, it may have taken the job before failing to answer (a timeout, a
    5xx, a lost connection, a signal): it is told to stop it."""
    for name in (job_script.SECRETS_NAME, job_script.SCRIPT_NAME):
        (job.job_dir / name).unlink(missing_ok=True)
    if refused:
        return
    try:
        _call(url, f"stop job {submission_id}", lambda: _client(url).stop_job(submission_id))
    except ExecutionError:
        pass  # no such job: the submission never reached the cluster
    except InfrastructureError as error:
        sys.stderr.write(
            f"mlrun: warning: Ray job {submission_id} may have been submitted and could not be "
            f"stopped ({error.message}); its script and secrets are removed, so it fails if it "
            f"starts: check with `ray job list`\n"
        )


def _url(ref: JobRef) -> str:
    return ref.data.get("address") or address({})


def status(ref: JobRef) -> JobState:
    url = _url(ref)
    info = _call(url, f"read job {ref.job_id}", lambda: _client(url).get_job_info(ref.job_id))
    return _state(ref, info)


def status_many(refs: Sequence[JobRef]) -> list[JobState | MlrunError]:
    """The watcher's one poll: one `list_jobs` per cluster for all the jobs followed on it (a
    single job is asked about alone: a cluster's list holds every job it has kept)."""
    states: list[JobState | MlrunError] = [ExecutionError("no state")] * len(refs)
    clusters: dict[str, list[int]] = {}
    for n, ref in enumerate(refs):
        clusters.setdefault(_url(ref), []).append(n)
    for url, members in clusters.items():
        try:
            if len(members) == 1:
                states[members[0]] = status(refs[members[0]])
                continue
            listed = {info.submission_id: info for info in _call(url, "list jobs", _client(url).list_jobs)}
        except MlrunError as error:
            for n in members:
                states[n] = error
            continue
        for n in members:
            info = listed.get(refs[n].job_id)
            missing = ExecutionError(f"the Ray cluster at {url} has no job {refs[n].job_id}")
            states[n] = missing if info is None else _state(refs[n], info)
    return states


def _state(ref: JobRef, info: Any) -> JobState:
    state = to_job_state(str(getattr(info.status, "value", info.status)), info, "time_limit_s" in ref.data)
    if state.done:
        ray_logs.job_ended(ref)  # its last read waits for the log's stream to end
    return state


def cancel(ref: JobRef) -> None:
    url = _url(ref)
    _call(url, f"stop job {ref.job_id}", lambda: _client(url).stop_job(ref.job_id))


def logs(ref: JobRef) -> bytes:
    """The command's output: what the job script prints after its banner, without the line Ray
    writes about the entrypoint (`ray_logs.command_output`)."""
    url = _url(ref)
    text = _call(url, f"read the log of job {ref.job_id}", lambda: _client(url).get_job_logs(ref.job_id))
    return command_output(text, ref.job_id)


def new_output(ref: JobRef, offset: int) -> bytes:
    """Only what the job printed since the last poll, from one log stream per job (`ray_logs`)."""
    url = _url(ref)
    whole = functools.partial(
        _call, url, f"read the log of job {ref.job_id}", lambda: _client(url).get_job_logs(ref.job_id)
    )
    return ray_logs.new_output(ref, offset, _client(url), whole, request_timeout_s())
