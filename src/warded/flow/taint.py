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
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from warded.errors import WardedError
from warded.flow.normalise import canonical_text
from warded.flow.values import Kind, Value, argument_values, extract_bounded, leaves

USER = "user"
SYSTEM = "system"
MAX_VALUES_PER_SESSION = 200_000
MAX_SESSIONS = 10_000  # sessions whose flow is kept
# Sessions evicted with untrusted data or a plan, remembered by a 64-bit hash of their id so that their later
# sensitive calls are held (``flow.session_evicted``); past this, new sessions are refused, never forgotten.
MAX_EVICTED = 100_000


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


@dataclass(frozen=True, slots=True)
class Reading:
    """One labelled input as the index reads it: its values keyed for lookup, its texts (field path, text,
    whether it is trusted) and the bounds reached reading it (each one a reason the index is not complete)."""

    found: dict[str, set[Seen]]
    texts: tuple[tuple[str, str, bool], ...]
    bounds: tuple[str, ...]


def read_input(label: str, value: object, trusted_at: Callable[[str], bool], *, flagged: bool = False) -> Reading:
    """Pure: read one labelled input (a text or a structured tool output) with the one bounded walker
    (:func:`warded.flow.values.leaves`: keys and values, field paths in the index's notation — keys joined by
    ``.``, list items as ``[]``, as policy patterns write them) and bounded extraction. ``trusted_at(path)`` says
    whether the text at a field path is trusted."""
    walked = leaves(value)
    bounds = [f"{walked.bound} in {label}"] if walked.bound else []
    found: dict[str, set[Seen]] = {}
    texts: list[tuple[str, str, bool]] = []
    for leaf in walked.items:
        trusted = trusted_at(leaf.path)
        seen = Seen(label, trusted, leaf.path, flagged)
        values, bound = extract_bounded(leaf.text)
        if bound:
            bounds.append(f"{bound} in {label}")
        for item in values:
            found.setdefault(_key(item), set()).add(seen)
        texts.append((leaf.path, leaf.text, trusted))
    return Reading(found, tuple(texts), tuple(dict.fromkeys(bounds)))


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
MAX_TRUSTED_GRAMS = 500_000  # word runs of trusted text kept per session (they answer copied-text findings)
MAX_REASONS = 16  # why the index is not complete: the first reasons are kept, the finding is the same


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
    overflow: set[str] = field(default_factory=set)  # bounds reached: what was not kept cannot justify anything
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
    overflow: tuple[str, ...] = ()  # the bounds of the index reached: some of what entered was not kept
    # "evicted": the session's history was evicted from the index; "full": the index could not take the session
    # at all; "" when its whole history is here.
    lost: str = ""
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
        # The sessions whose loss can only make later decisions stricter (no untrusted data, no plan), least
        # recently used first: they are evicted first, and without a trace.
        self._bare: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._evicted: set[int] = set()  # hashes of sessions evicted with untrusted data or a plan
        self._full = False  # a session was refused: nothing could be evicted without forgetting it
        self._lock = threading.Lock()

    def _session(self, key: tuple[str, str]) -> SessionFlow | None:
        """The session's flow (created if new), or ``None`` when the index is full and no session can be evicted
        without forgetting what must not be forgotten (its calls are then held as ``flow.sessions_full``)."""
        flow = self._sessions.get(key)
        if flow is not None:
            self._sessions.move_to_end(key)
            if key in self._bare:
                self._bare.move_to_end(key)
            return flow
        while len(self._sessions) >= MAX_SESSIONS:
            if not self._evict():
                self._full = True
                return None
        flow = self._sessions[key] = SessionFlow()
        self._bare[key] = None
        return flow

    def _evict(self) -> bool:
        """Make room for one session: a bare one if any, else the least recently used, remembered as evicted."""
        if self._bare:
            key, _ = self._bare.popitem(last=False)
            del self._sessions[key]
            return True
        if len(self._evicted) >= MAX_EVICTED or not self._sessions:
            return False
        key, _ = self._sessions.popitem(last=False)
        self._evicted.add(_session_hash(key))
        return True

    def _settle(self, key: tuple[str, str], flow: SessionFlow) -> None:
        """A session that has seen untrusted data or declared a plan is no longer bare."""
        if flow.untrusted or flow.plan is not None:
            self._bare.pop(key, None)

    def _lost(self, key: tuple[str, str]) -> str:
        if self._evicted and _session_hash(key) in self._evicted:
            return "evicted"
        if self._full and key not in self._sessions:
            return "full"
        return ""

    def record(self, agent_id: str, session_id: str, label: str, value: object, *, flagged: bool = False) -> int:
        """Index a labelled input for the session; returns how many values it added. ``flagged``: the content
        guard flagged this output, so everything that came from it is tainted (``flow.flagged.*``) and nothing
        in it is trusted, whatever the policy trusts."""

        def trusted_at(where: str) -> bool:
            return not flagged and self.rules.trusted(label, where)

        reading = read_input(label, value, trusted_at, flagged=flagged)
        entered = flagged or any(not trusted for _, _, trusted in reading.texts)
        self._keep(agent_id, session_id, label, reading, untrusted=entered, flagged=flagged)
        return len(reading.found)

    def record_labelled(self, agent_id: str, session_id: str, labels: Iterable[str], value: object) -> int:
        """Index an input that carries several provenance labels (a message relayed by another agent):
        it is trusted only if every label is; taint is a lower bound that survives hand-offs."""
        names = sorted(set(labels)) or ["untrusted"]
        trusted = all(self.rules.trusted(label, "") for label in names)
        label = " via ".join(names)
        reading = read_input(label, value, lambda _: trusted)
        self._keep(agent_id, session_id, label, reading, untrusted=not trusted, flagged=False)
        return len(reading.found)

    def _keep(
        self, agent_id: str, session_id: str, label: str, reading: Reading, *, untrusted: bool, flagged: bool
    ) -> None:
        """Keep what a reading found in the session, within the session's bounds; each bound reached is kept as a
        reason the index is not complete (``flow.index_full``), never dropped silently."""
        runs = [word_runs(text, self.words) for _, text, _ in reading.texts]
        canon = [canonical_text(text) if trusted else "" for _, text, trusted in reading.texts]
        key = (agent_id, session_id)
        with self._lock:
            flow = self._session(key)
            if flow is None:
                return  # not tracked: the session's sensitive calls are held (``flow.sessions_full``)
            for bound in reading.bounds:
                _overflow(flow, bound)
            self._merge(flow, reading.found)
            if not flagged and any(label == named for pairs in flow.sources.values() for named, _ in pairs):
                kept = flow.source_texts.setdefault(label, [])  # a flagged output is no declared source's text
                for (where, text, _), canonical in zip(reading.texts, canon, strict=True):
                    source = canonical or canonical_text(text)
                    if _room(flow, len(source)):
                        kept.append((where, source))
            for (_, _, trusted), canonical, grams in zip(reading.texts, canon, runs, strict=True):
                if trusted:
                    if _room(flow, len(canonical)):
                        flow.trusted_texts.append(canonical)
                    for gram in grams:
                        if len(flow.trusted_grams) >= MAX_TRUSTED_GRAMS and gram not in flow.trusted_grams:
                            bound = f"more than MAX_TRUSTED_GRAMS ({MAX_TRUSTED_GRAMS:,}) runs of trusted words"
                            _overflow(flow, bound)
                            break
                        flow.trusted_grams.add(gram)
                    continue
                for gram in grams:
                    if len(flow.grams) >= MAX_GRAMS and gram not in flow.grams:
                        _overflow(flow, f"more than MAX_GRAMS ({MAX_GRAMS:,}) runs of untrusted words")
                        break
                    flow.grams.setdefault(gram, set()).add(label)
                    if flagged:
                        flow.flagged_grams.add(gram)
            if untrusted:
                flow.untrusted.add(label)
                if flagged:
                    flow.flagged.add(label)
            self._settle(key, flow)

    def _merge(self, flow: SessionFlow, found: Mapping[str, set[Seen]]) -> None:
        table = flow.table
        for k, seen in found.items():
            if len(table) >= MAX_VALUES_PER_SESSION and k not in table:
                _overflow(flow, f"more than MAX_VALUES_PER_SESSION ({MAX_VALUES_PER_SESSION:,}) values")
                break
            table.setdefault(k, set()).update(seen)

    def view(self, agent_id: str, session_id: str) -> Mapping[str, set[Seen]]:
        """A read-only live view of the session's index (no copy)."""
        with self._lock:
            flow = self._sessions.get((agent_id, session_id))
            return MappingProxyType(flow.table if flow is not None else {})

    def evidence(self, agent_id: str, session_id: str) -> Evidence:
        """A read-only view of everything the session has seen (the pure checks' input)."""
        with self._lock:
            key = (agent_id, session_id)
            flow = self._sessions.get(key) or SessionFlow()
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
                tuple(sorted(flow.overflow)),
                self._lost(key),
                MappingProxyType(dict(flow.sources)),
                MappingProxyType({k: tuple(v) for k, v in flow.source_texts.items()}),
            )

    def has_untrusted(self, agent_id: str, session_id: str) -> bool:
        with self._lock:
            key = (agent_id, session_id)
            flow = self._sessions.get(key)
            return bool(self._lost(key)) or (flow is not None and bool(flow.untrusted))

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
            key = (agent_id, session_id)
            lost = self._lost(key)
            if lost:
                raise PlanLocked(
                    f"session {session_id!r} {_LOST[lost]}: whether untrusted data entered it is not known, so its "
                    "plan cannot be declared"
                )
            flow = self._session(key)
            if flow is None:
                raise PlanLocked(f"session {session_id!r} {_LOST['full']}: its plan cannot be declared")
            if flow.untrusted:
                raise PlanLocked(
                    f"untrusted data has entered session {session_id!r} ({', '.join(sorted(flow.untrusted))}); "
                    "its plan can no longer be declared or changed"
                )
            flow.plan = frozenset(tools)
            flow.sources = {arg: frozenset(map(source_label, names)) for arg, names in (sources or {}).items()}
            flow.source_texts = {}
            self._settle(key, flow)


