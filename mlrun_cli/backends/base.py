"""The ExecutionBackend protocol: one module per place a command can run.

Every backend takes a Job, hands back a JobRef at once (`submit`), and then answers `status`,
`cancel` and `logs` for that ref; `wait` follows it to its end. A ref is rebuilt from the run's
tags, so a later process (`mlrun runs wait`) can follow a job that an earlier one submitted.

This module and `mlrun_cli.tracking.base` are all a third-party backend needs: it may be a module
(or any object) with `submit`, `status`, `cancel` and `logs`, registered under the entry-point
group `mlrun_cli.backends`; every other hook below has a default, `wait` included (it polls).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

# Re-exported: plugins take Job, JobRef, JobState, RunStatus and ContainerSpec from here.
from mlrun_cli.backends.jobs import Job as Job
from mlrun_cli.backends.jobs import JobRef as JobRef
from mlrun_cli.errors import MlrunError, PluginError, UsageError
from mlrun_cli.shared import tags
from mlrun_cli.shared.registry import missing_attributes
from mlrun_cli.shared.types import ContainerSpec as ContainerSpec
from mlrun_cli.shared.types import JobState as JobState
from mlrun_cli.shared.types import RunStatus as RunStatus

EXIT_TIMEOUT = tags.EXIT_TIMEOUT
_SECRET = re.compile(
    r"TOKEN|PASSWORD|PASSWD|_PWD$|SECRET|CREDENTIAL|_KEY$|AUTH(?!OR)|CONNECTION_STRING|_DSN$", re.IGNORECASE
)
# The user information of a URI (`scheme://user:password@`), anywhere in a value; or a password,
# key or signature as a query or connection-string field (`?password=`, `;AccountKey=`, `&sig=`).
_CREDENTIALS = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s@]*@"
    r"|[?&;](?:password|passwd|pwd|sig|token|secret|accountkey|sharedaccesskey|access_token)=",
    re.IGNORECASE,
)


def is_secret(name: str) -> bool:
    """Variables whose name says a backend must not write them where others can read them."""
    return _SECRET.search(name) is not None


def is_private(name: str, value: str) -> bool:
    """Whether a variable must reach a job through the backend's private channel, never a job
    script or a Job's spec: a secret by name (`DB_PASSWORD`, `MYSQL_PWD`, `AZURE_STORAGE_CONNECTION_STRING`),
    or a value with credentials in it (a tracking server's `https://user:password@host`, a
    database's `postgresql://db/mlflow?password=pw`, a storage account's `...;AccountKey=...`)."""
    return is_secret(name) or _CREDENTIALS.search(value) is not None


class ExecutionBackend:
    """The protocol, with the defaults of every optional hook."""

    NAME: str = ""
    DETACHABLE: bool = False
    """Whether a job goes on without mlrun (`--detach`, `mlrun runs wait`)."""
    CONFIG_SCHEMA: str | None = None
    """The schema --backend-config is checked against (None: no schema)."""
    ENV_KINDS: frozenset[str] | None = None
    """The env managers it can run (None: all of them)."""
    CODE_IN_IMAGE: bool = False
    """Docker environments bake the code into the image (as --build-image): no bind mount."""

    def preflight(self) -> None:
        """Before any run exists: raise when the backend cannot be used here (clients missing)."""

    def check_reachable(self) -> None:
        """Before any run exists, when one will be made (not for --dry-run): raise
        InfrastructureError when the engine does not answer, so an outage leaves no run behind."""

    def check_config(self, config: Mapping[str, Any]) -> None:
        """What a JSON schema cannot say about the config; raise UsageError. A backend that
        overrides this (or has a CONFIG_SCHEMA) takes --backend-config; others refuse it."""

    def check_container(self, spec: ContainerSpec, config: Mapping[str, Any]) -> None:
        """Refuse (UsageError, before any run exists) what of a container job it cannot honour.

        The default honours the image and its environment only: a backend must say what more it
        maps, so that no option the user gave is dropped without a word.
        """
        given = [f"-A {arg}" for arg in spec.run_args]
        given += [f"volume {v}" for v in spec.volumes]
        given += [f"gpus {spec.gpus}"] if spec.gpus is not None else []
        given += ["--keep-container"] if spec.keep else []
        if given:
            raise UsageError(f"the {self.NAME} backend cannot honour {', '.join(given)}")

    def submit(self, job: Job) -> JobRef:
        """Hand the job over; return without waiting for it to run."""
        raise NotImplementedError

    def submit_many(self, jobs: Sequence[Job], max_parallel: int) -> list[JobRef]:
        """A sweep's jobs, at most `max_parallel` running at once; one ref per job, in order.

        A cluster that can hold jobs to a limit overrides it with one job for all (a Slurm
        array job); a backend that does not gets one job per sweep worker (`batches_sweeps`)."""
        return [self.submit(job) for job in jobs]

    def status(self, ref: JobRef) -> JobState:
        """Where the job stands now; raise MlrunError when the cluster does not answer."""
        raise NotImplementedError

    def status_many(self, refs: Sequence[JobRef]) -> list[JobState | MlrunError]:
        """Every job's state (or why it could not be read), in the order of `refs`, asked together:
        the process's one watcher calls it once per poll for all the jobs it follows. Override
        with one engine call for all of them."""
        states: list[JobState | MlrunError] = []
        for ref in refs:
            try:
                states.append(self.status(ref))
            except MlrunError as error:
                states.append(error)
        return states

    def cancel(self, ref: JobRef) -> None:
        """Stop the job, one point of a batch alone (`--early-stop`); it ends KILLED."""
        raise NotImplementedError

    def cancel_many(self, refs: Sequence[JobRef]) -> None:
        """Stop these jobs together (a whole sweep): `cancel` each. An engine holding them as one
        batch overrides it to stop the batch at once, so no queued point starts meanwhile."""
        first: MlrunError | None = None
        for ref in refs:
            try:
                self.cancel(ref)
            except MlrunError as error:  # the others still; then the first error
                first = first or error
        if first is not None:
            raise first

    def logs(self, ref: JobRef) -> bytes:
        """The job's whole output so far."""
        raise NotImplementedError

    def new_output(self, ref: JobRef, offset: int) -> bytes:
        """The output past `offset` bytes; override where the whole log is costly to read."""
        return self.logs(ref)[offset:]

    def wait(self, ref: JobRef, *, console_log: Path, stdout: BinaryIO | None = None) -> JobState:
        """Follow the job to its end, streaming its output to `stdout` and into `console_log`.

        Ctrl-C (or SIGTERM) while waiting cancels the job and returns a KILLED state.
        """
        import sys

        from mlrun_cli.shared.streaming import ConsoleLog, Sink

        with ConsoleLog(console_log) as log:
            return follow_job(self, ref, Sink(log, stdout or sys.stdout.buffer), cancel=True)

    def takes_config(self) -> bool:
        default = getattr(self.check_config, "__func__", None) is ExecutionBackend.check_config
        return self.CONFIG_SCHEMA is not None or not default

    def batches_sweeps(self) -> bool:
        """Whether a sweep's jobs go to `submit_many` together (the backend holds them to
        max_parallel itself); otherwise the sweep submits one job per worker, max_parallel at once."""
        return getattr(self.submit_many, "__func__", None) is not ExecutionBackend.submit_many


