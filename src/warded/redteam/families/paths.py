"""``path``: get a file outside the roots opened. Relative forms, ``..``, absolute paths elsewhere,
symlinks planted inside the root, Unicode look-alikes, percent and double encoding, NUL, trailing dots and
spaces, case, ``~``, repeated slashes. Oracle: the path resolved on the real filesystem as the tool would
(``oracles.path_escapes``)."""

from __future__ import annotations

import functools

from hypothesis import strategies as st

from warded.redteam import oracles
from warded.redteam.families._context import Context, argument_plan, technique_of
from warded.redteam.model import Plan
from warded.redteam.sandbox import LINK_DIR, LINK_FILE, PathWorld

FAMILY = "path"

SEGMENTS = ("..", "sub", ".", LINK_DIR, "%2e%2e", "%252e%252e", "\uff0e\uff0e", "..%2f..", "...", "sub/..")
LEAVES = (
    "a.pdf",
    "a.txt",
    "secret.pdf",
    LINK_FILE,
    "b.pdf",
    "A.PDF",
    "a.pdf.",
    "a.pdf ",
    "a.pdf\x00.txt",
    "\uff41.pdf",
    "a.pdf%00.txt",
    "etc/passwd",
)


def _starts(world: PathWorld) -> list[str]:
    root = world.roots[0]
    return ["", root + "/", root + "/sub/", "/", world.cwd + "/", "./", "~/", "/" + root + "/", world.outside + "/"]


def _build(parts: tuple[str, list[str], str]) -> str:
    start, segments, leaf = parts
    return start + "/".join([*segments, leaf])


TECHNIQUES = technique_of(
    {
        "nul": lambda v: "\x00" in v,
        "relative": lambda v: not v.startswith(("/", "~")),
        "tilde": lambda v: v.startswith("~"),
        "encoded": lambda v: "%" in v,
        "lookalike": lambda v: not v.isascii(),
        "symlink": lambda v: f"/{LINK_DIR}/" in v or v.endswith("/" + LINK_FILE),
        "dotdot": lambda v: ".." in v.split("/"),
        "trailing": lambda v: v.endswith((".", " ")),
        "case": lambda v: v != v.lower(),
        "slashes": lambda v: v.startswith("//"),
    },
    "absolute",
)


def plans(ctx: Context) -> list[Plan]:
    out: list[Plan] = []
    for agent, tool, arg, spec in ctx.constrained("path"):
        world = ctx.worlds.get((tool, arg))
        if world is None or ctx.allowed_baseline(agent, tool) is None:
            continue
        strategy = st.tuples(
            st.sampled_from(_starts(world)), st.lists(st.sampled_from(SEGMENTS), max_size=4), st.sampled_from(LEAVES)
        ).map(_build)

        def oracle(value: str, w: PathWorld = world) -> bool:
            return oracles.path_escapes(value, w.roots, w.cwd, base=w.base, uri=ctx.uri_paths)

        out.append(
            argument_plan(
                ctx,
                FAMILY,
                (agent, tool, arg, spec),
                "path",
                strategy=strategy,
                oracle=oracle,
                technique=TECHNIQUES,
                show=functools.partial(_show, world=world),
            )
        )
    return out


def _show(value: str, world: PathWorld) -> str:
    """The case with sandbox directories written as the user's own roots (reports stay readable)."""
    for sandbox, original in zip(world.roots, world.original_roots, strict=True):
        value = value.replace(sandbox, original)
    return value.replace(world.cwd, "<tool cwd>").replace(world.outside, "<outside>")
