"""YAML loading that keeps line numbers and refuses duplicate keys.

PyYAML silently lets a repeated key win; in a security policy that hides mistakes
(a second ``tools:`` list replacing the first), so duplicates are an error here.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from warded.errors import PolicyError, PolicyProblem

Path_ = tuple[str | int, ...]
MAX_POLICY_BYTES = 4 * 1024 * 1024


class _Loader(yaml.SafeLoader):
    """SafeLoader: no arbitrary Python objects, only plain data."""


def _at(file: str, node: Node, message: str) -> PolicyProblem:
    return PolicyProblem(file, node.start_mark.line + 1, node.start_mark.column + 1, message)


def _walk(
    node: Node, path: Path_, marks: dict[Path_, tuple[int, int]], problems: list[PolicyProblem], file: str
) -> None:
    marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                problems.append(_at(file, key_node, "mapping keys must be plain strings"))
                continue
            key = str(key_node.value)
            if key == "<<":
                problems.append(_at(file, key_node, "YAML merge keys ('<<') are not allowed"))
                continue
            if key in seen:
                problems.append(_at(file, key_node, f"duplicate key {key!r}"))
            seen.add(key)
            marks[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, (*path, key), marks, problems, file)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), marks, problems, file)


def load_yaml(text: str | bytes, file: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    """Parse one YAML document; return the data and a map from key path to (line, column)."""
    if isinstance(text, bytes):
        if len(text) > MAX_POLICY_BYTES:
            raise PolicyError([PolicyProblem(file, 1, 1, f"policy file larger than {MAX_POLICY_BYTES} bytes")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(
                [PolicyProblem(file, 1, 1, f"policy file is not valid UTF-8 ({exc.reason} at byte {exc.start})")]
            ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise PolicyError([PolicyProblem(file, line, 1, "NUL byte in policy file")])
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise PolicyError([PolicyProblem(file, 1, 1, "policy file is empty")])
        marks: dict[Path_, tuple[int, int]] = {}
        problems: list[PolicyProblem] = []
        _walk(node, (), marks, problems, file)
        if problems:
            raise PolicyError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise PolicyError([PolicyProblem(file, line, col, f"YAML syntax error: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([PolicyProblem(file, 1, 1, f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    return data, marks


def locate(marks: dict[Path_, tuple[int, int]], path: Path_) -> tuple[int, int]:
    """The line and column of the deepest known prefix of ``path``."""
    for end in range(len(path), -1, -1):
        found = marks.get(tuple(path[:end]))
        if found is not None:
            return found
    return (1, 1)
