"""A run's typed shapes before it runs (RunRequest -> RunPlan), and the planning in between.

Everything that can be checked before a run exists is resolved once: source, spec, parameters,
env (planned, not built), backend and its config, tracking target. Running a plan decides nothing."""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun_cli import envs
from mlrun_cli.envs.base import EnvOptions, EnvPlan
from mlrun_cli.errors import StrictWarnings, UsageError
from mlrun_cli.project import params
from mlrun_cli.project.durations import parse_duration
from mlrun_cli.project.entry_points import resolve_entry_point
from mlrun_cli.project.loader import DEFAULT_ENTRY_POINT, load_project
from mlrun_cli.project.model import EntryPoint, Project
from mlrun_cli.runs import fingerprint
from mlrun_cli.runs.fingerprint import Fingerprint
from mlrun_cli.runs.retries import RetryPolicy
from mlrun_cli.shared import tags
from mlrun_cli.shared.uri_credentials import redact_uri
from mlrun_cli.sources import ProjectSource, resolve_source
from mlrun_cli.tracking import resolve_tracking_uri

if TYPE_CHECKING:
    from mlrun_cli.backends.base import ExecutionBackend
    from mlrun_cli.tracking.base import RunRecord

# fmt: off
_ADJECTIVES = ["amber", "bold", "calm", "deft", "eager", "fair", "glad", "keen", "lucid", "merry",
    "neat", "proud", "quick", "rapid", "sharp", "swift", "tidy", "vivid", "warm", "zesty"]
_NOUNS = ["badger", "crane", "dingo", "eagle", "finch", "gecko", "heron", "ibis", "koala", "lemur",
    "marten", "newt", "otter", "panda", "quail", "robin", "stoat", "tapir", "vole", "wren"]
# fmt: on


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for, as parsed from the command line."""

    uri: str = "."
    entry_point: str = DEFAULT_ENTRY_POINT
    params: tuple[str, ...] = ()
    env_manager: str | None = None
    experiment_name: str | None = None
    experiment_id: str | None = None
    run_name: str | None = None
    tracking_uri: str | None = None
    version: str | None = None
    refresh: bool = False
    env_options: EnvOptions = field(default_factory=EnvOptions)
    backend: str = "local"
    backend_config: str | None = None
    """JSON text, or the path of a .json/.yaml file."""
    detach: bool = False
    dry_run: bool = False
    timeout: str | None = None
    """--timeout as given (90s, 30m, 2h, seconds); wins over the entry point's `timeout:`."""
    retries: int | None = None
    """--retries; None: the entry point's `retries:`, else none."""
    retry_delay: str = "2s"
    retry_on: tuple[int, ...] = ()
    retry_on_timeout: bool = False
    secrets_file: Path | None = None
    """dotenv values for `type: secret` parameters (when neither -P nor MLRUN_SECRET_<NAME>)."""
    cwd: Path = field(default_factory=Path.cwd)
    needed: bool = False
    """Reuse a FINISHED run with the same fingerprint instead of running again."""
    run_id: str | None = None
    """--run-id: record into this existing, not yet ended run instead of creating one."""
    strict: bool = False
    """--strict: every warning (an undeclared -P, what MLflow silently accepts) stops the plan."""
    changes: str | None = None  # a rerun's recorded git.diff, applied to the checkout of `version`


