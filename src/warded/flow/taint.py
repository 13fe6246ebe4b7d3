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
from warded.errors import WardedError
from warded.flow.normalise import canonical_text
from warded.flow.values import Kind, Value, argument_values, extract

USER = "user"
SYSTEM = "system"
MAX_VALUES_PER_SESSION = 200_000
MAX_SESSIONS = 10_000


class PlanLocked(WardedError):
    """A plan declared after untrusted data entered the session (refused)."""


def tool_label(tool: str) -> str:
    return f"tool:{tool}"


def source_label(source: str) -> tuple[str, str | None]:
    """A declared argument source, ``tool`` (its whole output) or ``tool:field.path`` (one field of it, in
    the index's notation, e.g. ``get_transactions:[].sender``), as (label, field path or None)."""
    tool, sep, where = source.partition(":")
    return tool_label(tool), (where if sep else None)


@dataclass(frozen=True, slots=True)
class Seen:
    """One place a value was seen."""

    label: str
    trusted: bool
    where: str  # field path inside a structured tool output, or "" for the whole text
    flagged: bool = False  # the content guard flagged this output (proportionate quarantine)


@dataclass(frozen=True, slots=True)
class TaintFinding:
    """An argument whose value came only from untrusted data."""

    rule_id: str
    argument: str
    value: Value
    sources: tuple[Seen, ...]
    reason: str = ""  # the rule's own sentence (positive provenance, plan lock, copied text); "" for taint

    @property
    def message(self) -> str:
        where = ", ".join(sorted({s.label + (f" ({s.where})" if s.where else "") for s in self.sources}))
        if self.reason:
            subject = f"argument {self.argument!r} carries {self.value}" if self.argument else f"{self.value}"
            return f"{subject}: {self.reason}" + (f" [seen in: {where}]" if where else "")
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
            "sources": [
                {"label": s.label, "trusted": s.trusted, "where": s.where, **({"flagged": True} if s.flagged else {})}
                for s in self.sources
            ],
            **({"reason": self.reason} if self.reason else {}),
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


def index_text(label: str, value: object, rules: TrustRules, *, flagged: bool = False) -> dict[str, set[Seen]]:
    """Pure: the values in one labelled input (a text or a structured tool output), keyed for lookup."""
    out: dict[str, set[Seen]] = {}
    for where, text in texts_of(value):
        # A flagged output is untrusted whatever the policy trusts: it justifies nothing.
        seen = Seen(label, not flagged and rules.trusted(label, where), where, flagged)
        for found in extract(text):
            out.setdefault(_key(found), set()).add(seen)
    return out


def _key(value: Value) -> str:
    kind = Kind.IBAN if value.kind is Kind.NUMBER else value.kind  # account numbers match either way
    return f"{kind.value}:{value.key}"


def value_key(value: Value) -> str:
    """The key a value is indexed under (account numbers and IBANs share one)."""
    return _key(value)


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


MAX_TRUSTED_CHARS = 4_000_000  # canonical trusted text kept per session (positive provenance)
MAX_GRAMS = 500_000  # word runs of untrusted text kept per session (copied-text taint)


@dataclass
class SessionFlow:
    """What one session has seen: the value index, the trusted texts (canonical), the word runs of untrusted
    text, the labels of untrusted and flagged inputs, and the declared plan."""

    table: dict[str, set[Seen]] = field(default_factory=dict)
    trusted_texts: list[str] = field(default_factory=list)
    trusted_chars: int = 0
    grams: dict[int, set[str]] = field(default_factory=dict)  # hash of a word run -> untrusted labels
    flagged_grams: set[int] = field(default_factory=set)
    trusted_grams: set[int] = field(default_factory=set)
    untrusted: set[str] = field(default_factory=set)
    flagged: set[str] = field(default_factory=set)
    plan: frozenset[str] | None = None
    overflow: bool = False  # a bound was reached: what was not kept cannot justify anything
    # Declared argument sources ("tool.argument" -> labels of the tools whose output may supply its values),
    # and the canonical texts of those tools' outputs (as the plan named them before untrusted data entered).
    sources: dict[str, frozenset[tuple[str, str | None]]] = field(default_factory=dict)
    source_texts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # label -> (field path, canon)


