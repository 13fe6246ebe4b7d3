"""Hypothesis properties: deny by default, forbid wins, error => DENY, decide never raises."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warded.core.types import Action, Verdict
from warded.decide.action import SessionState, decide
from warded.policy.compile import CompiledPolicy, load_policy

AGENTS = [f"a{i}" for i in range(4)]
TOOLS = [f"t{i}" for i in range(5)]
NAMES = st.sampled_from([*AGENTS, "intruder", ""])
TOOL_NAMES = st.sampled_from([*TOOLS, "undeclared"])

grants_st = st.sets(st.tuples(st.sampled_from(AGENTS), st.sampled_from(TOOLS)), max_size=12)
forbids_st = st.sets(st.tuples(st.sampled_from(AGENTS), st.sampled_from(TOOLS)), max_size=6)


def _policy(grants: set[tuple[str, str]], forbids: set[tuple[str, str]], extra: str = "") -> CompiledPolicy:
    lines = ["version: 1", "agents:"]
    for agent in AGENTS:
        tools = sorted(t for a, t in grants if a == agent)
        lines.append(f"  {agent}: {{tools: [{', '.join(tools)}]}}")
    lines.append("tools:")
    lines.extend(f"  {t}: {{tier: read, additional_args: true}}" for t in TOOLS)
    if forbids:
        lines.append("cedar: |")
        for i, (a, t) in enumerate(sorted(forbids)):
            lines.append(f'  @id("f{i}")')
            lines.append(f'  forbid(principal == Agent::"{a}", action, resource == Tool::"{t}");')
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warded.yaml"
        path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
        return load_policy(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grants=grants_st, forbids=forbids_st, calls=st.lists(st.tuples(NAMES, TOOL_NAMES), min_size=1, max_size=15))
def test_allow_iff_granted_and_not_forbidden(
    grants: set[tuple[str, str]], forbids: set[tuple[str, str]], calls: list[tuple[str, str]]
) -> None:
    policy = _policy(grants, forbids)
    for agent, tool in calls:
        decision = decide(policy, Action(agent, "s", tool))
        expected = (agent, tool) in grants and (agent, tool) not in forbids
        assert (decision.verdict is Verdict.ALLOW) == expected, (agent, tool, decision.explain())
        if (agent, tool) in forbids and (agent, tool) in grants:
            assert decision.rule_ids[0].startswith("f")


@settings(max_examples=25, deadline=None)
@given(calls=st.lists(st.tuples(NAMES, TOOL_NAMES), min_size=1, max_size=20))
def test_empty_policy_never_allows(calls: list[tuple[str, str]]) -> None:
    policy = _policy(set(), set())
    for agent, tool in calls:
        assert decide(policy, Action(agent, "s", tool)).verdict is Verdict.DENY


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(max_size=16),
    st.just("\x00"),
    st.just("\udcff"),
    st.builds(object),
    st.sets(st.integers(), max_size=2),
)
_values = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)


def _valid(value: object) -> bool:
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    if isinstance(value, list):
        return all(_valid(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _valid(k) and _valid(v) for k, v in value.items())
    return False


_OPEN = _policy({("a0", "t0")}, set())


@settings(max_examples=300, deadline=None)
@given(args=st.dictionaries(st.text(max_size=8), _values, max_size=4))
def test_invalid_arguments_never_allow_and_never_raise(args: dict[str, object]) -> None:
    decision = decide(_OPEN, Action("a0", "s", "t0", args))
    if _valid(args):
        assert decision.verdict is Verdict.ALLOW, decision.explain()
    else:
        assert decision.verdict is Verdict.DENY
        assert decision.rule_ids[0].startswith("input.")


@settings(max_examples=200, deadline=None)
@given(
    agent=st.one_of(st.text(max_size=10), st.integers(), st.none()),
    session=st.one_of(st.text(max_size=10), st.none()),
    tool=st.one_of(st.text(max_size=10), st.binary(max_size=4)),
    paused=st.booleans(),
    counts=st.dictionaries(st.text(max_size=4), st.integers(min_value=-5, max_value=10**6), max_size=3),
)
def test_decide_never_raises_on_any_action(
    agent: object, session: object, tool: object, paused: bool, counts: dict[str, int]
) -> None:
    decision = decide(_OPEN, Action(agent, session, tool), SessionState(paused=paused, counts=counts))  # type: ignore[arg-type]
    if decision.verdict is Verdict.ALLOW:
        assert (agent, tool) == ("a0", "t0")
