"""``number``: get a number outside ``[min, max]`` (or not a number) accepted. NaN, infinities, -0, huge
integers, values just past the bounds, numbers as strings, booleans. Oracle: the number a lenient tool
reads (``float()`` of strings too; ``oracles.number_breaks``)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from warded.redteam import oracles
from warded.redteam.families._context import Context, argument_plan, technique_of
from warded.redteam.model import Plan

FAMILY = "number"

TECHNIQUES = technique_of(
    {
        "bool": lambda v: isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "nan": lambda v: isinstance(v, float) and math.isnan(v),
        "inf": lambda v: isinstance(v, float) and math.isinf(v),
        "huge": lambda v: isinstance(v, int) and abs(v) > 2**53,
        "negative_zero": lambda v: isinstance(v, float) and v == 0 and math.copysign(1, v) < 0,
        "fraction": lambda v: isinstance(v, float) and not v.is_integer(),
    },
    "range",
)


def _near(lo: float | None, hi: float | None) -> list[Any]:
    out: list[Any] = []
    for b in (lo, hi):
        if b is not None:
            out += [b, b - 1, b + 1, math.nextafter(b, -math.inf), math.nextafter(b, math.inf), str(b), str(b + 1)]
    return out


def plans(ctx: Context) -> list[Plan]:
    out: list[Plan] = []
    for agent, tool, arg, spec in ctx.constrained("number"):
        if ctx.allowed_baseline(agent, tool) is None:
            continue
        num = spec.number
        assert num is not None
        lo, hi, integer = num.min, num.max, num.integer or spec.type == "integer"
        strategy = st.one_of(
            st.sampled_from(_near(lo, hi) or [0]),
            st.sampled_from([math.nan, math.inf, -math.inf, -0.0, True, False, "1e9", "NaN", "inf", " 1", "0x10"]),
            st.integers(min_value=-(2**70), max_value=2**70),
            st.floats(allow_nan=True, allow_infinity=True),
        )

        def oracle(value: Any, lo_: Any = lo, hi_: Any = hi, i: bool = integer) -> bool:
            return oracles.number_breaks(value, lo_, hi_, integer=i)

        out.append(
            argument_plan(
                ctx,
                FAMILY,
                (agent, tool, arg, spec),
                "number",
                strategy=strategy,
                oracle=oracle,
                technique=TECHNIQUES,
                show=_json_number,
            )
        )
    return out


def _json_number(value: Any) -> object:
    """JSON has no NaN or infinities: reports name them."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value
