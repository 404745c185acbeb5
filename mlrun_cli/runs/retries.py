"""--retries: a failed attempt is tried again, each attempt its own run, with exponential backoff.

Every attempt is tagged `mlrun.attempt` (1, 2, ...) and later ones `mlrun.retry_of` (the first
attempt's run id), so each keeps its console log and metrics. Not retried: a run that finished,
a user's interrupt (Ctrl-C, SIGTERM), a time limit exceeded (exit 124) unless asked, an exit code
outside --retry-on when given. Errors of our own checks never create a run, so never come here.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from mlrun_cli.project.durations import format_duration
from mlrun_cli.runs.result import RunResult
from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunStatus

MAX_DELAY_S = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 0
    delay_s: float = 2.0
    """Before the second attempt; doubled before each next one (at most MAX_DELAY_S)."""
    on_codes: frozenset[int] = frozenset()
    """Only these exit codes are retried (all failures when empty)."""
    on_timeout: bool = False

    def why_not(self, result: RunResult) -> str | None:
        """Why this result is not tried again, or None when it is."""
        if result.status is RunStatus.FINISHED:
            return "it finished"
        if result.interrupted_by is not None or result.status is RunStatus.KILLED:
            return "it was interrupted"
        if result.status is RunStatus.RUNNING:
            return "it is detached"
        if result.exit_code == tags.EXIT_TIMEOUT and not self.on_timeout:
            return "it exceeded its time limit (--retry-on-timeout retries that too)"
        if self.on_codes and result.exit_code not in self.on_codes:
            return f"exit code {result.exit_code} is not in --retry-on"
        return None

    def delay(self, attempt: int) -> float:
        return float(min(MAX_DELAY_S, self.delay_s * 2 ** (attempt - 1)))


class Retried(Protocol):
    """What attempts need of a plan (`runs/plan.py`'s RunPlan, which holds the RetryPolicy): its
    policy, and its extra tags, replaced for each attempt."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def retry(self) -> RetryPolicy: ...

    @property
    def extra_tags(self) -> Mapping[str, str]: ...


Plan = TypeVar("Plan", bound=Retried)


def run_attempts(plan: Plan, execute: Callable[[Plan], RunResult]) -> RunResult:
    """`execute` the plan, again (tagged as the next attempt) while the plan's retry policy says
    so; the last attempt's result, with every attempt listed in it."""
    policy = plan.retry
    attempts: list[RunResult] = []
    while True:
        attempt = len(attempts) + 1
        extra = {tags.ATTEMPT: str(attempt)} if policy.retries else {}
        if attempts:
            extra[tags.RETRY_OF] = attempts[0].run_id
        result = execute(dataclasses.replace(plan, extra_tags={**plan.extra_tags, **extra}))
        attempts.append(dataclasses.replace(result, attempt=attempt))
        reason = policy.why_not(result)
        if reason is not None or attempt > policy.retries:
            break
        wait = policy.delay(attempt)
        sys.stderr.write(
            f"mlrun: attempt {attempt} of {policy.retries + 1} failed (exit code {result.exit_code}); "
            f"trying again {f'in {format_duration(wait)}' if wait else 'now'}\n"
        )
        time.sleep(wait)
    last = attempts[-1]
    if not policy.retries:
        return last
    return dataclasses.replace(last, attempts=tuple(attempts), max_attempts=policy.retries + 1)
