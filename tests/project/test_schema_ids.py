"""Every shipped JSON schema has a stable `$id` and a `title` of one form, is a valid schema of
the draft it names, and its `$ref`s resolve as validation resolves them; the docs' editor
mapping names real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from mlrun_cli.documents.schemas import SCHEMA_NAMES
from tests.conftest import REPO

ID_FORM = "https://mlrun-cli.invalid/schemas/{name}.schema.json"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_folder_holds_exactly_the_named_schemas() -> None:
    assert sorted(p.name for p in (REPO / "schemas").glob("*.json")) == sorted(
        f"{n}.schema.json" for n in SCHEMA_NAMES
    )


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_id_title_and_draft(name: str, mlrun: Any) -> None:
    printed = mlrun("schema", name)
    assert printed.returncode == 0
    schema = json.loads(printed.stdout)
    assert schema == json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == ID_FORM.format(name=name)
    assert re.fullmatch(rf"\S.* \(mlrun schema {name}\)", schema["title"]), schema["title"]
    Draft202012Validator.check_schema(schema)
    resolver = (
        Registry().with_resource(schema["$id"], DRAFT202012.create_resource(schema)).resolver(schema["$id"])
    )
    for ref in _refs(schema):
        assert isinstance(resolver.lookup(ref).contents, dict), ref  # raises when it does not resolve


def test_readme_maps_the_schemas_for_the_editor(tmp_path: Path) -> None:
    """The docs' commands save the schemas where its VS Code settings and its comment look."""
    page = (REPO / "docs" / "mlproject.md").read_text()
    section = page[page.index("## Editor support") :]
    save = re.search(r"```sh\n(mkdir -p \.schemas .*?)\n```", section, re.S)
    assert save, "the docs' command that saves the schemas"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", "-ec", save.group(1)], cwd=tmp_path, env=env, check=True)
    block = re.search(r"```jsonc?\n(\{.*?\n\})\n```", section, re.S)
    assert block, "the docs' VS Code settings block"
    settings = json.loads(block.group(1))
    assert settings["files.associations"]["MLproject"] == "yaml"
    mapped = {Path(path).name: patterns for path, patterns in settings["yaml.schemas"].items()}
    assert "MLproject" in mapped["mlproject.schema.json"]
    assert "python_env.yaml" in mapped["python_env.schema.json"]
    assert "conda.yaml" in mapped["conda_env.schema.json"]
    for path in settings["yaml.schemas"]:
        saved = json.loads((tmp_path / path).read_text())
        assert saved["$id"] == ID_FORM.format(name=Path(path).name.removesuffix(".schema.json"))
    comment = re.search(r"# yaml-language-server: \$schema=(\S+)", section)
    assert comment and (tmp_path / comment.group(1)).is_file()
