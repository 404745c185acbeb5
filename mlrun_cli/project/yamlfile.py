"""YAML loading that remembers where every key and value stands, so errors can name a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlrun_cli.errors import Problem

try:  # libyaml is several times faster; fall back silently where it is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

JsonPath = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Parsed data plus the 1-based line of every path in it."""

    file: str
    data: Any
    text: str | None = None
    lines: dict[JsonPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: JsonPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def format_path(path: JsonPath) -> str:
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def _walk(node: yaml.Node, path: JsonPath, doc: YamlDocument) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                doc.problems.append(
                    Problem(
                        doc.file,
                        line,
                        format_path((*path, key)),
                        f"duplicate key (first defined on line {seen[key]})",
                    )
                )
                continue
            seen[key] = line
            key_path = (*path, key)
            doc.lines[key_path] = line
            _walk(value_node, key_path, doc)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), doc)


def load_yaml(path: Path, display_name: str | None = None) -> YamlDocument:
    """Parse `path`; syntax errors and duplicate keys become problems, not exceptions."""
    name = display_name or str(path)
    doc = YamlDocument(file=name, data=None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        doc.problems.append(Problem(name, None, "", f"cannot read file: {err}"))
        return doc
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> YamlDocument:
    """Parse YAML (or JSON) text; syntax errors and duplicate keys become problems."""
    doc = YamlDocument(file=name, data=None, text=text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _walk(node, (), doc)
            doc.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        # The context mark is where the broken construct starts (an unclosed quote, say).
        mark = err.context_mark or err.problem_mark
        line = mark.line + 1 if mark else None
        message = f"{err.context}: {err.problem}" if err.context else str(err.problem or err)
        if err.context and err.problem_mark is not None:
            message += f" (at line {err.problem_mark.line + 1})"
        doc.problems.append(Problem(name, line, "", f"YAML syntax error: {message}"))
    except yaml.YAMLError as err:
        doc.problems.append(Problem(name, None, "", f"YAML error: {err}"))
    finally:
        loader.dispose()
    return doc
