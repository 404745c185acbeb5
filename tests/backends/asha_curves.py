"""The 4-point `--early-stop asha` sweep the cluster tiers run on example_projects/curves (Slurm,
Kubernetes, Ray), and what every backend must show for it: the best point (rate 0.4, floor 0.1)
logs all its steps and FINISHES; at least one losing point is stopped early, recorded KILLED with
fewer steps and the rule that stopped it; every other point FINISHES."""

from __future__ import annotations

import json
from typing import Any

from mlrun_cli.tracking.base import RunStatus
from mlrun_cli.tracking.filestore.store import FileStore

STEPS = 27
"""train.py's default steps."""
SWEEP = {
    "parameters": {"rate": [0.4, 0.05], "floor": [0.1, 0.5]},
    "objective": "loss:min",
    "early_stop": {"rule": "asha", "min_steps": 3, "reduction_factor": 2},
}
ARGS = ("--max-parallel", "4", "-P", "pause=0.3", "--json")
"""Every point at once, each step 0.3 s apart: time for the rule to judge."""


def check_outcome(out: dict[str, Any], store: FileStore) -> tuple[dict[int, Any], dict[int, Any]]:
    """The sweep's `--json` output, checked against its runs in `store`: (children by index,
    the stopped ones by index)."""
    children = {p["index"]: store.get_run(p["run_id"]) for p in out["children"]}
    assert all(c.status.is_terminal for c in children.values())
    best = children[0]  # rate 0.4, floor 0.1: the best from its first step
    assert best.status is RunStatus.FINISHED and len(store.metric_history(best.run_id, "loss")) == STEPS
    stopped = {i: c for i, c in children.items() if "mlrun.early_stopped" in c.tags}
    assert stopped and out["stopped_early"] == len(stopped)
    for run in stopped.values():
        assert run.status is RunStatus.KILLED and len(store.metric_history(run.run_id, "loss")) < STEPS
        assert json.loads(run.tags["mlrun.early_stopped"])["rule"] == "asha"
    assert all(c.status is RunStatus.FINISHED for i, c in children.items() if i not in stopped)
    return children, stopped
