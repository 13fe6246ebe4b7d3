"""``values``: get a value off the allow list (or a spelling of a denied one) accepted. Case, whitespace,
trailing newlines, full-width and other compatibility forms, zero-width characters, look-alikes, prefixes
and suffixes. Oracle: exact membership of the allow list; denied values compared after NFKC, case folding
and removal of invisible characters (``oracles.value_breaks``)."""

from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import strategies as st

from warded.redteam import oracles
from warded.redteam.families._context import Context, argument_plan
from warded.redteam.families._hosts import HOMOGLYPHS
from warded.redteam.model import Plan

FAMILY = "values"


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _lookalike(text: str) -> str:
    for latin, other in HOMOGLYPHS.items():
        if latin in text:
            return text.replace(latin, other, 1)
    return text


MUTATIONS: dict[str, Any] = {
    "exact": lambda s: s,
    "upper": str.upper,
    "title": str.title,
    "leading_space": lambda s: " " + s,
    "trailing_space": lambda s: s + " ",
    "newline": lambda s: s + "\n",
    "fullwidth": _fullwidth,
    "zero_width": lambda s: s[:1] + "\u200b" + s[1:],
    "lookalike": _lookalike,
    "nfd": lambda s: unicodedata.normalize("NFD", s),
    "suffix": lambda s: s + "x",
    "prefix": lambda s: "x" + s,
    "truncated": lambda s: s[:-1],
    "wildcard": lambda _: "*",
    "empty": lambda _: "",
}


def plans(ctx: Context) -> list[Plan]:
    out: list[Plan] = []
    for agent, tool, arg, spec in ctx.constrained("values"):
        if ctx.allowed_baseline(agent, tool) is None:
            continue
        vals = spec.values
        assert vals is not None
        allow, deny = tuple(vals.allow or ()), tuple(vals.deny)
        seeds = [v for v in (*allow, *deny) if isinstance(v, str)] or ["a"]
        if not vals.case_sensitive:
            allow = tuple(dict.fromkeys((*allow, *(a.upper() if isinstance(a, str) else a for a in allow))))
        strategy = st.tuples(st.sampled_from(sorted(MUTATIONS)), st.sampled_from(seeds)).map(
            lambda p: (p[0], MUTATIONS[p[0]](p[1]))
        )

        def oracle(
            case: tuple[str, str], a: Any = allow, d: Any = deny, folded: bool = not vals.case_sensitive
        ) -> bool:
            value = case[1]
            if folded and any(isinstance(x, str) and x.lower() == value.lower() for x in a):
                return oracles.value_breaks(value, (), d)
            return oracles.value_breaks(value, a, d)

        out.append(
            argument_plan(
                ctx,
                FAMILY,
                (agent, tool, arg, spec),
                "values",
                strategy=strategy,
                oracle=oracle,
                technique=lambda case: case[0],
                value=lambda case: case[1],
            )
        )
    return out
