"""``pattern``: get a value the pattern does not match accepted. A matching value with a trailing newline
(``$`` semantics), CR/LF, NUL, leading text, a zero-width character, a look-alike, doubled past the length.
Oracle: Python's own regex engine, matching in full (``oracles.pattern_breaks``)."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from warded.redteam import oracles
from warded.redteam.families._context import Context, argument_plan
from warded.redteam.families.values import MUTATIONS as VALUE_MUTATIONS
from warded.redteam.model import Plan

FAMILY = "pattern"

MUTATIONS: dict[str, Any] = {
    "newline": lambda s: s + "\n",
    "crlf": lambda s: s + "\r\nX-Injected: 1",
    "leading_newline": lambda s: "\n" + s,
    "nul": lambda s: s + "\x00",
    "doubled": lambda s: s * 2,
    "long": lambda s: s * 64,
    "lookalike": VALUE_MUTATIONS["lookalike"],
    "zero_width": VALUE_MUTATIONS["zero_width"],
    "fullwidth": VALUE_MUTATIONS["fullwidth"],
    "empty": lambda _: "",
    "exact": lambda s: s,
}


def plans(ctx: Context) -> list[Plan]:
    out: list[Plan] = []
    for agent, tool, arg, spec in ctx.constrained("pattern"):
        assert spec.pattern is not None
        try:
            compiled = re.compile(spec.pattern)
        except re.error:
            ctx.skip(FAMILY, f"{tool}.{arg}", "the RE2 pattern has no Python equivalent for the oracle")
            continue
        base = ctx.allowed_baseline(agent, tool)
        if base is None:
            continue
        seed = base.get(arg)
        seed_text = seed[0] if isinstance(seed, list) and seed else seed
        seeds = [s for s in (seed_text, *ctx._candidates(tool, arg, spec)) if isinstance(s, str)]
        seeds = [s for s in seeds if compiled.fullmatch(s)] or ["a"]
        strategy = st.tuples(st.sampled_from(sorted(MUTATIONS)), st.sampled_from(seeds[:3])).map(
            lambda p: (p[0], MUTATIONS[p[0]](p[1]))
        )

        def oracle(case: tuple[str, str], c: re.Pattern[str] = compiled) -> bool:
            return oracles.pattern_breaks(case[1], c)

        out.append(
            argument_plan(
                ctx,
                FAMILY,
                (agent, tool, arg, spec),
                "pattern",
                strategy=strategy,
                oracle=oracle,
                technique=lambda case: case[0],
                value=lambda case: case[1],
            )
        )
    return out
