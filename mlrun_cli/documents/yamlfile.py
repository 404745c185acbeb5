"""YAML loading that remembers where every key and value stands, so errors can name a line."""

from __future__ import annotations

import codecs
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
    digest: str | None = None
    """sha256 of the bytes parsed (load_yaml): what the data stands for, if the file changes."""
    warnings: list[str] = field(default_factory=list)
    """What PyYAML (and so MLflow) reads one way without doubt, but deserves a word."""

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


# Limits on what a user's file may cost us (a spec is a few kilobytes; these are far above that).
MAX_FILE_BYTES = 1_000_000
# Values a document may expand to through aliases: a "billion laughs" file names 10**9 of them.
MAX_EXPANDED_NODES = 100_000
MAX_DEPTH = 100


class _TooBig(Exception):
    """The document is over a limit; the message is the one-line reason."""


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int], depth: int = 0) -> int:
    """How many values the node stands for once aliases are expanded, without expanding them."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise _TooBig("a YAML alias refers to itself (a recursive structure); refused")
    if depth > MAX_DEPTH:
        raise _TooBig(f"the YAML is nested deeper than {MAX_DEPTH} levels; refused")
    active.add(key)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    # Memoised per node, so this costs the document's size even when the expansion is huge.
    total = 1 + sum(_expanded_size(child, sizes, active, depth + 1) for child in children)
    active.discard(key)
    sizes[key] = total
    return total


def _walk(node: yaml.Node, path: JsonPath, doc: YamlDocument, seen_nodes: set[int]) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    # An alias is the same node object again: record where it is used, never walk it twice,
    # so an alias bomb costs its size in the file, not its expanded size.
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, tuple[int, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen and _is_empty(seen[key][1]):
                # `parameters:` left empty above the real one: PyYAML keeps the last value, and
                # nothing the author wrote is lost.
                doc.warnings.append(
                    f"{doc.file}:{line}: {format_path((*path, key))}: duplicate key (first on line "
                    f"{seen[key][0]}, empty there): this value is used, as MLflow does; remove the empty one"
                )
            elif key in seen:
                doc.problems.append(
                    Problem(
                        doc.file,
                        line,
                        format_path((*path, key)),
                        f"duplicate key (first defined on line {seen[key][0]}); MLflow would silently "
                        "keep only the last one and lose the other: remove or rename one",
                    )
                )
                continue
            seen[key] = (line, value_node)
            key_path = (*path, key)
            doc.lines[key_path] = line
            _walk(value_node, key_path, doc, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), doc, seen_nodes)


def _is_empty(node: yaml.Node) -> bool:
    """`key:` with nothing (or `~`, `null`, `""`, `{}`, `[]`) after it."""
    if isinstance(node, yaml.ScalarNode):
        return node.value == "" or node.tag == "tag:yaml.org,2002:null"
    return isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.value


def _failing_line(node: yaml.Node) -> int | None:
    """The line of the first value that cannot be constructed (an `!!int "3.11"`, say)."""
    pending = [node]
    visited: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in visited:
            continue
        visited.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            loader = _Loader("")
            try:
                loader.construct_object(current, deep=True)
            except Exception:  # any failure locates the culprit
                return int(current.start_mark.line) + 1
            finally:
                loader.dispose()
        elif isinstance(current, yaml.MappingNode):
            pending.extend(part for pair in current.value for part in pair)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
    return int(node.start_mark.line) + 1


class _NotUtf8(UnicodeError):
    pass


def _decode(data: bytes) -> str:
    # PowerShell's `conda env export > conda.yaml` writes UTF-16; the env builders (and MLflow's)
    # read UTF-8, so say what to do rather than which byte failed.
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _NotUtf8("the file is UTF-16 encoded (as PowerShell writes it); save it as UTF-8")
    return data.decode("utf-8")


def load_yaml(path: Path, display_name: str | None = None) -> YamlDocument:
    """Parse `path`; syntax errors and duplicate keys become problems, not exceptions."""
    name = display_name or str(path)
    doc = YamlDocument(file=name, data=None)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            doc.problems.append(
                Problem(name, None, "", f"the file is {size} bytes; at most {MAX_FILE_BYTES} are read")
            )
            return doc
        raw = path.read_bytes()
        text = _decode(raw)
    except _NotUtf8 as err:
        doc.problems.append(Problem(name, None, "", str(err)))
        return doc
    except (OSError, UnicodeDecodeError) as err:
        doc.problems.append(Problem(name, None, "", f"cannot read file: {err}"))
        return doc
    import hashlib

    parsed = parse_yaml(text, name)
    parsed.digest = hashlib.sha256(raw).hexdigest()
    return parsed


def _tab_indented_line(text: str, failed_at: int | None) -> int | None:
    """The 1-based line indented with a tab that made the parser fail there (or just before)."""
    if failed_at is None:
        return None
    lines = text.splitlines()
    for index in (failed_at, failed_at - 1):
        if 0 <= index < len(lines):
            line = lines[index]
            if "\t" in line[: len(line) - len(line.lstrip(" \t"))]:
                return index + 1
    return None


def parse_yaml(text: str, name: str) -> YamlDocument:
    """Parse YAML (or JSON) text; syntax errors and duplicate keys become problems."""
    doc = YamlDocument(file=name, data=None, text=text)
    if len(text) > MAX_FILE_BYTES:
        doc.problems.append(Problem(name, None, "", f"the text is over {MAX_FILE_BYTES} characters"))
        return doc
    loader = _Loader(text)
    node: yaml.Node | None = None
    try:
        node = loader.get_single_node()
        if node is not None:
            sizes: dict[int, int] = {}
            # Only aliases make a document bigger than its text: a long plain file is not refused here.
            if _expanded_size(node, sizes, set()) > max(MAX_EXPANDED_NODES, len(sizes)):
                raise _TooBig(
                    f"YAML aliases expand to more than {MAX_EXPANDED_NODES} values "
                    "(a 'billion laughs'?); refused"
                )
            _walk(node, (), doc, set())
            doc.data = loader.construct_document(node)
    except _TooBig as err:
        doc.problems.append(Problem(name, None, "", str(err)))
    except yaml.MarkedYAMLError as err:
        # The context mark is where the broken construct starts (an unclosed quote, say).
        mark = err.context_mark or err.problem_mark
        line = mark.line + 1 if mark else None
        message = f"{err.context}: {err.problem}" if err.context else str(err.problem or err)
        if err.context and err.problem_mark is not None:
            message += f" (at line {err.problem_mark.line + 1})"
        tab = _tab_indented_line(text, err.problem_mark.line if err.problem_mark else None)
        if tab is not None:
            line, message = tab, "tabs are not allowed for indentation in YAML: indent with spaces"
        else:
            message = f"YAML syntax error: {message}"
        doc.problems.append(Problem(name, line, "", message))
    except yaml.YAMLError as err:
        doc.problems.append(Problem(name, None, "", f"YAML error: {err}"))
    # Anything else (ValueError from `!!int "3.11"`, say) is still a mistake in the user's file.
    except Exception as err:
        line = None if node is None else _failing_line(node)
        doc.problems.append(Problem(name, line, "", f"YAML value cannot be read: {err}"))
    finally:
        loader.dispose()
    return doc


def json_of(data: Any) -> str | None:
    """JSON that reads back as exactly `data`, or None (a YAML date, a number key, NaN, ...)."""
    import json

    try:
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return text if json.loads(text) == data else None
