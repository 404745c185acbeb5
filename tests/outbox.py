"""An outbox entry as `mlrun run` leaves it when a tracking server did not take a run's records:
$MLRUN_HOME/outbox/<run_id>/ops.json, for the tests of `mlrun runs sync`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path


def pending(run_id: str, uri: str, ops: Sequence[object]) -> Path:
    """The outbox folder of `run_id`, holding `ops` still to send to the tracking server `uri`."""
    folder = Path(os.environ["MLRUN_HOME"]) / "outbox" / run_id
    folder.mkdir(parents=True)
    (folder / "ops.json").write_text(json.dumps({"tracking_uri": uri, "run_id": run_id, "ops": list(ops)}))
    return folder