_HOOKS = frozenset(name for name in vars(ExecutionBackend) if not name.startswith("_")) - {
    "takes_config",
    "batches_sweeps",
}
_REQUIRED = ("submit", "status", "cancel", "logs")


class _Adapted(ExecutionBackend):
    """A plugin module (or object) seen through the protocol: its own hooks, else the defaults.

    Looked up at each use, never copied into (or written onto) the plugin."""

    def __init__(self, name: str, target: object) -> None:
        self.NAME = name
        self._target = target

    def __getattribute__(self, name: str) -> Any:
        if name in _HOOKS:
            target = object.__getattribute__(self, "_target")
            if hasattr(target, name):
                return getattr(target, name)
        return object.__getattribute__(self, name)


def adapt(name: str, target: object) -> ExecutionBackend:
    if isinstance(target, ExecutionBackend):
        return target
    if isinstance(target, type) and issubclass(target, ExecutionBackend):
        return target()
    missing = missing_attributes(target, _REQUIRED)
    if missing:
        raise PluginError(f"backend plugin {name!r} lacks {', '.join(missing)}")
    return _Adapted(name, target)


def follow_job(
    backend: ExecutionBackend,
    ref: JobRef,
    sink: Any,
    *,
    cancel: bool,
    timeout_s: float | None = None,
    run_id: str | None = None,
) -> JobState:
    """The shared poll loop over a backend's job (see mlrun_cli.shared.streaming.follow); its state
    comes from the process's one watcher of the engine (mlrun_cli.backends.watcher)."""
    from mlrun_cli.backends.watcher import watcher_for
    from mlrun_cli.shared.streaming import follow

    shown = [0]

    def new_output() -> bytes:
        chunk = backend.new_output(ref, shown[0])
        shown[0] += len(chunk)
        return chunk

    def cancelled(last: JobState | None, signum: int) -> JobState:
        word = last.state if last is not None else "CANCELLED"
        reason = f"cancelled by mlrun on signal {signum}"
        return JobState(word, RunStatus.KILLED, tags.exit_code_for_signal(signum), reason, signum)

    with watcher_for(backend).watch(ref) as watch:
        return follow(
            watch.next_state,
            new_output,
            sink,
            cancel=(lambda: backend.cancel(ref)) if cancel else None,
            cancelled=cancelled,
            timeout_s=timeout_s,
            what=f"run {run_id}" if run_id else "the job",
            job_label=f"{ref.backend} job {ref.job_id}",
            paced=True,
        )