#: Why a session's history is not (all) in the index, in words (``Evidence.lost``).
_LOST = {
    "evicted": "was evicted from the flow index (more sessions than it keeps)",
    "full": "cannot be tracked: the flow index is full and may forget no session",
}


def lost_reason(lost: str) -> str:
    """The sentence for an ``Evidence.lost`` value, naming the bounds."""
    if lost == "evicted":
        return (
            f"the session was evicted from the flow index (more than MAX_SESSIONS, {MAX_SESSIONS:,}, sessions were "
            "active): what it had seen (untrusted data, its plan and sources) is forgotten, so its calls cannot be "
            "judged as a clean session's"
        )
    return (
        f"the session {_LOST['full']}: MAX_SESSIONS ({MAX_SESSIONS:,}) sessions are tracked and MAX_EVICTED "
        f"({MAX_EVICTED:,}) evicted ones are remembered, so what enters this session is not indexed and its "
        "calls cannot be judged as a clean session's"
    )


def _overflow(flow: SessionFlow, reason: str) -> None:
    """A bound reached: the session's index is not complete (the first reasons are kept to explain it)."""
    if len(flow.overflow) < MAX_REASONS:
        flow.overflow.add(reason)


def _room(flow: SessionFlow, chars: int) -> bool:
    """Whether ``chars`` more characters of trusted (or declared source) text fit; past the bound, an overflow."""
    if flow.trusted_chars + chars > MAX_TRUSTED_CHARS:
        _overflow(flow, f"more than MAX_TRUSTED_CHARS ({MAX_TRUSTED_CHARS:,}) characters of trusted text")
        return False
    flow.trusted_chars += chars
    return True


def _session_hash(key: tuple[str, str]) -> int:
    agent, session = key
    data = f"{len(agent)}:{agent}{session}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
