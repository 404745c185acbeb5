"""`mlrun_cli.run()` and `mlrun_cli.validate()`: the library face of the CLI.

Named like `mlflow.projects.run` where the arguments mean the same, so code calling MLflow's
function moves over by changing the import. Errors are mlrun's own exception types
(`mlrun_cli.errors`), never SystemExit. Nothing here imports click.
"""

from __future__ import annotations

import io
import json
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, cast

from mlrun_cli.errors import ExecutionError, MlrunError, UsageError
from mlrun_cli.project.validate import ValidationReport
from mlrun_cli.runs.plan import RunRequest
from mlrun_cli.runs.result import RunResult
from mlrun_cli.shared import tags

if TYPE_CHECKING:
    from mlrun_cli.runs.sweeps.result import SweepResult
    from mlrun_cli.shared.process import ChildProcess
from mlrun_cli.tracking.base import RunStatus

_RUN_LINE = re.compile(rb"^mlrun: run ([0-9a-f]{32}) ")


@dataclass
class SubmittedRun:
    """A run started with `synchronous=False`: it goes on in its own mlrun process."""

    process: ChildProcess
    run_id: str | None = None
    _result: RunResult | None = field(default=None, repr=False)
    _stderr: list[bytes] = field(default_factory=list, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)

    def status(self) -> RunStatus:
        """RUNNING until the mlrun process has recorded the end, then the run's status."""
        return self.wait().status if self.process.poll() is not None else RunStatus.RUNNING

    def wait(self, timeout: float | None = None) -> RunResult:
        if self._result is None:
            from mlrun_cli.shared.process import output_of

            out = output_of(self.process, timeout)
            if out is None:
                raise ExecutionError(f"run {self.run_id} has not ended after {timeout:g} s")
            if self._reader is not None:
                self._reader.join()
            self._result = _result_from_json(out, b"".join(self._stderr), self.run_id)
        return self._result

    def cancel(self) -> RunResult:
        """Stop it as Ctrl-C would: the run is recorded KILLED."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait()


def _result_from_json(out: bytes, err: bytes, run_id: str | None = None) -> RunResult:
    try:
        data = json.loads(out)
    except ValueError:
        raise ExecutionError(
            f"mlrun ended without a result: {err.decode(errors='replace')[-2000:]}"
        ) from None
    if data.get("error") in ("Terminated", "Interrupted") and run_id is not None:
        # Stopped before its command started: the run exists, and was recorded KILLED.
        code = int(data.get("exit_code", tags.EXIT_TERMINATED))
        return RunResult(run_id, "", RunStatus.KILLED, code, 0.0, "", {}, "", "", interrupted_by=code - 128)
    if "error" in data:
        details = "; ".join(str(d) for d in data.get("details") or ())
        message = f"{data['message']}: {details}" if details else str(data["message"])
        error = MlrunError(message, hint=data.get("hint"))
        error.exit_code = int(data.get("exit_code", 1))
        raise error
    known = {f for f in RunResult.__dataclass_fields__ if f not in ("status", "attempts")}
    fields = {k: v for k, v in data.items() if k in known}
    return RunResult(status=RunStatus[data["status"]], **fields)


def run(
    uri: str = ".",
    entry_point: str = "main",
    version: str | None = None,
    parameters: Mapping[str, object] | None = None,
    docker_args: Mapping[str, object] | Sequence[str] | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    backend: str = "local",
    backend_config: Mapping[str, object] | str | None = None,
    synchronous: bool = True,
    run_name: str | None = None,
    env_manager: str | None = None,
    build_image: bool = False,
    *,
    tracking_uri: str | None = None,
    timeout: str | float | None = None,
    retries: int | None = None,
    needed: bool = False,
    sweep: Mapping[str, str | Sequence[object]] | None = None,
    max_parallel: int | None = None,
    objective: str | None = None,
    early_stop: str | None = None,
    run_id: str | None = None,
    storage_dir: str | None = None,
    docker_auth: Mapping[str, str] | None = None,
    strict: bool = False,
) -> RunResult | SubmittedRun | SweepResult:
    """Run an entry point of the project at `uri` and record it; the result (or, with
    `synchronous=False`, a handle with wait(), status() and cancel()). With `sweep` (name ->
    `-S` SPEC text, or a list of values), one child run per point under a parent: a SweepResult
    (`early_stop`: "median" or "asha", judged by `objective`)."""
    from mlrun_cli.envs.base import EnvOptions

    for name, given in (("storage_dir", storage_dir), ("docker_auth", docker_auth)):
        if given is not None:  # mlflow.projects.run's arguments that mlrun has no use for
            from mlrun_cli.runs.resume import REFUSED

            raise UsageError(f"{name} is not needed here: {REFUSED['--' + name.replace('_', '-')]}")
    config = json.dumps(dict(backend_config)) if isinstance(backend_config, Mapping) else backend_config
    request = RunRequest(
        uri=uri, entry_point=entry_point, params=tuple(f"{k}={v}" for k, v in (parameters or {}).items()),
        env_manager=env_manager, experiment_name=experiment_name, experiment_id=experiment_id,
        run_name=run_name, tracking_uri=tracking_uri, version=version,
        env_options=EnvOptions(build_image, _docker_args(docker_args)), backend=backend,
        backend_config=config, timeout=None if timeout is None else str(timeout), retries=retries,
        needed=needed, run_id=run_id, strict=strict,
    )  # fmt: skip
    from mlrun_cli.runs import api

    if sweep is not None:
        if not synchronous:
            raise UsageError("a sweep runs synchronously (synchronous=True)")
        from mlrun_cli.runs.sweeps.run import SweepRequest

        specs = tuple(f"{name}={_spec(values)}" for name, values in sweep.items())
        return api.sweep(
            SweepRequest(
                request, specs, max_parallel=max_parallel, objective=objective, early_stop=early_stop
            )
        )
    if not synchronous:
        return _submit(request)

    # Where sys.stdout has no bytes buffer (a notebook), the command's output is decoded into it.
    return api.run(request, child_stdout=_bytes_of(sys.stdout), log=_bytes_of(sys.stderr))


def rerun(
    run_id: str,
    parameters: Mapping[str, object] | None = None,
    backend: str | None = None,
    *,
    exact: bool = False,
    tracking_uri: str | None = None,
) -> RunResult:
    """Run a recorded run again from its record (`mlrun runs rerun`): its commit with its
    uncommitted changes, entry point, parameters (`parameters` override them) and env; a new run
    tagged `mlrun.rerun_of`. With `exact`, UsageError when anything else would differ."""
    from mlrun_cli.runs import rerun as replay

    overrides = tuple(f"{k}={v}" for k, v in (parameters or {}).items())
    request = replay.RerunRequest(run_id, overrides, backend, exact, tracking_uri)
    result, _ = replay.rerun(request, child_stdout=_bytes_of(sys.stdout), log=_bytes_of(sys.stderr))
    return result


def _spec(values: str | Sequence[object]) -> str:
    """A list of values as an -S comma list (commas inside a value escaped); text as it is."""
    if isinstance(values, str):
        return values
    return ",".join(str(value).replace(",", "\\,") for value in values)


def _bytes_of(stream: TextIO) -> BinaryIO:
    return cast(BinaryIO, getattr(stream, "buffer", None) or _TextSink(stream))


class _TextSink(io.RawIOBase):
    def __init__(self, text: TextIO) -> None:
        self.text = text

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.text.write(bytes(data).decode(errors="replace"))
        self.text.flush()
        return len(data)


def _docker_args(docker_args: Mapping[str, object] | Sequence[str] | None) -> tuple[str, ...]:
    """MLflow's dict form ({"cpus": 2, "privileged": True}) or mlrun's -A strings."""
    if docker_args is None:
        return ()
    if isinstance(docker_args, Mapping):
        return tuple(name if value is True else f"{name}={value}" for name, value in docker_args.items())
    if isinstance(docker_args, str):
        raise UsageError("docker_args: give a dict or a list of NAME[=VALUE] strings")
    return tuple(docker_args)


def _argv(request: RunRequest) -> list[str]:
    """The command line of the run's own mlrun process. Parameter values (secrets among them) and
    the tracking URI (credentials) are not on it, where any local user could read them: they go
    through the process's stdin and environment (see _submit)."""
    argv = [sys.executable, "-m", "mlrun_cli", "run", request.uri, "-e", request.entry_point, "--json"]
    options = {
        "-b": request.backend, "-v": request.version, "--experiment-name": request.experiment_name,
        "--experiment-id": request.experiment_id, "-c": request.backend_config,
        "--run-name": request.run_name, "--env-manager": request.env_manager,
        "--timeout": request.timeout, "--retries": request.retries, "--retry-delay": request.retry_delay,
        "--secrets-file": request.secrets_file, "--run-id": request.run_id,
    }  # fmt: skip
    argv += [arg for flag, value in options.items() if value is not None for arg in (flag, str(value))]
    argv += [arg for option in request.env_options.docker_args for arg in ("-A", option)]
    argv += ["--params-stdin"] if request.params else []
    flags = {"--build-image": request.env_options.build_image, "--needed": request.needed,
             "--retry-on-timeout": request.retry_on_timeout, "--strict": request.strict}  # fmt: skip
    argv += [flag for flag, on in flags.items() if on]
    return argv + (["--retry-on", ",".join(map(str, request.retry_on))] if request.retry_on else [])


