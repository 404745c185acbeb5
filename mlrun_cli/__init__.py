"""mlrun-cli: run MLflow-style projects fast, strictly and safely.

As a library: `mlrun_cli.run(uri, entry_point, parameters={...})`, named like
`mlflow.projects.run`, `mlrun_cli.rerun(run_id)` and `mlrun_cli.validate(path)`. Importing this
package stays light: the API is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlrun_cli.version import __version__ as __version__

__all__ = [
    "MlrunError",
    "RunResult",
    "RunStatus",
    "SubmittedRun",
    "SweepResult",
    "ValidationReport",
    "rerun",
    "run",
    "validate",
]

if TYPE_CHECKING:
    from mlrun_cli.errors import MlrunError
    from mlrun_cli.project.validate import ValidationReport
    from mlrun_cli.runs.python_api import SubmittedRun, rerun, run, validate
    from mlrun_cli.runs.result import RunResult
    from mlrun_cli.runs.sweeps.result import SweepResult
    from mlrun_cli.tracking.base import RunStatus

_LAZY = {
    "run": "mlrun_cli.runs.python_api",
    "rerun": "mlrun_cli.runs.python_api",
    "validate": "mlrun_cli.runs.python_api",
    "SubmittedRun": "mlrun_cli.runs.python_api",
    "RunResult": "mlrun_cli.runs.result",
    "SweepResult": "mlrun_cli.runs.sweeps.result",
    "RunStatus": "mlrun_cli.tracking.base",
    "MlrunError": "mlrun_cli.errors",
    "ValidationReport": "mlrun_cli.project.validate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlrun_cli' has no attribute {name!r}")
