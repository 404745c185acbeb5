"""The one exception tree. Every error a user can cause is an MlrunError with an exit code."""

from __future__ import annotations

import dataclasses
import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INFRA = 75
"""Infrastructure that did not answer (a git remote, a tracking server, a cluster, the Docker
engine): not the user's input, and worth retrying. 75 is sysexits' EX_TEMPFAIL."""


class MlrunError(Exception):
    """An error the user can act on: printed as one clear message, never as a traceback."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def details(self) -> list[str]:
        return []

    def __str__(self) -> str:
        """The message with its details, so that `str(error)` (a traceback, a Python API caller's
        log line) says what is wrong, not only that something is."""
        details = self.details()
        return f"{self.message}: {'; '.join(details)}" if details else self.message

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "details": self.details(),
            "hint": self.hint,
            "exit_code": self.exit_code,
        }


class UsageError(MlrunError):
    exit_code = EXIT_USAGE


class NotAvailableError(UsageError):
    """A feature that is named in the CLI but not built yet."""


class PluginError(UsageError):
    """A plugin (env manager, backend, tracker) is unknown, fails to load, or lacks what it must have."""


class InfrastructureError(MlrunError):
    """Something mlrun depends on did not answer or refused: retry later, fix nothing in the input."""

    exit_code = EXIT_INFRA


class ServiceUnreachable(InfrastructureError):
    """A package index, conda channel or image registry did not answer (refused, timed out,
    unresolvable, a 5xx): exit 75, unlike a package or image it answered it does not have (2)."""


# A read-only or full disk, a quota, a folder mlrun may not write: the machine's state, not the
# input, so exit 75 (a path that names a file where a folder must be stays bad input, exit 2).
DISK_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM})


def disk_unavailable(error: OSError) -> bool:
    return error.errno in DISK_ERRNOS


@dataclass(frozen=True)
class Problem:
    """One problem found in a project file, located as precisely as the file allows."""

    file: str
    line: int | None
    field: str
    message: str
    # The raw location (keys and indices), for code that needs more than the text.
    path: tuple[str | int, ...] = dataclasses.field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


class SpecError(UsageError):
    """The MLproject (or an env file it names) is invalid; carries every problem found."""

    def __init__(
        self, problems: Sequence[Problem], *, hint: str | None = None, subject: str = "project"
    ) -> None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid {subject}: {count} {noun}", hint=hint)
        self.problems = list(problems)

    def details(self) -> list[str]:
        return [str(p) for p in self.problems]

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data["problems"] = [p.to_dict() for p in self.problems]
        return data


class ParameterError(UsageError):
    """Parameter values that do not fit their declaration; carries every problem found."""

    def __init__(self, problems: Sequence[str], *, entry_point: str | None = None) -> None:
        where = f" for entry point '{entry_point}'" if entry_point else ""
        super().__init__(f"invalid parameters{where}")
        self.problems = list(problems)

    def details(self) -> list[str]:
        return list(self.problems)


class StrictWarnings(UsageError):
    """--strict: what would only be warned about stops the run before it exists."""

    def __init__(self, warnings: Sequence[str]) -> None:
        super().__init__(
            f"--strict: warnings are errors ({len(warnings)}); nothing was run or recorded",
            hint="fix what they say, or run without --strict",
        )
        self.warnings = list(warnings)

    def details(self) -> list[str]:
        return list(self.warnings)


class TrackingError(MlrunError):
    """The tracking store cannot be used (unreadable, unwritable, unknown scheme, missing run)."""

    exit_code = EXIT_USAGE


class ExecutionError(MlrunError):
    """The command could not be started at all."""

    exit_code = EXIT_FAILURE


class Terminated(KeyboardInterrupt):
    """mlrun itself got SIGTERM/SIGHUP outside the command's lifetime; unwinds like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


class CommandFailed(MlrunError):
    """A helper command (an installer, a build step) failed."""

    exit_code = EXIT_USAGE

    def __init__(self, argv: Sequence[str], returncode: int | None, output: str) -> None:
        status = "could not start" if returncode is None else f"exited with code {returncode}"
        shown = [os.path.basename(argv[0]), *argv[1:3]]
        super().__init__(f"'{' '.join(shown)}{' ...' if len(argv) > 3 else ''}' {status}")
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output


class TrackingUnreachable(TrackingError, InfrastructureError):
    """The tracking store did not answer (network down, server gone, or failing with 5xx)."""

    exit_code = EXIT_INFRA