def _submit(request: RunRequest) -> SubmittedRun:
    """An mlrun process of its own: signals, the parent-death guard and Ctrl-C stay its business."""
    from mlrun_cli.shared.process import start_piped

    uri = request.tracking_uri
    process = start_piped(_argv(request), {} if uri is None else {"MLFLOW_TRACKING_URI": uri})
    assert process.stdin is not None
    process.stdin.write(json.dumps(list(request.params)).encode() if request.params else b"")
    process.stdin.close()
    process.stdin = None  # communicate() would flush it again
    handle = SubmittedRun(process)
    started = threading.Event()

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            handle._stderr.append(line)
            _bytes_of(sys.stderr).write(line)  # the child's output, as a synchronous run shows it
            match = _RUN_LINE.match(line)
            if match and handle.run_id is None:
                handle.run_id = match.group(1).decode()
                started.set()
        started.set()

    handle._reader = threading.Thread(target=read_stderr, daemon=True)
    handle._reader.start()
    started.wait()  # the run exists (its id is known), or mlrun ended before creating one
    return handle


def validate(path: str | Path = ".", *, strict: bool = False) -> ValidationReport:
    """Check a project's MLproject and env files without running anything."""
    from mlrun_cli.project.validate import validate as check

    return check(Path(path), strict=strict)
