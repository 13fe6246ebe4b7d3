"""One bounded walk over JSON-like data: every text inside it, mapping keys as well as values.

Arguments and tool results come from parties warded does not trust, so the walk is iterative (no
recursion to blow up) and bounded in depth, in the number of nodes it visits and in the characters of
text it collects. Reaching a bound is never silent: the walk stops and says which bound it reached and
where (:attr:`Walk.overflow`), and the caller turns that into a finding that refuses the value, the way
over-long text gets ``scan.too_large``. Everything a walk returns without an overflow was read whole.

Depth counts the way :func:`warded.core.inputs.check_arguments` does: the root is at depth 1, its
children at depth 2; a mapping key sits at the depth of its value. Nodes are every value and every key.

Texts come out in document order (pre-order, a key before its value), numbered by :attr:`Text.index`;
:func:`map_texts` rebuilds a value in that same order, so a caller can rewrite texts by index without
relying on paths (which two different keys can share: ``{"a.b": x}`` and ``{"a": {"b": x}}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

__all__ = [
    "ARGUMENT_ITEMS",
    "DEEPEST",
    "MAX_ITEMS",
    "RESULT_DEPTH",
    "Bound",
    "Limits",
    "Overflow",
    "Text",
    "Walk",
    "map_texts",
    "walk",
]

#: The most values an argument set may hold at all (:func:`warded.core.inputs.check_arguments`).
MAX_ITEMS = 100_000
#: The most nodes (values and keys) the content guard reads in one argument set. Arguments are scanned
#: inside a decision's time budget, so this is far below :data:`MAX_ITEMS`; past it the call is refused.
ARGUMENT_ITEMS = 4096
#: How deep the content guard reads a tool result (results have no input check of their own).
RESULT_DEPTH = 64
#: No policy lets a walk go deeper than this (``max_argument_depth`` is at most 256): a walker that must
#: see all of what the guard read (taint tracing) reads at least this deep.
DEEPEST = 256
#: Path components longer than this are shortened in paths (the text itself is always read whole).
_PATH_KEY_CHARS = 64


class Bound(StrEnum):
    """Which bound a walk reached. The value is the suffix of the rule id (``scan.too_deep``)."""

    DEPTH = "too_deep"
    ITEMS = "too_many_items"
    CHARS = "too_large"


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 32
    max_items: int = MAX_ITEMS
    max_chars: int = 1 << 20

    def __post_init__(self) -> None:
        if self.max_depth < 1 or self.max_items < 1 or self.max_chars < 0:
            raise ValueError("walk limits must be positive")


# A path as a chain of links, rendered only when asked for: (parent link, part) or None for the root.
_Link = tuple[Any, str] | None


def _render(root: str, link: _Link) -> str:
    parts: list[str] = []
    while link is not None:
        link, part = link
        parts.append(part)
    text = root + "".join(reversed(parts))
    if not root and text.startswith("."):
        text = text[1:]
    return text or "value"


class Text:
    """One text in the walked value: ``path`` names it (``to[0]``, ``body``; a key as ``headers{key 2}``),
    ``key`` says it is a mapping key, ``index`` is its number in document order."""

    __slots__ = ("_link", "_root", "index", "key", "text")

    def __init__(self, text: str, *, key: bool = False, index: int = 0, root: str = "", link: _Link = None) -> None:
        self.text = text
        self.key = key
        self.index = index
        self._root = root
        self._link = link

    @property
    def path(self) -> str:
        return _render(self._root, self._link)

    def __repr__(self) -> str:
        return f"Text({self.path!r}, {self.text[:40]!r}, key={self.key}, index={self.index})"


@dataclass(frozen=True, slots=True)
class Overflow:
    """The bound a walk reached, where, and a message that says so."""

    bound: Bound
    path: str
    message: str


@dataclass(frozen=True, slots=True)
class Walk:
    texts: tuple[Text, ...]
    overflow: Overflow | None
    items: int
    chars: int

    @property
    def complete(self) -> bool:
        return self.overflow is None


def _key_part(key: object) -> str:
    text = key if isinstance(key, str) else str(key)
    return "." + (text if len(text) <= _PATH_KEY_CHARS else text[: _PATH_KEY_CHARS - 1] + "…")


def walk(value: object, limits: Limits = Limits(), root: str = "", *, keep_texts: bool = True) -> Walk:
    """Every text inside ``value`` (keys and values, in document order) with the path naming it.

    Stops at the first bound reached and reports it in :attr:`Walk.overflow`; the texts read up to
    then are returned too (a caller may still scan them, but must refuse the value). With
    ``keep_texts=False`` only the bounds are checked and no texts are returned.
    """
    out: list[Text] = []
    items = 0
    chars = 0
    max_items, max_depth, max_chars = limits.max_items, limits.max_depth, limits.max_chars
    # (node, path link, depth, is_key). Children are pushed in reverse so that pops come in document order.
    stack: list[tuple[object, _Link, int, bool]] = [(value, None, 1, False)]
    pop = stack.pop
    push = stack.append
    while stack:
        item, link, depth, is_key = pop()
        items += 1
        if depth > max_depth:
            return _stopped(out, Bound.DEPTH, root, link, f"nested deeper than {max_depth} levels", items, chars)
        if isinstance(item, str):
            chars += len(item)
            if chars > max_chars:
                return _stopped(out, Bound.CHARS, root, link, f"more than {max_chars} characters", items, chars)
            if keep_texts:
                out.append(Text(item, key=is_key, index=len(out), root=root, link=link))
        elif isinstance(item, Mapping):
            entries = list(cast(Mapping[object, object], item).items())
            # Every node on the stack will be visited: refuse now rather than stack a million of them.
            if items + len(stack) + 2 * len(entries) > max_items:
                return _stopped(out, Bound.ITEMS, root, link, f"more than {max_items} items", items, chars)
            for n in range(len(entries) - 1, -1, -1):
                key, child = entries[n]
                push((child, (link, _key_part(key)), depth + 1, False))
                if isinstance(key, str):
                    # A key's path names its position, not its text: the key may be the secret.
                    push((key, (link, f"{{key {n}}}"), depth + 1, True))
        elif isinstance(item, list | tuple):
            seq = cast("list[object] | tuple[object, ...]", item)
            if items + len(stack) + len(seq) > max_items:
                return _stopped(out, Bound.ITEMS, root, link, f"more than {max_items} items", items, chars)
            for i in range(len(seq) - 1, -1, -1):
                push((seq[i], (link, f"[{i}]"), depth + 1, False))
    return Walk(tuple(out), None, items, chars)


def _stopped(out: list[Text], bound: Bound, root: str, link: _Link, what: str, items: int, chars: int) -> Walk:  # noqa: PLR0917
    where = _render(root, link)
    message = f"{what} (at {where[:120]}); the rest was not read"
    return Walk(tuple(out), Overflow(bound, where, message), items, chars)


def map_texts(value: Any, replace: Callable[[int, str], str | None], limits: Limits = Limits()) -> Any:
    """A copy of ``value`` in which text number ``i`` (as :func:`walk` numbers them) becomes
    ``replace(i, text)`` (``None`` keeps it). Keys are counted but never rewritten.

    Call it only on a value whose :func:`walk` under the same ``limits`` was complete: the copy is made
    recursively, and a value deeper than ``limits.max_depth`` raises ``ValueError``.
    """
    counter = [0]

    def text(item: str) -> str:
        i = counter[0]
        counter[0] += 1
        new = replace(i, item)
        return item if new is None else new

    def copy(item: Any, depth: int) -> Any:
        if depth > limits.max_depth:
            raise ValueError(f"value nested deeper than {limits.max_depth} levels")
        if isinstance(item, str):
            return text(item)
        if isinstance(item, Mapping):
            out: dict[Any, Any] = {}
            for key, child in item.items():
                if isinstance(key, str):
                    counter[0] += 1  # the key's number: keys are read, not rewritten
                out[key] = copy(child, depth + 1)
            return out
        if isinstance(item, list | tuple):
            seq = [copy(child, depth + 1) for child in item]
            return tuple(seq) if isinstance(item, tuple) else seq
        return item

    return copy(value, 1)
