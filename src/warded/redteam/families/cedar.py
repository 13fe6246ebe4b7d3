"""``cedar``: widening. Every (agent, tool) pair the YAML does not grant, and a tool the policy does not
know, called with a valid baseline: raw Cedar permits broader than the YAML show up here. Oracle: the YAML
grants (an ALLOW for a pair it does not grant is a bypass of the grants the reader sees)."""

from __future__ import annotations

from hypothesis import strategies as st

from warded.redteam.families._context import Context
from warded.redteam.model import Plan

FAMILY = "cedar"
UNKNOWN_TOOL = "redteam_unlisted_tool"


def plans(ctx: Context) -> list[Plan]:
    pairs = [
        (agent, tool)
        for agent in sorted(ctx.policy.agents)
        for tool in (*sorted(ctx.policy.tools), UNKNOWN_TOOL)
        if tool not in ctx.policy.agents[agent]
    ]
    if not pairs:
        ctx.skip(FAMILY, "agents", "every agent is granted every tool")
        return []

    def run(pair: tuple[str, str]) -> bool:
        agent, tool = pair
        return ctx.target.decide(agent, ctx.new_session(), tool, ctx.baseline(tool) or {}) == "allow"

    where = ctx.where("cedar") if ("cedar",) in ctx.marks else ctx.where("agents")
    return [
        Plan(
            FAMILY,
            "bypass",
            "*",
            "*",
            "(agent, tool)",
            where,
            st.sampled_from(pairs),
            lambda _: True,
            run,
            lambda pair: "unknown_tool" if pair[1] == UNKNOWN_TOOL else "ungranted",
            show=lambda pair: {"agent": pair[0], "tool": pair[1]},
            rule="warded.default_deny",
        )
    ]
