"""YAML loading that keeps line numbers and refuses what a policy file has no use for.

PyYAML silently lets a repeated key win; in a security policy that hides mistakes (a second ``tools:``
list replacing the first), so duplicates are an error here. The rest is refused while the parser's
events are composed into nodes, before anything is built from them, so that no input can make the
loader expand, recurse or allocate beyond what the file's own size allows:

* anchors (``&a``) and aliases (``*a``): an alias is a reference, and nested references expand
  exponentially (a 511-byte "billion laughs" file took ``warded check`` to 3 GB); no alias is ever
  followed;
* explicit tags (``!!python/object``, ``!!binary``, ``!!int "x"``, ``!foo``): a policy is plain data;
* nesting deeper than :data:`MAX_DEPTH` (the composer, the walker and the constructor recurse);
* number literals longer than :data:`MAX_NUMBER_CHARS` (Python refuses to convert integers of more
  than 4,300 digits, and no policy value needs more than a few);
* merge keys (``<<``), non-scalar keys and duplicate keys.

Every problem is a :class:`~warded.errors.PolicyProblem` with file, line and column; anything the
loader did not foresee still ends in a ``PolicyError``, never in a traceback.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from yaml.error import Mark
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from warded.errors import PolicyError, PolicyProblem

Path_ = tuple[str | int, ...]
MAX_POLICY_BYTES = 4 * 1024 * 1024
#: Deepest nesting of mappings and lists (a real policy needs under 10).
MAX_DEPTH = 64
#: Longest integer or float literal.
MAX_NUMBER_CHARS = 100
#: The loader stops collecting problems of one file after this many and refuses it with those.
MAX_PROBLEMS = 50

_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


class _TooMany(Exception):
    """Internal: enough problems collected; stop composing."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, anchors, explicit tags and deep nesting while composing.

    The checks run on each parser event before the node for it is composed, so an alias is never
    followed and nesting never recurses past :data:`MAX_DEPTH`.
    """

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self.file = file
        self.problems: list[PolicyProblem] = []
        self.depth = 0

    def problem(self, mark: Any, message: str) -> None:
        line, col = mark.line + 1, mark.column + 1
        self.problems.append(PolicyProblem(self.file, line, col, message))
        if len(self.problems) >= MAX_PROBLEMS:
            self.problems.append(PolicyProblem(self.file, line, col, "too many problems: stopped reading here"))
            raise _TooMany

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            # Never follow it: refuse, and stand in an empty scalar so composing can go on to report more.
            self.get_event()  # type: ignore[no-untyped-call]
            self.problem(event.start_mark, f"YAML aliases ('*{event.anchor}') are not allowed")
            return ScalarNode("tag:yaml.org,2002:null", "", cast(Mark, event.start_mark), cast(Mark, event.end_mark))
        if isinstance(event, NodeEvent) and event.anchor is not None:
            self.problem(event.start_mark, f"YAML anchors ('&{event.anchor}') are not allowed")
        tag = getattr(event, "tag", None)
        if tag is not None:
            self.problem(event.start_mark, f"YAML tags ({tag!r}) are not allowed")
            # Drop the tag so that nothing is constructed from it.
            event.tag = None
            if isinstance(event, yaml.ScalarEvent):
                event.implicit = (True, True) if event.style is None else (False, True)
        if isinstance(event, CollectionStartEvent):
            if self.depth >= MAX_DEPTH:
                self.problem(event.start_mark, f"nesting deeper than {MAX_DEPTH} levels")
                raise _TooMany
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1
        return super().compose_node(parent, index)


def _walk(node: Node, path: Path_, marks: dict[Path_, tuple[int, int]], loader: _Loader) -> None:
    marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                loader.problem(key_node.start_mark, "mapping keys must be plain strings")
                continue
            key = str(key_node.value)
            if key == "<<":
                loader.problem(key_node.start_mark, "YAML merge keys ('<<') are not allowed")
                continue
            if key in seen:
                loader.problem(key_node.start_mark, f"duplicate key {key!r}")
            seen.add(key)
            marks[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _scalar(key_node, loader)
            _walk(value_node, (*path, key), marks, loader)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), marks, loader)
    elif isinstance(node, ScalarNode):
        _scalar(node, loader)


def _scalar(node: ScalarNode, loader: _Loader) -> None:
    """Build one scalar now, where its position is known (the result is cached for the document)."""
    if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
        loader.problem(node.start_mark, f"number literal longer than {MAX_NUMBER_CHARS} characters")
        return
    try:
        loader.construct_object(node)
    except yaml.MarkedYAMLError:
        raise
    except Exception as exc:  # e.g. a date that does not exist (2001-13-45)
        loader.problem(node.start_mark, f"cannot read value {node.value[:40]!r}: {exc}")


def load_yaml(text: str | bytes, file: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    """Parse one YAML document; return the data and a map from key path to (line, column).

    Raises ``PolicyError`` listing every problem found (up to :data:`MAX_PROBLEMS`); never anything else.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_POLICY_BYTES:
            raise PolicyError([PolicyProblem(file, 1, 1, f"policy file larger than {MAX_POLICY_BYTES} bytes")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(
                [PolicyProblem(file, 1, 1, f"policy file is not valid UTF-8 ({exc.reason} at byte {exc.start})")]
            ) from None
    if len(text) > MAX_POLICY_BYTES:
        raise PolicyError([PolicyProblem(file, 1, 1, f"policy file larger than {MAX_POLICY_BYTES} characters")])
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise PolicyError([PolicyProblem(file, line, 1, "NUL byte in policy file")])
    loader = _Loader(text, file)
    marks: dict[Path_, tuple[int, int]] = {}
    try:
        node = loader.get_single_node()
        if node is None and not loader.problems:
            raise PolicyError([PolicyProblem(file, 1, 1, "policy file is empty")])
        if node is not None:
            _walk(node, (), marks, loader)
        if loader.problems:
            raise PolicyError(loader.problems)
        data = loader.construct_document(node)
    except _TooMany:
        raise PolicyError(loader.problems) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        syntax = PolicyProblem(file, line, col, f"YAML syntax error: {exc.problem or exc}")
        raise PolicyError([*loader.problems, syntax]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([*loader.problems, PolicyProblem(file, 1, 1, f"YAML error: {exc}")]) from None
    except PolicyError:
        raise
    except Exception as exc:  # fail closed with a message, never a traceback
        where = loader.problems or [PolicyProblem(file, 1, 1, f"cannot read the policy: {type(exc).__name__}")]
        raise PolicyError(where) from None
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
