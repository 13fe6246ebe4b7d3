"""YAML loading that keeps line numbers and refuses what a policy or configuration file has no use for.

The one YAML loader: the policy (``warded.yaml``), the chat proxy's ``--config`` and the MCP proxy's
``--mcp-config`` files are all read by :func:`load_yaml` (the latter two through :func:`load_model`).

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
loader did not foresee still ends in a ``PolicyError`` (``ConfigError`` for other files), never in a
traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

import yaml
from pydantic import BaseModel, ValidationError
from yaml.error import Mark
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from warded.errors import ConfigError, PolicyError, PolicyProblem, WardedError

__all__ = ["MAX_DEPTH", "MAX_POLICY_BYTES", "Path_", "load_model", "load_yaml", "locate", "validation_problems"]

Path_ = tuple[str | int, ...]
Refuse = Callable[[list[PolicyProblem]], WardedError]
_M = TypeVar("_M", bound=BaseModel)
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


def load_yaml(
    text: str | bytes,
    file: str,
    *,
    what: str = "policy file",
    refuse: Refuse = PolicyError,
    allow_empty: bool = False,
) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    """Parse one YAML document; return the data and a map from key path to (line, column).

    Raises ``refuse(problems)`` (``PolicyError`` unless told otherwise) listing every problem found (up
    to :data:`MAX_PROBLEMS`); never anything else. ``what`` names the file in problems ("policy file").
    An empty document is a problem unless ``allow_empty`` (then the data is ``None``).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_POLICY_BYTES:
            raise refuse([PolicyProblem(file, 1, 1, f"{what} larger than {MAX_POLICY_BYTES} bytes")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise refuse(
                [PolicyProblem(file, 1, 1, f"{what} is not valid UTF-8 ({exc.reason} at byte {exc.start})")]
            ) from None
    if len(text) > MAX_POLICY_BYTES:
        raise refuse([PolicyProblem(file, 1, 1, f"{what} larger than {MAX_POLICY_BYTES} characters")])
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise refuse([PolicyProblem(file, line, 1, f"NUL byte in {what}")])
    loader = _Loader(text, file)
    marks: dict[Path_, tuple[int, int]] = {}
    try:
        node = loader.get_single_node()
        if node is None and not loader.problems and not allow_empty:
            raise refuse([PolicyProblem(file, 1, 1, f"{what} is empty")])
        if node is not None:
            _walk(node, (), marks, loader)
        if loader.problems:
            raise refuse(loader.problems)
        data = loader.construct_document(node) if node is not None else None
    except _TooMany:
        raise refuse(loader.problems) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        syntax = PolicyProblem(file, line, col, f"YAML syntax error: {exc.problem or exc}")
        raise refuse([*loader.problems, syntax]) from None
    except yaml.YAMLError as exc:
        raise refuse([*loader.problems, PolicyProblem(file, 1, 1, f"YAML error: {exc}")]) from None
    except WardedError:
        raise
    except Exception as exc:  # fail closed with a message, never a traceback
        where = loader.problems or [PolicyProblem(file, 1, 1, f"cannot read the {what}: {type(exc).__name__}")]
        raise refuse(where) from None
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


def validation_problems(exc: ValidationError, marks: dict[Path_, tuple[int, int]], file: str) -> list[PolicyProblem]:
    """pydantic's errors as located problems (``where: message``, unknown keys called out)."""
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
        # pydantic puts model-type names (e.g. "function-before[...]") in loc for unions; drop them.
        loc = tuple(p for p in loc if not (isinstance(p, str) and "[" in p))
        line, col = locate(marks, loc)
        where = ".".join(str(p) for p in loc) or "(top)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; unknown keys are refused)"
        problems.append(PolicyProblem(file, line, col, f"{where}: {message}"))
    return problems


def load_model(path: str | os.PathLike[str], model: type[_M], *, what: str, allow_empty: bool = False) -> _M:
    """Read a YAML (or JSON) configuration file into ``model``: refused whole, with located problems, as a
    :class:`~warded.errors.ConfigError` naming ``what`` ("chat proxy config"). An empty file is refused
    unless ``allow_empty`` (then the model's defaults)."""
    file = os.fspath(path)

    def refuse(problems: list[PolicyProblem]) -> ConfigError:
        return ConfigError(problems, what)

    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise refuse([PolicyProblem(file, 1, 1, f"cannot read the {what}: {exc.strerror}")]) from None
    data, marks = load_yaml(raw, file, what=what, refuse=refuse, allow_empty=allow_empty)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise refuse([PolicyProblem(file, 1, 1, f"the {what} must be a mapping (key: value) at the top")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise refuse(validation_problems(exc, marks, file)) from None
