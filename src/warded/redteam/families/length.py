"""``length``: get a string or list longer than ``max_length`` accepted (one past the bound, far past it,
characters outside the BMP that count differently in UTF-16 and UTF-8). Oracle: the length in characters
or items."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from warded.redteam.families._context import Context, argument_plan
from warded.redteam.model import Plan

FAMILY = "length"


def plans(ctx: Context) -> list[Plan]:
    out: list[Plan] = []
    for agent, tool, arg, spec in ctx.constrained("max_length"):
        base = ctx.allowed_baseline(agent, tool)
        if base is None or spec.max_length is None:
            continue
        limit = spec.max_length
        seed = base.get(arg)
        unit: Any = seed[0] if isinstance(seed, list) and seed else (seed if isinstance(seed, str) and seed else "a")
        strategy = st.tuples(
            st.integers(min_value=max(0, limit - 1), max_value=limit + 3) | st.just(limit * 4 + 1),
            st.sampled_from(["ascii", "astral"]),
        )

        def build(case: tuple[int, str], u: Any = unit, s: Any = spec) -> object:
            n, kind = case
            if s.type == "array" or isinstance(u, list):
                return [u] * n
            char = "\U0001f600" if kind == "astral" else (u[:1] if isinstance(u, str) else "a")
            return char * n

        def oracle(case: tuple[int, str], b: Any = build, lim: int = limit) -> bool:
            return bool(len(b(case)) > lim)

        out.append(
            argument_plan(
                ctx,
                FAMILY,
                (agent, tool, arg, spec),
                "max_length",
                strategy=strategy,
                oracle=oracle,
                technique=lambda case: f"{case[1]}_over" if case[0] > 0 else case[1],
                value=build,
                raw=True,
            )
        )
    return out
