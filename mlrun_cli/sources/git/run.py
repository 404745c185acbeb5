"""How one git command runs: an environment we control (no inherited GIT_* redirection, no
prompts, a protocol allow-list), never a traceback or a credential in what it says, and for the
network the time budget (shared/budget.py): a remote that sends nothing for `call_s` is given up (exit
75), while a download that keeps making progress goes on, however long it takes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

from mlrun_cli.errors import EXIT_INFRA, InfrastructureError, UsageError
from mlrun_cli.shared.budget import CALL_VAR, budget
from mlrun_cli.sources.git.urls import redact

TOTAL_VAR = "MLRUN_GIT_TIMEOUT"
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
_POLL_S = 0.5
# Variables that make git read another repository, config or program than ours.
_REDIRECTING = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXEC_PATH",
    "GIT_TEMPLATE_DIR",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_PROXY_COMMAND",
    "GIT_EXTERNAL_DIFF",
    "GIT_PAGER",
    "GIT_EDITOR",
)


# Credentials from a URL reach git only through this helper, reading them from the variables of
# the one git process that needs them: never from a config file, never on a command line.
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || return 0; '
    'printf \'username=%s\\npassword=%s\\n\' "$MLRUN_GIT_USERNAME" "$MLRUN_GIT_PASSWORD"; }; f'
)


class GitError(UsageError):
    """A git operation failed; the message never carries credentials."""


class GitUnreachable(GitError, InfrastructureError):
    """The remote did not answer: infrastructure, not the user's input."""

    exit_code = EXIT_INFRA


def total_timeout_s() -> float | None:
    """MLRUN_GIT_TIMEOUT, where set: a cap on a whole network git command, progress or not."""
    try:
        return float(os.environ[TOTAL_VAR]) if os.environ.get(TOTAL_VAR) else None
    except ValueError:
        return None


def git_env(credentials: tuple[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING}
    if credentials is not None:
        env["MLRUN_GIT_USERNAME"], env["MLRUN_GIT_PASSWORD"] = credentials
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
            "GIT_PROTOCOL_FROM_USER": "0",
            # `git status` would refresh the index under its lock: the user's own git command,
            # at the same moment, would then fail on index.lock.
            "GIT_OPTIONAL_LOCKS": "0",
            "LC_ALL": "C",
        }
    )
    return env


def run_git(
    *args: str,
    cwd: Path | None = None,
    git_dir: Path | None = None,
    network: bool = False,
    check: bool = True,
    credentials: tuple[str, str] | None = None,
) -> str:
    """Run one git command; GitError (never a traceback, never a credential) when it fails."""
    options = [
        "-c",
        "protocol.ext.allow=never",
        "-c",
        "protocol.file.allow=always",
        "-c",
        "core.hooksPath=/dev/null",
    ]
    if credentials is not None:
        # The empty value first drops the user's helpers, so none of them stores the password.
        options += ["-c", "credential.helper=", "-c", f"credential.helper={_CREDENTIAL_HELPER}"]
    if git_dir is not None:
        options += ["--git-dir", str(git_dir)]
    env = git_env(credentials)
    if network:  # curl's own progress rule for http(s): under 1 byte/s for call_s is a stall
        env.setdefault("GIT_HTTP_LOW_SPEED_LIMIT", "1")
        env.setdefault("GIT_HTTP_LOW_SPEED_TIME", str(max(1, round(budget().call_s))))
    try:
        code, stdout, stderr = _run(["git", *options, *args], cwd, env, git_dir, network, args[0])
    except FileNotFoundError:
        raise GitError("git is not installed; it is needed to run projects from git") from None
    if check and code != 0:
        output = (stderr or stdout).strip()
        last = output.splitlines()[-1] if output else f"exit code {code}"
        raise GitError(f"'git {args[0]}' failed: {redact(last)}")
    return stdout if code == 0 else ""


def _run(
    argv: list[str], cwd: Path | None, env: dict[str, str], git_dir: Path | None, network: bool, what: str
) -> tuple[int, str, str]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)  # noqa: S603 - a list
        try:
            if network:
                _watch(proc, (out, err), git_dir, what)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # Paths and diffs are bytes to git: decoded as Python decodes file names, so a Latin-1
        # file in a diff or a name that is not UTF-8 round-trips instead of raising.
        out.seek(0)
        err.seek(0)
        return proc.returncode, _text(out.read()), _text(err.read())


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _written(git_dir: Path | None) -> int:
    """The bytes of the objects git has written so far (a dumb http remote's objects arrive with
    no progress line); looked at only while git prints nothing."""
    written = 0
    if git_dir is not None:
        for folder, _, names in os.walk(git_dir / "objects"):
            for name in names:
                with contextlib.suppress(OSError):  # renamed meanwhile: the next look sees it
                    written += os.stat(os.path.join(folder, name)).st_size
    return written


def _watch(
    proc: subprocess.Popen[bytes], outputs: tuple[IO[bytes], ...], git_dir: Path | None, what: str
) -> None:
    """Stop git once nothing has moved for call_s (or, if set, after MLRUN_GIT_TIMEOUT in all)."""
    silence_s, total_s = budget().call_s, total_timeout_s()
    started = moved = time.monotonic()
    printed, written = 0, -1  # what git printed (refs, progress lines), what it wrote
    while True:
        try:
            proc.wait(timeout=_POLL_S)  # back as soon as git is done
            return
        except subprocess.TimeoutExpired:
            pass
        now, said = time.monotonic(), sum(os.fstat(f.fileno()).st_size for f in outputs)
        if said != printed:
            printed, moved = said, now
        elif (wrote := _written(git_dir)) != written:
            written, moved = wrote, (now if written >= 0 else moved)
        if total_s is not None and now - started > total_s:
            proc.kill()
            raise GitUnreachable(
                f"'git {what}' timed out after {total_s:g} s", hint=f"{TOTAL_VAR} sets the limit"
            )
        if now - moved > silence_s:
            proc.kill()
            raise GitUnreachable(
                f"'git {what}' timed out: the remote sent nothing for {silence_s:g} s",
                hint=f"is the remote up? {CALL_VAR} sets how long mlrun waits for it",
            )
