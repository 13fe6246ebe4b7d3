"""``limits`` and budgets: get more calls (or a larger sum) through than a window allows. Bursts past
``max_calls``, calls spread over sessions for agent-scoped limits, time moved forward inside the window,
amounts split into many small calls. Each case runs on a fresh gateway (empty windows, fake clock).
Oracle: the count (or sum) of ALLOWed calls per scope inside the window, computed from the case itself."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from warded.config._types import parse_duration
from warded.core.types import Action
from warded.policy.schema import BudgetSpec, LimitSpec
from warded.redteam.families._context import Context
from warded.redteam.model import Plan

FAMILY = "limits"

#: A case is at most this many calls (a limit with more would make one case a load test).
MAX_CALLS = 60


def _tool_for(ctx: Context, item: LimitSpec | BudgetSpec) -> tuple[str, str] | None:
    for tool, compiled in sorted(ctx.policy.tools.items()):
        if item.tools and tool not in item.tools:
            continue
        if item.tiers and compiled.tier not in item.tiers:
            continue
        agent = ctx.agent_for(tool)
        if agent is not None and ctx.allowed_baseline(agent, tool) is not None:
            return agent, tool
    return None


def _window_s(item: LimitSpec | BudgetSpec) -> float:
    window: Any = item.window
    return float(window) if isinstance(window, int | float) else parse_duration(str(window))


def plans(ctx: Context) -> list[Plan]:
    out: list[Plan] = []
    if ctx.in_process is None:
        if ctx.policy.limits or ctx.policy.budgets:
            ctx.skip(FAMILY, "limits", "needs the in-process target (fresh state per case)")
        return out
    for i, limit in enumerate(ctx.policy.limits):
        if limit.count.value != "allowed":
            ctx.skip(FAMILY, limit.id, "limits that count denied calls are not attacked yet")
            continue
        if limit.max_calls + 1 > MAX_CALLS:
            ctx.skip(FAMILY, limit.id, f"max_calls {limit.max_calls} is past what one case sends ({MAX_CALLS})")
            continue
        found = _tool_for(ctx, limit)
        if found is None:
            ctx.skip(FAMILY, limit.id, "no tool it covers is allowed as is")
            continue
        out.append(_limit_plan(ctx, i, limit, *found))
    for i, budget in enumerate(ctx.policy.budgets):
        found = _tool_for(ctx, budget)
        if found is None:
            ctx.skip(FAMILY, budget.id, "no tool it covers is allowed as is (e.g. it needs an approval)")
            continue
        out.append(_budget_plan(ctx, i, budget, *found))
    return out


def _limit_plan(ctx: Context, index: int, limit: LimitSpec, agent: str, tool: str) -> Plan:
    window = _window_s(limit)
    scope = limit.scope.value
    strategy = st.tuples(
        st.integers(min_value=limit.max_calls + 1, max_value=min(MAX_CALLS, limit.max_calls + 3)),
        st.integers(min_value=1, max_value=4),  # sessions the calls are spread over
        st.floats(min_value=0.0, max_value=window * 0.9 / (limit.max_calls + 1)),  # seconds between calls
    )

    def verdicts(case: tuple[int, int, float]) -> list[tuple[str, bool]]:
        calls, sessions, gap = case
        gateway, clock = ctx.in_process.fresh()
        base = ctx.baseline(tool) or {}
        out = []
        try:
            for n in range(calls):
                session = f"s{n % sessions}"
                decision = gateway.check(Action(agent, session, tool, dict(base)))
                out.append((session, decision.allowed))
                clock.advance(gap)
        finally:
            gateway.close()
        return out

    def run(case: tuple[int, int, float]) -> bool:
        seen = verdicts(case)
        per: dict[str, int] = {}
        for session, allowed in seen:
            key = session if scope == "session" else "agent"
            per[key] = per.get(key, 0) + int(allowed)
        return any(v > limit.max_calls for v in per.values())

    def oracle(case: tuple[int, int, float]) -> bool:
        calls, sessions, _ = case
        per_scope = -(-calls // sessions) if scope == "session" else calls
        return per_scope > limit.max_calls  # the case tries to get more through than the window allows

    return Plan(
        FAMILY,
        "bypass",
        agent,
        tool,
        f"limit:{limit.id}",
        ctx.where("limits", index, "max_calls"),
        strategy,
        oracle,
        run,
        lambda case: "burst" if case[1] == 1 else "switch_sessions",
        show=lambda case: {"calls": case[0], "sessions": case[1], "gap_s": round(case[2], 3)},
        rule=f"limit.{limit.id}",
    )


def _budget_plan(ctx: Context, index: int, budget: BudgetSpec, agent: str, tool: str) -> Plan:
    window = _window_s(budget)
    strategy = st.tuples(st.integers(min_value=2, max_value=12), st.integers(min_value=1, max_value=3))

    def run(case: tuple[int, int]) -> bool:
        parts, sessions = case
        amount = budget.max_total / parts * 1.5
        gateway, clock = ctx.in_process.fresh()
        base = dict(ctx.baseline(tool) or {})
        total = 0.0
        try:
            for n in range(parts):
                args = {**base, budget.argument: round(amount, 2)}
                if gateway.check(Action(agent, f"s{n % sessions}", tool, args)).allowed:
                    total += round(amount, 2)
                clock.advance(window * 0.5 / parts)
        finally:
            gateway.close()
        return total > budget.max_total

    return Plan(
        FAMILY,
        "bypass",
        agent,
        tool,
        f"budget:{budget.id}",
        ctx.where("budgets", index, "max_total"),
        strategy,
        lambda case: True,  # 1.5 x max_total in total: every case tries to overspend
        run,
        lambda case: "split_amounts" if case[1] == 1 else "split_across_sessions",
        show=lambda case: {"parts": case[0], "sessions": case[1], "total": budget.max_total * 1.5},
        rule=f"budget.{budget.id}",
    )
