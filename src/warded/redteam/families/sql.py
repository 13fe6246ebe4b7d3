"""``sql``: read a table the policy does not list, write, or stall the database, through every
table-valued position (``FROM``, joins, ``IN table``, sub-queries, CTEs and CTEs shadowing allowed names,
unions, ``CASE``), quoted spellings of names, comments, stacked statements and stalling queries (unbounded
recursion, wide joins, huge allocations). Oracle: SQLite itself under an authorizer and a progress limit
(``oracles.sql_breaks``)."""

from __future__ import annotations

from hypothesis import strategies as st

from warded.redteam import oracles
from warded.redteam.families._context import Context, argument_plan, technique_of
from warded.redteam.model import Plan

FAMILY = "sql"

TEMPLATES = (
    "SELECT * FROM {A}",
    "SELECT * FROM {T}",
    "SELECT id FROM {A} WHERE id IN {T}",
    "SELECT id FROM {A} WHERE id NOT IN {T}",
    "SELECT id FROM {A} WHERE id IN (SELECT id FROM {T})",
    "SELECT id FROM {A} WHERE EXISTS (SELECT 1 FROM {T})",
    "SELECT (SELECT count(*) FROM {T}) FROM {A}",
    "SELECT a.id FROM {A} a JOIN {T} b ON a.id = b.id",
    "WITH c AS (SELECT * FROM {T}) SELECT * FROM c",
    "WITH {A} AS (SELECT * FROM {T}) SELECT * FROM {A}",
    "SELECT id FROM {A} UNION SELECT id FROM {T}",
    "SELECT CASE WHEN id IN {T} THEN 1 END FROM {A}",
    "SELECT id FROM {A}; SELECT * FROM {T}",
    "SELECT id FROM {A}; DELETE FROM {A}",
    "DELETE FROM {A}",
    "UPDATE {A} SET id = 0",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    "SELECT count(*) FROM {A} a, {A} b, {A} c, {A} d, {A} e, {A} f, {A} g, {A} h",
    "SELECT length(randomblob(1000000000)) FROM {A}",
    "SELECT id FROM {A} WHERE id IN (WITH c AS (SELECT id FROM {T}) SELECT id FROM c)",
)
TARGETS = (oracles.SECRET_TABLE, "sqlite_master", "sqlite_schema", "pragma_table_list", "main." + oracles.SECRET_TABLE)
SPELLINGS = ("{t}", '"{t}"', "[{t}]", "`{t}`", "{T}")
COMMENTS = ("", "/**/", "-- x\n")

TECHNIQUES = technique_of(
    {
        "stacked": lambda v: ";" in v,
        "write": lambda v: v.lstrip().upper().startswith(("DELETE", "UPDATE")),
        "stall": lambda v: "RECURSIVE" in v or "randomblob" in v or " h" in v,
        "cte_shadow": lambda v: v.startswith("WITH") and " AS (SELECT * FROM" in v and "SELECT * FROM c" not in v,
        "in_table": lambda v: " IN " in v and " IN (" not in v,
        "cte": lambda v: "WITH" in v,
        "subquery": lambda v: "(SELECT" in v or "EXISTS" in v,
        "join": lambda v: "JOIN" in v,
        "union": lambda v: "UNION" in v,
    },
    "from",
)


def _spell(target: str, spelling: str) -> str:
    if "." in target:  # qualified: quote the table part only
        schema, _, name = target.partition(".")
        return schema + "." + spelling.format(t=name, T=name.upper())
    return spelling.format(t=target, T=target.upper())


def plans(ctx: Context) -> list[Plan]:
    out: list[Plan] = []
    for agent, tool, arg, spec in ctx.constrained("sql"):
        if ctx.allowed_baseline(agent, tool) is None:
            continue
        sql_spec = spec.sql
        assert sql_spec is not None
        tables = tuple(sql_spec.tables or ())
        allowed_name = tables[0] if tables else "t"
        oracle_tables = tables or (allowed_name,)

        def build(parts: tuple[str, str, str, str], a: str = allowed_name) -> str:
            template, target, spelling, comment = parts
            text = template.format(A=a, T=_spell(target, spelling))
            return text.replace("SELECT ", "SELECT " + comment, 1) if comment else text

        strategy = st.tuples(
            st.sampled_from(TEMPLATES), st.sampled_from(TARGETS), st.sampled_from(SPELLINGS), st.sampled_from(COMMENTS)
        ).map(build)

        def oracle(value: str, t: tuple[str, ...] = oracle_tables, open_: bool = not tables) -> bool:
            if open_:  # every user table allowed: only writes, stalls and internal tables count
                result = oracles.sqlite_run(value, t)
                return result.outcome == "stalled" or any(r.startswith(("<", "sqlite_")) for r in result.reads)
            return oracles.sql_breaks(value, t)

        out.append(
            argument_plan(
                ctx,
                FAMILY,
                (agent, tool, arg, spec),
                "sql",
                strategy=strategy,
                oracle=oracle,
                technique=TECHNIQUES,
                raw=True,
            )
        )
    return out
