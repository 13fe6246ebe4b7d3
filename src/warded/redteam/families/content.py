"""``content``: injections the content guard should catch, mutated (``mutations.py``) and placed in tool
results (whole, split across fields, split across chunks) and in free-text arguments. A case gets through
when the result is delivered to the agent with no finding (or the argument is ALLOWed). Oracle: every seed
is an injection by construction (``corpus.py``) and every operator keeps it decodable, so every case is an
attack. Detection is statistical: these are *evasions*, measured as a rate, not bypasses of a rule."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import strategies as st

from warded.core.types import Tier
from warded.redteam import mutations
from warded.redteam.corpus import SEEDS
from warded.redteam.families._context import Context
from warded.redteam.model import Plan

FAMILY = "content"
PLACEMENTS = ("whole", "split_fields", "split_chunks")


def _place(text: str, placement: str) -> object:
    if placement == "whole":
        return {"body": text}
    half = len(text) // 2
    if placement == "split_fields":
        return {"subject": text[:half], "body": text[half:]}
    return [text[:half], text[half:]]


def _case() -> st.SearchStrategy[Any]:
    return st.tuples(
        st.integers(min_value=0),
        st.lists(st.sampled_from(mutations.NAMES), max_size=2, unique=True),
        st.sampled_from(PLACEMENTS),
    )


def plans(ctx: Context) -> list[Plan]:
    seeds = ctx.corpus or SEEDS
    out: list[Plan] = []
    if ctx.policy.spec.scan.enabled is False:
        ctx.skip(FAMILY, "scan", "the content guard is off in this policy: every injection gets through")
    readers = [
        (agent, tool)
        for tool, compiled in sorted(ctx.policy.tools.items())
        if compiled.tier is Tier.READ
        for agent in [ctx.agent_for(tool)]
        if agent is not None
    ]
    if readers:
        agent, tool = readers[0]

        def deliver(case: tuple[int, list[str], str], a: str = agent, t: str = tool) -> bool:
            index, ops, placement = case
            text = mutations.apply(seeds[index % len(seeds)], ops)
            return ctx.target.result_delivered(a, ctx.new_session(), t, _place(text, placement))

        out.append(
            Plan(
                FAMILY,
                "evasion",
                agent,
                tool,
                "(tool result)",
                ctx.where("scan") if ("scan",) in ctx.marks else None,
                _case(),
                lambda _: True,
                deliver,
                lambda case: "+".join(case[1]) or "plain",
                show=lambda case: {
                    "seed": case[0] % len(seeds),
                    "operators": case[1],
                    "placement": case[2],
                    "text": mutations.apply(seeds[case[0] % len(seeds)], case[1])[:300],
                },
                rule="scan",
            )
        )
    free = [
        (agent, tool, arg)
        for agent_tools in [ctx.policy.agents]
        for tool, tspec in sorted(ctx.policy.spec.tools.items())
        for arg, spec in sorted(tspec.args.items())
        if spec.type == "string"
        and spec.pattern is None
        and spec.values is None
        and spec.path is None
        and spec.sql is None
        and spec.email is None
        and spec.domain is None
        and not spec.secret
        for agent in [ctx.agent_for(tool)]
        if agent is not None and agent_tools
    ]
    mcp = mcp_plan(ctx, seeds)
    if mcp is not None:
        out.append(mcp)
    for agent, tool, arg in free[:1]:
        if ctx.allowed_baseline(agent, tool) is None:
            continue

        def send(case: tuple[int, list[str], str], a: str = agent, t: str = tool, n: str = arg) -> bool:
            index, ops, _ = case
            return ctx.send(a, t, n, mutations.apply(seeds[index % len(seeds)], ops))

        out.append(
            Plan(
                FAMILY,
                "evasion",
                agent,
                tool,
                arg,
                ctx.where("tools", tool, "args", arg),
                _case(),
                lambda _: True,
                send,
                lambda case: "+".join(case[1]) or "plain",
                show=lambda case: {"seed": case[0] % len(seeds), "operators": case[1]},
                rule="scan",
            )
        )
    return out


def _definition(text: str, placement: str) -> dict[str, Any]:
    """An MCP tool definition carrying ``text`` in its description (or split into a parameter's)."""
    schema: dict[str, Any] = {"type": "object", "properties": {"q": {"type": "string"}}}
    if placement == "whole":
        return {"name": "lookup", "description": text, "inputSchema": schema}
    half = len(text) // 2
    schema["properties"]["q"]["description"] = text[half:]
    return {"name": "lookup", "description": text[:half], "inputSchema": schema}


def mcp_plan(ctx: Context, seeds: tuple[str, ...]) -> Plan | None:
    """Injections in MCP tool descriptions, judged by the MCP proxy's own definition vetting."""
    target = ctx.in_process
    if target is None:
        ctx.skip(FAMILY, "mcp tool descriptions", "needs the in-process target (the proxy vets definitions)")
        return None
    from warded.proxy.mcp._pins import PinStore  # noqa: PLC0415 - the MCP proxy only for this plan
    from warded.proxy.mcp._upstream import Upstream  # noqa: PLC0415
    from warded.proxy.mcp.proxy import McpProxy  # noqa: PLC0415

    def never(*_: Any) -> Any:
        raise RuntimeError("the red team never connects upstream")

    pins = PinStore(os.path.join(target.sandbox.workdir, "redteam-pins.db"))
    target.closers.append(pins.close)
    agent = sorted(ctx.policy.agents)[0] if ctx.policy.agents else "redteam"
    proxy = McpProxy(
        target.gateway,
        agent,
        ctx.policy.spec.mcp,
        Upstream(never, connect_timeout=1.0),
        server_key="redteam",
        pins=pins,
    )

    def passes(case: tuple[int, list[str], str]) -> bool:
        index, ops, placement = case
        text = mutations.apply(seeds[index % len(seeds)], ops)
        return proxy.vet_definition("lookup", _definition(text, placement)) is None

    return Plan(
        FAMILY,
        "evasion",
        agent,
        "(mcp server)",
        "(tool description)",
        ctx.where("mcp") if ("mcp",) in ctx.marks else None,
        _case(),
        lambda _: True,
        passes,
        lambda case: "+".join(case[1]) or "plain",
        show=lambda case: {"seed": case[0] % len(seeds), "operators": case[1], "placement": case[2]},
        rule="mcp.tool_poisoned",
    )
