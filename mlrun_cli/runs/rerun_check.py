"""A rerun's plan held against the run it rebuilds: what differs, before anything runs.

Compared: the fingerprint's inputs as recorded (source digest, entry point, parameter values, env
digest), the content of `path` parameters (their recorded digests against the files now), the
backend, and the env's exact package versions (the run's `mlrun/environment.txt` against the
freeze of the env the rerun would use). A difference the user asked for (`-P`, `-b`)
is `requested`; any other one means the rerun is not the run it replays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlrun_cli.envs.base import EnvState
from mlrun_cli.runs.plan import RunPlan
from mlrun_cli.shared import tags
from mlrun_cli.tracking.base import RunRecord

NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class Difference:
    what: str
    """`source`, `entry_point`, `params.NAME`, `env`, `env versions`, `backend`."""
    recorded: str
    now: str
    requested: bool = False
    """Asked for (-P, -b): shown, never a reason to refuse."""
    refuses: bool = True
    """False for what cannot be compared (a path's content the run never recorded): a warning."""
    text: str | None = None
    """How the line says it, when `recorded -> now` does not."""

    def line(self) -> str:
        asked = " (asked for)" if self.requested else ""
        return f"{self.what}: {self.text or f'{self.recorded} -> {self.now}'}{asked}"

    def to_dict(self) -> dict[str, object]:
        return {"what": self.what, "recorded": self.recorded, "now": self.now, "requested": self.requested}


@dataclass(frozen=True)
class Recorded:
    """What the original run recorded of itself, as the rerun compares it."""

    source: str | None
    entry_point: str
    params: Mapping[str, str]
    env: str | None
    backend: str
    freeze: str | None
    """Its env's `uv pip freeze` (mlrun/environment.txt), when it recorded one."""
    paths: Mapping[str, str] = field(default_factory=dict)
    """{path parameter: content digest} as recorded (runs/path_digest.py); none before mlrun
    recorded them."""

    @classmethod
    def of(cls, record: RunRecord, values: Mapping[str, str], freeze: str | None) -> Recorded:
        inputs: dict[str, object] = {}
        try:
            loaded = json.loads(tags.joined_value(record.tags, tags.FINGERPRINT_INPUTS) or "{}")
            inputs = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            pass
        env = inputs.get("env")
        if env is None and record.tags.get(tags.ENV_KEY):
            env = f"{record.tags.get(tags.ENV)}:{record.tags[tags.ENV_KEY]}"
        source = inputs.get("source")
        paths = inputs.get("paths")
        return cls(
            source=None if source is None else str(source),
            entry_point=record.tags.get(tags.ENTRY_POINT, ""),
            params=values,
            env=None if env is None else str(env),
            backend=record.tags.get(tags.BACKEND, "local"),
            freeze=freeze,
            paths={str(k): str(v) for k, v in paths.items()} if isinstance(paths, dict) else {},
        )


def check(
    recorded: Recorded, plan: RunPlan, overrides: tuple[str, ...], backend: str | None
) -> tuple[Difference, ...]:
    from mlrun_cli.runs.fingerprint import env_digest

    inputs = plan.fingerprint.inputs if plan.fingerprint is not None else {}
    found: list[Difference] = []
    source_now = str(inputs.get("source", NOT_RECORDED))
    if recorded.source != source_now:
        found.append(Difference("source", recorded.source or NOT_RECORDED, source_now))
    if recorded.entry_point != plan.entry.name:
        found.append(Difference("entry_point", recorded.entry_point, plan.entry.name))
    values = plan.bound.all_values()
    for name in sorted({*recorded.params, *values}):
        before, after = recorded.params.get(name), values.get(name)
        if before != after:
            was, now = (repr(v) if v is not None else "(none)" for v in (before, after))
            found.append(Difference(f"params.{name}", was, now, requested=name in overrides))
    found += _contents(recorded, inputs.get("paths"), overrides)
    env_now = env_digest(plan.env)
    if recorded.env != env_now:
        found.append(Difference("env", recorded.env or NOT_RECORDED, env_now))
    versions = _versions(recorded, plan)
    if versions is not None:
        found.append(versions)
    if recorded.backend != plan.backend.NAME:
        found.append(
            Difference("backend", recorded.backend, plan.backend.NAME, requested=backend is not None)
        )
    return tuple(found)


def _contents(recorded: Recorded, planned: object, overrides: tuple[str, ...]) -> list[Difference]:
    """Each `path` parameter's content now (the plan's fingerprint) against its recorded digest: a
    file changed or gone differs; a run that recorded no digest for it cannot be compared."""
    now = {str(k): str(v) for k, v in planned.items()} if isinstance(planned, dict) else {}
    found = []
    for name, digest in sorted(now.items()):
        before, what = recorded.paths.get(name), f"params.{name}"
        if before is None:
            text = "content not recorded by the original run, cannot be compared"
            found.append(Difference(what, NOT_RECORDED, digest, name in overrides, False, text))
        elif before != digest:
            text = f"content differs from the original run's ({_shown(before)} -> {_shown(digest)})"
            found.append(Difference(what, before, digest, name in overrides, text=text))
    return found


def _shown(digest: str) -> str:
    """A path digest (runs/path_digest.py) as a line says it."""
    kind, _, value = digest.partition(":")
    if kind in ("file", "folder") and value:
        return f"{'folder ' if kind == 'folder' else ''}sha256 {value[:12]}…"
    return {"missing": "no file there now", "link": f"a broken link to {value}"}.get(kind, digest)


def _versions(recorded: Recorded, plan: RunPlan) -> Difference | None:
    """The env's exact package versions against the record; None when they are the same (or the
    env is an image, whose id the env digest compares already)."""
    env = plan.env
    if env.container is not None:
        return None
    if not env.key:  # the local interpreter: nothing built, nothing frozen
        return Difference("env versions", NOT_RECORDED, "the local interpreter's packages as they are now")
    if recorded.freeze is None:
        return Difference("env versions", f"{NOT_RECORDED} (no mlrun/environment.txt)", "resolved again")
    if env.state is not EnvState.CACHED and env.pinned:
        return None  # built at the recorded versions (EnvOptions.pins)
    if env.state is not EnvState.CACHED:
        return Difference(
            "env versions", "mlrun/environment.txt", "resolved again from the spec (may differ)"
        )
    from mlrun_cli.envs import cache

    try:
        built = cache.cached_env(env.manager, env.key.removeprefix(f"{env.manager}-"))
        now = built.freeze_file.read_text(encoding="utf-8")
    except OSError:
        return Difference("env versions", "mlrun/environment.txt", "unknown (the env has no freeze)")
    before, after = _lines(recorded.freeze), _lines(now)
    if before == after:
        return None
    gone, new = sorted(before - after), sorted(after - before)
    return Difference("env versions", ", ".join(gone) or "(none)", ", ".join(new) or "(none)")


def _lines(freeze: str) -> set[str]:
    return {line.strip() for line in freeze.splitlines() if line.strip() and not line.startswith("#")}