@dataclass(frozen=True, slots=True)
class Evidence:
    """A read-only view of one session's flow, as the pure checks take it (``warded.flow.justify``)."""

    table: Mapping[str, set[Seen]]
    trusted_texts: tuple[str, ...]
    grams: Mapping[int, set[str]]
    flagged_grams: frozenset[int]
    trusted_grams: frozenset[int]
    untrusted: frozenset[str]
    flagged: frozenset[str]
    plan: frozenset[str] | None
    words: int  # the length of the word runs in ``grams``
    overflow: bool = False  # a bound of the index was reached: some of what entered was not kept
    # declared argument sources: "tool.argument" -> (label, field path or None for the whole output)
    sources: Mapping[str, frozenset[tuple[str, str | None]]] = field(default_factory=dict)
    source_texts: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # (path, canon)


def word_runs(text: str, words: int) -> set[int]:
    """Hashes of every run of ``words`` consecutive words of ``text`` in its canonical form."""
    tokens = canonical_text(text).split()
    if len(tokens) < words:
        return set()
    return {hash(" ".join(tokens[i : i + words])) for i in range(len(tokens) - words + 1)}


class FlowIndex:
    """Per-session flow state (the edge's state). Thread-safe, bounded in sessions and values."""

    def __init__(self, rules: TrustRules, *, words: int = 8) -> None:
        self.rules = rules
        self.words = words
        self._sessions: OrderedDict[tuple[str, str], SessionFlow] = OrderedDict()
        self._lock = threading.Lock()

    def _session(self, key: tuple[str, str]) -> SessionFlow:
        flow = self._sessions.get(key)
        if flow is None:
            flow = self._sessions[key] = SessionFlow()
        self._sessions.move_to_end(key)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return flow

    def record(self, agent_id: str, session_id: str, label: str, value: object, *, flagged: bool = False) -> int:
        """Index a labelled input for the session; returns how many values it added. ``flagged``: the content
        guard flagged this output, so everything that came from it is tainted (``flow.flagged.*``)."""
        found = index_text(label, value, self.rules, flagged=flagged)
        texts = list(texts_of(value))

        def trusted_at(where: str) -> bool:
            # The content guard flagged this output: nothing in it is trusted, whatever the policy trusts.
            return not flagged and self.rules.trusted(label, where)

        trusted = [(w, t) for w, t in texts if trusted_at(w)]
        untrusted = [(w, t) for w, t in texts if not trusted_at(w)]
        canon = [canonical_text(t) for _, t in trusted]
        runs = [word_runs(t, self.words) for _, t in texts]
        with self._lock:
            flow = self._session((agent_id, session_id))
            self._merge(flow, found)
            named_source = any(label == named for pairs in flow.sources.values() for named, _ in pairs)
            if named_source and not flagged:  # a flagged output is no declared source's text
                kept = flow.source_texts.setdefault(label, [])
                for where, text in texts:
                    source = canonical_text(text)
                    if flow.trusted_chars + len(source) > MAX_TRUSTED_CHARS:
                        flow.overflow = True
                        break
                    kept.append((where, source))
                    flow.trusted_chars += len(source)
            for text in canon:
                if flow.trusted_chars + len(text) > MAX_TRUSTED_CHARS:
                    flow.overflow = True
                    break
                flow.trusted_texts.append(text)
                flow.trusted_chars += len(text)
            for (where, _), grams in zip(texts, runs, strict=True):
                if trusted_at(where):
                    flow.trusted_grams.update(grams)
                    continue
                for gram in grams:
                    if len(flow.grams) >= MAX_GRAMS and gram not in flow.grams:
                        flow.overflow = True
                        break
                    flow.grams.setdefault(gram, set()).add(label)
                    if flagged:
                        flow.flagged_grams.add(gram)
            if untrusted or flagged:
                flow.untrusted.add(label)
                if flagged:
                    flow.flagged.add(label)
        return len(found)

    def _merge(self, flow: SessionFlow, found: Mapping[str, set[Seen]]) -> None:
        table = flow.table
        for k, seen in found.items():
            if len(table) >= MAX_VALUES_PER_SESSION and k not in table:
                flow.overflow = True
                break
            table.setdefault(k, set()).update(seen)

    def record_labelled(self, agent_id: str, session_id: str, labels: Iterable[str], value: object) -> int:
        """Index an input that carries several provenance labels (a message relayed by another agent):
        it is trusted only if every label is; taint is a lower bound that survives hand-offs."""
        names = sorted(set(labels)) or ["untrusted"]
        trusted = all(self.rules.trusted(label, "") for label in names)
        label = " via ".join(names)
        found: dict[str, set[Seen]] = {}
        texts = list(texts_of(value))
        for where, text in texts:
            for item in extract(text):
                found.setdefault(_key(item), set()).add(Seen(label, trusted, where))
        runs = [word_runs(t, self.words) for _, t in texts]
        canon = [canonical_text(t) for _, t in texts] if trusted else []
        with self._lock:
            flow = self._session((agent_id, session_id))
            self._merge(flow, found)
            if trusted:
                flow.trusted_texts.extend(canon)
                for grams in runs:
                    flow.trusted_grams.update(grams)
            else:
                flow.untrusted.add(label)
                for grams in runs:
                    for gram in grams:
                        flow.grams.setdefault(gram, set()).add(label)
        return len(found)

    def view(self, agent_id: str, session_id: str) -> Mapping[str, set[Seen]]:
        """A read-only live view of the session's index (no copy)."""
        with self._lock:
            flow = self._sessions.get((agent_id, session_id))
            return MappingProxyType(flow.table if flow is not None else {})

    def evidence(self, agent_id: str, session_id: str) -> Evidence:
        """A read-only view of everything the session has seen (the pure checks' input)."""
        with self._lock:
            flow = self._sessions.get((agent_id, session_id)) or SessionFlow()
            return Evidence(
                MappingProxyType(flow.table),
                tuple(flow.trusted_texts),
                MappingProxyType(flow.grams),
                frozenset(flow.flagged_grams),
                frozenset(flow.trusted_grams),
                frozenset(flow.untrusted),
                frozenset(flow.flagged),
                flow.plan,
                self.words,
                flow.overflow,
                MappingProxyType(dict(flow.sources)),
                MappingProxyType({k: tuple(v) for k, v in flow.source_texts.items()}),
            )

    def has_untrusted(self, agent_id: str, session_id: str) -> bool:
        with self._lock:
            flow = self._sessions.get((agent_id, session_id))
            return flow is not None and bool(flow.untrusted)

    def set_plan(
        self,
        agent_id: str,
        session_id: str,
        tools: Iterable[str],
        sources: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """Declare the session's plan, optionally with argument sources (``"tool.argument"`` -> the tools whose
        output may supply its values). Refused (:class:`PlanLocked`) once untrusted data has entered the
        session: a plan written after reading untrusted data could have been written by it."""
        with self._lock:
            flow = self._session((agent_id, session_id))
            if flow.untrusted:
                raise PlanLocked(
                    f"untrusted data has entered session {session_id!r} ({', '.join(sorted(flow.untrusted))}); "
                    "its plan can no longer be declared or changed"
                )
            flow.plan = frozenset(tools)
            flow.sources = {arg: frozenset(map(source_label, names)) for arg, names in (sources or {}).items()}
            flow.source_texts = {}
