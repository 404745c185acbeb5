"""The JSON schemas shipped in the wheel (and kept in the top-level schemas/ folder)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

SCHEMA_NAMES = (
    "mlproject",
    "python_env",
    "conda_env",
    "slurm_config",
    "kubernetes_config",
    "ray_config",
    "sweep",
)
# An editable install has no package copy: read the source tree's folder then.
_SOURCE_DIR = Path(__file__).resolve().parents[2] / "schemas"


def schema_text(name: str) -> str:
    if name not in SCHEMA_NAMES:
        raise KeyError(name)
    filename = f"{name}.schema.json"
    packaged = files("mlrun_cli").joinpath("schemas").joinpath(filename)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (_SOURCE_DIR / filename).read_text(encoding="utf-8")


@cache
def load_schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schema_text(name))
    return data