@dataclass(frozen=True)
class RunPlan:
    """A request with everything resolved and checked; running it needs no more decisions."""

    source: ProjectSource
    project: Project
    entry: EntryPoint
    bound: params.BoundParams
    command: str
    env: EnvPlan
    backend: ExecutionBackend
    backend_config: dict[str, Any]
    detach: bool
    timeout_s: float | None
    retry: RetryPolicy
    tracking_uri: str
    experiment_name: str | None
    experiment_id: str | None
    run_name: str
    fingerprint: Fingerprint | None = None
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of this run's own on top of the usual ones (a sweep's point: its parent)."""
    param_warnings: tuple[str, ...] = ()
    continued: RunRecord | None = None
    """--run-id: the existing run this one records into (checked while planning)."""

    @property
    def warnings(self) -> tuple[str, ...]:
        """What runs as MLflow runs it but deserves a word: the project's, the parameters'."""
        return (*self.project.warnings, *self.param_warnings)

    def own_tags(self) -> dict[str, str]:
        """The fingerprint's tags, and the run's extra ones."""
        return {**(self.fingerprint.tags() if self.fingerprint is not None else {}), **self.extra_tags}

    def to_dict(self) -> dict[str, object]:
        return {
            "project": str(self.project.directory),
            "source": self.source.name,
            "git_commit": self.source.tags.get(tags.GIT_COMMIT),
            "entry_point": self.entry.name,
            "command": self.command,
            "params": self.bound.all_values(),
            "env_manager": self.env.manager,
            "environment": self.project.env.source,
            "env": self.env.to_dict(),
            "backend": self.backend.NAME,
            "backend_config": self.backend_config,
            "detach": self.detach,
            "timeout_s": self.timeout_s,
            "retries": self.retry.retries,
            "tracking_uri": redact_uri(self.tracking_uri),
            "experiment_name": self.experiment_name,
            "experiment_id": self.experiment_id,
            "run_name": self.run_name,
            "fingerprint": self.fingerprint.value if self.fingerprint is not None else None,
            "fingerprint_inputs": dict(self.fingerprint.inputs) if self.fingerprint is not None else None,
        }


def generate_run_name() -> str:
    # A name, not a secret: `random` (seeded from os.urandom, and loaded by tempfile anyway)
    # spares every run the import of `secrets` with its hmac and base64.
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randrange(1000):03d}"


def _experiment(request: RunRequest) -> tuple[str | None, str | None]:
    if request.experiment_name is not None and request.experiment_id is not None:
        raise UsageError("give --experiment-name or --experiment-id, not both")
    if request.experiment_name is not None or request.experiment_id is not None:
        return request.experiment_name, request.experiment_id
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or None
    return name, None if name else (os.environ.get("MLFLOW_EXPERIMENT_ID") or None)


def plan_run(request: RunRequest, *, check_entry: Callable[[EntryPoint], None] | None = None) -> RunPlan:
    """Check everything that can be checked without side effects; raise on the first stage that fails.
    `check_entry` sees the entry point before any value is bound (a sweep refuses a swept secret
    there, before a bad value could be shown)."""
    experiment_name, experiment_id = _experiment(request)
    if request.run_id is not None and request.needed:
        raise UsageError("--needed finds a finished run to reuse; --run-id continues one: not both")
    given = params.parse_param_args(request.params)
    source = resolve_source(request.uri, request.version, request.cwd, refresh=request.refresh)
    try:
        if request.changes is not None:
            from mlrun_cli.sources.replay import apply_changes

            apply_changes(source, request.changes)
        return _plan(request, source, given, experiment_name, experiment_id, check_entry)
    except BaseException:
        source.close()  # a git checkout made for this plan
        raise


def _plan(
    request: RunRequest,
    source: ProjectSource,
    given: list[tuple[str, str]],
    experiment_name: str | None,
    experiment_id: str | None,
    check_entry: Callable[[EntryPoint], None] | None,
) -> RunPlan:
    requested_manager = request.env_manager or os.environ.get("MLRUN_ENV_MANAGER") or None
    project = load_project(source.directory, env_file_used=requested_manager != "local")
    entry = resolve_entry_point(project, request.entry_point)
    if check_entry is not None:
        check_entry(entry)
    secrets = None
    if request.secrets_file is not None:
        from mlrun_cli.project.secrets_file import load_secrets_file

        secrets = load_secrets_file(request.cwd / request.secrets_file)
    # A git checkout is temporary: its paths are recorded relative to it.
    record_relative = source.cleanup is not None
    bound = params.bind(
        entry, given, request.cwd, project.directory, record_relative=record_relative, secrets=secrets
    )
    manager = envs.choose_env_manager(project, requested_manager)
    backend, backend_config = _check_backend(request, manager)
    env_options = request.env_options
    if backend.CODE_IN_IMAGE and not env_options.build_image:
        env_options = dataclasses.replace(env_options, build_image=True)
    tracking_uri = resolve_tracking_uri(request.tracking_uri)
    continued = None
    if request.run_id is not None:
        from mlrun_cli.runs.resume import run_to_continue

        values = bound.all_values()
        continued = run_to_continue(request.run_id, tracking_uri, experiment_name, experiment_id, values)
        experiment_name, experiment_id = None, continued.experiment_id
    env = envs.get_env_manager(manager).plan(project, env_options)
    if env.container is not None:
        backend.check_container(env.container, backend_config)
    elif env_options.docker_args or env_options.keep_container:
        option = "-A/--docker-args" if env_options.docker_args else "--keep-container"
        raise UsageError(f"{option} applies to docker_env projects; this one runs with {manager!r}")
    plan = RunPlan(
        source=source,
        project=project,
        entry=entry,
        bound=bound,
        command=params.render_command(entry, bound),
        env=env,
        backend=backend,
        backend_config=backend_config,
        detach=request.detach,
        timeout_s=_timeout(request, entry),
        retry=_retry_policy(request, entry),
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        experiment_id=experiment_id,
        run_name=request.run_name or (continued.run_name if continued else "") or generate_run_name(),
        continued=continued,
        param_warnings=_undeclared(entry, bound),
        fingerprint=fingerprint.of_run(source, entry, bound, fingerprint.env_digest(env)),
    )
    if request.strict and plan.warnings:
        raise StrictWarnings(plan.warnings)
    return plan


def _undeclared(entry: EntryPoint, bound: params.BoundParams) -> tuple[str, ...]:
    """-P names the entry point does not declare: appended as MLflow does, but said."""
    if entry.is_script or not bound.extras:
        return ()  # a script takes every -P as --name value: that is the point
    from mlrun_cli.documents.hints import did_you_mean

    declared = list(entry.parameters)
    return tuple(
        f"-P {name}: not a parameter of entry point '{entry.name}'; passed as --{name} (as MLflow "
        f"does){did_you_mean(name, declared)}"
        for name, _ in bound.extras
    )


def _timeout(request: RunRequest, entry: EntryPoint) -> float | None:
    if request.timeout is None:
        return entry.timeout_s
    try:
        return parse_duration(request.timeout)
    except ValueError as error:
        raise UsageError(f"--timeout: {error}") from None


def _retry_policy(request: RunRequest, entry: EntryPoint) -> RetryPolicy:
    retries = request.retries if request.retries is not None else entry.retries
    if retries < 0:
        raise UsageError("--retries must be 0 or more")
    if retries and request.run_id is not None:
        raise UsageError("retries make each attempt a run of its own; not with --run-id (use --retries 0)")
    if retries and request.detach:
        raise UsageError("--retries needs to follow each attempt; it cannot be combined with --detach")
    try:
        delay = parse_duration(request.retry_delay, allow_zero=True)
    except ValueError as error:
        raise UsageError(f"--retry-delay: {error}") from None
    return RetryPolicy(retries, delay, frozenset(request.retry_on), request.retry_on_timeout)


def _check_backend(request: RunRequest, env_manager: str) -> tuple[ExecutionBackend, dict[str, Any]]:
    from mlrun_cli.backends import detachable, get_backend
    from mlrun_cli.backends.config import load_backend_config

    backend = get_backend(request.backend)
    if request.detach and not backend.DETACHABLE:
        raise UsageError(
            f"--detach needs a backend that queues jobs ({', '.join(detachable())}), not {backend.NAME!r}"
        )
    if backend.ENV_KINDS is not None and env_manager not in backend.ENV_KINDS:
        raise UsageError(
            f"the {backend.NAME} backend cannot run a {env_manager!r} environment; "
            f"it runs: {', '.join(sorted(backend.ENV_KINDS))}"
        )
    config = load_backend_config(request.backend_config, backend, request.cwd)
    backend.preflight()  # e.g. the cluster's client commands are installed
    if not request.dry_run:  # a plan is printed without asking the engine
        backend.check_reachable()
    return backend, config
