"""Plan locking (plan-then-execute): once untrusted data has entered a session, a sensitive call to a tool
outside the session's plan needs a human.

An agent framework that plans from the user's request alone, before it reads any tool output, declares the
tools its plan needs (``Gateway.plan``, ``POST /v1/plan``, the MCP proxy's ``warded_plan`` tool). Injected
text read later cannot add a tool of another kind: the call is held as ``flow.plan``. A plan can be declared
only while the session has seen no untrusted data (later, it could have been written by the injection). A
session without a declared plan takes its agent's default from the policy (``flow.plans``); with neither,
no plan lock applies.

**Argument sources** (CaMeL-style data flow in the plan): with its tools, the planner may declare, for an
argument, which tools' outputs its values may come from (``sources={"update_user_info.street": ["read_file"]}``,
or one field of an output: ``"send_money.recipient": ["get_transactions:[].sender"]``) — the
user's own request delegates the value to a data source ("update my address from the file"). A value of that
argument is then justified when it was seen, normalised as the index reads values, in the output of one of
the declared source tools in this session. Nothing else changes: other arguments, other tools, values from any
other tool's output, and values from an output the content guard flagged stay as strict as without sources; the
sources are locked with the plan once untrusted data entered the session.

``off_plan``, ``from_declared_sources`` and ``sources_from_trace`` are pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from warded.errors import InvalidArgument
from warded.flow.normalise import canonical_text
from warded.flow.taint import Evidence, Seen, TaintFinding, value_key
from warded.flow.values import Kind, Value, argument_values, extract, leaves

#: The findings a declared source can answer: a value seen only in untrusted data, or justified by no trusted
#: source. A value from a flagged output (``flow.flagged.*``), the plan lock and a full index stay.
SOURCE_ANSWERS = ("flow.untrusted.", "flow.unjustified.")


def off_plan(tool: str, plan: frozenset[str] | None, untrusted: Iterable[str]) -> TaintFinding | None:
    """The plan-lock finding for a call to ``tool``, or ``None`` (no plan, in the plan, or nothing untrusted
    has entered the session)."""
    entered = sorted(set(untrusted))
    if plan is None or tool in plan or not entered:
        return None
    planned = ", ".join(sorted(plan)) or "no tools"
    reason = (
        f"outside the session's plan ({planned}) after untrusted data entered the session: "
        "plan lock (a tool the user's request did not call for)"
    )
    sources = tuple(Seen(label, False, "") for label in entered)
    return TaintFinding("flow.plan", "", Value(Kind.TOOL, tool, tool), sources, reason)


def _in_source_text(canon: str, labels: frozenset[tuple[str, str | None]], evidence: Evidence) -> bool:
    needle = f" {canon} "
    return bool(canon) and any(
        needle in f" {text} "
        for label, path in labels
        for where, text in evidence.source_texts.get(label, ())
        if path is None or where == path
    )


def _ambiguous_account(finding: TaintFinding, labels: frozenset[tuple[str, str | None]], evidence: Evidence) -> bool:
    """An account the user delegated to a source must be the only one there: when the declared source also
    carries another account, the gateway cannot tell which one the user meant (an injection written into the
    delegated file adds exactly that)."""
    key = value_key(finding.value)
    prefix = f"{Kind.IBAN.value}:"
    if not key.startswith(prefix):
        return False
    return any(
        other != key
        and other.startswith(prefix)
        and any((s.label, None) in labels or (s.label, s.where) in labels for s in seen)
        for other, seen in evidence.table.items()
    )


def _from_source(
    finding: TaintFinding, labels: frozenset[tuple[str, str | None]], evidence: Evidence, whole: object
) -> bool:
    if _ambiguous_account(finding, labels, evidence):
        return False
    if isinstance(whole, str) and _in_source_text(canonical_text(whole), labels, evidence):
        return True  # the whole argument is a run of words of a declared source's output
    if finding.value.kind is Kind.TEXT:
        return _in_source_text(finding.value.key, labels, evidence)
    return any(
        (seen.label, None) in labels or (seen.label, seen.where) in labels
        for seen in evidence.table.get(value_key(finding.value), ())
        if not seen.flagged
    )


def from_declared_sources(
    findings: Iterable[TaintFinding], tool: str, arguments: Mapping[str, object], evidence: Evidence
) -> tuple[list[TaintFinding], list[TaintFinding]]:
    """Pure: split ``findings`` on a call to ``tool`` into those that stand and those a declared argument source
    answers (the value was seen in the output of a tool the plan named as that argument's source)."""
    stand: list[TaintFinding] = []
    answered: list[TaintFinding] = []
    for finding in findings:
        labels = evidence.sources.get(f"{tool}.{finding.argument}") if finding.argument else None
        whole = arguments.get(finding.argument)
        if labels and finding.rule_id.startswith(SOURCE_ANSWERS) and _from_source(finding, labels, evidence, whole):
            answered.append(finding)
        else:
            stand.append(finding)
    return stand, answered


def _keys(value: object) -> set[str]:
    return {value_key(v) for v in argument_values(value)}


def sources_from_trace(calls: Sequence[tuple[str, Mapping[str, object], object]]) -> dict[str, list[str]]:
    """Pure: the argument sources a run implies — for each call's argument, the earlier calls whose output
    carries one of its values (read as the index reads values). ``calls`` is ``(tool, arguments, output)`` in
    order. A planner that knows which tool will supply a value declares the same."""
    seen: list[tuple[str, list[tuple[str, set[str], str]]]] = []
    sources: dict[str, set[str]] = {}
    for tool, arguments, output in calls:
        for name, value in arguments.items():
            wanted = _keys(value)
            canon = canonical_text(value) if isinstance(value, str) else ""
            for source, outputs in seen:
                for where, keys, text in outputs:
                    if wanted & keys or (canon and f" {canon} " in f" {text} "):
                        sources.setdefault(f"{tool}.{name}", set()).add(f"{source}:{where}" if where else source)
        fields: list[tuple[str, set[str], str]] = []
        # An offline planner (the benchmark's): a bound reached here only means fewer declared sources (stricter).
        for leaf in leaves(output).items:
            fields.append((leaf.path, {value_key(v) for v in extract(leaf.text)}, canonical_text(leaf.text)))
        seen.append((tool, fields))
    return {arg: sorted(tools) for arg, tools in sorted(sources.items())}


MAX_SOURCES = 1_000  # declared arguments per plan


def plan_sources(tools: Sequence[str], sources: object) -> dict[str, list[str]]:
    """Validate a plan's argument sources: a mapping of ``"tool.argument"`` (the tool in the plan) to a list
    of planned tools. Returns them normalised (sorted, deduplicated); raises :class:`InvalidArgument`."""
    if sources is None:
        return {}
    if not isinstance(sources, Mapping):
        raise InvalidArgument('plan sources are a mapping of "tool.argument" to a list of tool names')
    if len(sources) > MAX_SOURCES:
        raise InvalidArgument(f"a plan declares at most {MAX_SOURCES} argument sources")
    planned = set(tools)
    out: dict[str, list[str]] = {}
    for key, names in sources.items():
        if not isinstance(key, str) or "." not in key:
            raise InvalidArgument(f'a plan source key is "tool.argument", not {key!r}')
        tool, _, argument = key.partition(".")
        if tool not in planned or not argument:
            raise InvalidArgument(f"plan source {key!r}: the tool must be in the plan and the argument named")
        if isinstance(names, str) or not isinstance(names, list | tuple) or not names:
            raise InvalidArgument(f"plan source {key!r}: a non-empty list of tool names")
        if not all(isinstance(n, str) for n in names):
            raise InvalidArgument(f"plan source {key!r}: a list of tool names")
        unknown = sorted({n.partition(":")[0] for n in names} - planned)
        if unknown:
            raise InvalidArgument(f"plan source {key!r}: source tool(s) not in the plan: {', '.join(unknown)}")
        out[key] = sorted(set(names))
    return out
