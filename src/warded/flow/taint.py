"""Provenance labels and value-level taint: where could an argument's value have come from?

Every text that enters a session carries a label — ``user`` (the trusted request), ``system``,
``tool:<name>`` (untrusted unless policy trusts the tool or the field), ``agent:<id>`` (another agent:
untrusted unless its signed envelope verified and it forwarded only trusted data). The values in each
text are indexed with their label and whether that source is trusted. When an action arrives, each
value in its arguments is looked up: a value seen only in untrusted sources — never in the user's
request or in trusted data — is *tainted*, and a sensitive action driven by it needs a human (or is
refused), with an explanation naming the argument, the value, the sources and the rule.

``trace`` is pure; ``FlowIndex`` is the per-session state the edge keeps.
"""

from __future__ import annotations

import fnmatch
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from warded.core.walk import DEEPEST
from warded.flow.values import Kind, Value, argument_values, extract

USER = "user"
SYSTEM = "system"
MAX_VALUES_PER_SESSION = 200_000
MAX_SESSIONS = 10_000


def tool_label(tool: str) -> str:
    return f"tool:{tool}"


@dataclass(frozen=True, slots=True)
class Seen:
    """One place a value was seen."""

    label: str
    trusted: bool
    where: str  # field path inside a structured tool output, or "" for the whole text


@dataclass(frozen=True, slots=True)
class TaintFinding:
    """An argument whose value came only from untrusted data."""

    rule_id: str
    argument: str
    value: Value
    sources: tuple[Seen, ...]

    @property
    def message(self) -> str:
        where = ", ".join(sorted({s.label + (f" ({s.where})" if s.where else "") for s in self.sources}))
        return (
            f"argument {self.argument!r} carries {self.value} that appears only in untrusted data "
            f"[{where}], never in the user's request or trusted data"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "argument": self.argument,
            "kind": self.value.kind.value,
            "value": self.value.shown,
            "sources": [{"label": s.label, "trusted": s.trusted, "where": s.where} for s in self.sources],
        }


@dataclass(frozen=True, slots=True)
class TrustRules:
    """What policy trusts: whole tools, or fields of a tool's structured output (glob paths)."""

    trusted_tools: frozenset[str] = frozenset()
    trusted_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    trusted_agents: frozenset[str] = frozenset()

    def trusted(self, label: str, where: str) -> bool:
        if label in (USER, SYSTEM):
            return True
        if label.startswith("tool:"):
            tool = label[5:]
            if tool in self.trusted_tools:
                return True
            return any(fnmatch.fnmatchcase(where, _glob(p)) for p in self.trusted_fields.get(tool, ()))
        if label.startswith("agent:"):
            return label[6:] in self.trusted_agents
        return False


def _glob(pattern: str) -> str:
    """A field pattern as an fnmatch pattern: ``[]`` (a list item) is literal, ``*`` is a wildcard."""
    return pattern.replace("[]", "[[][]]")


def texts_of(value: object, where: str = "") -> Iterable[tuple[str, str]]:
    """(field path, text) for every scalar inside a tool's output: keys joined by ``.``, list items as
    ``[]`` — ``transactions[].subject``. Policy patterns use the same notation with ``*`` wildcards."""
    stack: list[tuple[object, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | float):
            yield path, repr(item)
        elif depth < DEEPEST and isinstance(item, Mapping):
            for k, v in item.items():
                if isinstance(k, str):
                    yield path, k  # keys carry values too (e.g. {"alice@example.com": "read"})
                stack.append((v, f"{path}.{k}" if path else str(k), depth + 1))
        elif depth < DEEPEST and isinstance(item, list | tuple):
            stack.extend((v, f"{path}[]", depth + 1) for v in item)


def index_text(label: str, value: object, rules: TrustRules) -> dict[str, set[Seen]]:
    """Pure: the values in one labelled input (a text or a structured tool output), keyed for lookup."""
    out: dict[str, set[Seen]] = {}
    for where, text in texts_of(value):
        seen = Seen(label, rules.trusted(label, where), where)
        for found in extract(text):
            out.setdefault(_key(found), set()).add(seen)
    return out


def _key(value: Value) -> str:
    kind = Kind.IBAN if value.kind is Kind.NUMBER else value.kind  # account numbers match either way
    return f"{kind.value}:{value.key}"


def trace(
    arguments: Mapping[str, object],
    index: Mapping[str, frozenset[Seen] | set[Seen]],
    *,
    kinds: frozenset[Kind],
    ignore: frozenset[str] = frozenset(),
) -> list[TaintFinding]:
    """Pure: the arguments whose values were seen only in untrusted sources."""
    findings: list[TaintFinding] = []
    for name, raw in arguments.items():
        if name in ignore:
            continue
        for value in sorted(argument_values(raw), key=lambda v: (v.kind.value, v.key)):
            if value.kind not in kinds:
                continue
            sources = index.get(_key(value))
            if sources and not any(s.trusted for s in sources):
                ordered = tuple(sorted(sources, key=lambda s: (s.label, s.where)))
                findings.append(TaintFinding(f"flow.untrusted.{value.kind.value}", name, value, ordered))
    return findings


class FlowIndex:
    """Per-session value index (the edge's state). Thread-safe, bounded in sessions and values."""

    def __init__(self, rules: TrustRules) -> None:
        self.rules = rules
        self._sessions: OrderedDict[tuple[str, str], dict[str, set[Seen]]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, agent_id: str, session_id: str, label: str, value: object) -> int:
        """Index a labelled input for the session; returns how many values it added."""
        found = index_text(label, value, self.rules)
        with self._lock:
            key = (agent_id, session_id)
            table = self._sessions.setdefault(key, {})
            self._sessions.move_to_end(key)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
            for k, seen in found.items():
                if len(table) >= MAX_VALUES_PER_SESSION and k not in table:
                    break
                table.setdefault(k, set()).update(seen)
        return len(found)

    def record_labelled(self, agent_id: str, session_id: str, labels: Iterable[str], value: object) -> int:
        """Index an input that carries several provenance labels (a message relayed by another agent):
        it is trusted only if every label is; taint is a lower bound that survives hand-offs."""
        names = sorted(set(labels)) or ["untrusted"]
        trusted = all(self.rules.trusted(label, "") for label in names)
        label = " via ".join(names)
        found: dict[str, set[Seen]] = {}
        for where, text in texts_of(value):
            for item in extract(text):
                found.setdefault(_key(item), set()).add(Seen(label, trusted, where))
        with self._lock:
            table = self._sessions.setdefault((agent_id, session_id), {})
            for k, seen in found.items():
                table.setdefault(k, set()).update(seen)
        return len(found)

    def view(self, agent_id: str, session_id: str) -> Mapping[str, set[Seen]]:
        """A read-only live view of the session's index (no copy)."""
        with self._lock:
            return MappingProxyType(self._sessions.get((agent_id, session_id), {}))
