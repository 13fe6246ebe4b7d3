"""Bypass regressions for the ``sql`` constraint (issue 8, item 2), with SQLite itself as the oracle.

Two classes, one table row per variant:

* table-valued positions the parser did not classify as tables (``expr IN name`` and its spellings,
  eponymous virtual tables, CTE names SQLite resolves differently), read tables outside ``tables:``;
* read-only statements that only stall the database (recursion, wide joins, allocation by argument).

Every row is refused now and was allowed before. The differential tests run what warded allows in a
real in-memory SQLite whose authorizer records every table read and whose progress handler stops a
statement that runs too long: what passes reads only allowed tables and finishes.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warded.policy.constraints import ArgChecker, ArgSpec, compile_arg

RULE = "arg.run_sql.query.sql"
ORDERS = {"sql": {"tables": ["orders"]}}
BOTH = {"sql": {"tables": ["orders", "customers"]}}
OPEN: dict[str, Any] = {"sql": {}}

#: SQLite virtual-machine steps (in units of _STEP) an allowed statement may take on the tiny test DB.
_STEP = 1000
_MAX_STEPS = 20_000


def checker(spec: dict[str, Any]) -> ArgChecker:
    return compile_arg("run_sql", "query", ArgSpec.model_validate(spec))


def refused(spec: dict[str, Any], sql: str) -> bool:
    violations = checker(spec).check(sql)
    assert all(v.rule_id == RULE and "internal error" not in v.message for v in violations), violations
    return bool(violations)


def sqlite_run(sql: str) -> tuple[set[str], str]:
    """Run ``sql`` in a fresh DB: (tables SQLite read, outcome) with outcome "ok", "stalled" or "error".

    SQLite reports a materialised CTE as a read of its name, so a CTE that shadows a real table looks like a
    read of that table. Such a name is counted only if the query cannot run without the real table.
    """
    reads, outcome, _ = _sqlite_run(sql, ("orders", "customers"))
    if "customers" in reads:
        _, again, error = _sqlite_run(sql, ("orders",))
        if again == outcome and "no such table" not in error:
            reads.discard("customers")  # the same without the table: what it read was a CTE of that name
    return reads, outcome


def _sqlite_run(sql: str, tables: tuple[str, ...]) -> tuple[set[str], str, str]:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE orders(id INTEGER, cid INTEGER, total REAL, note TEXT)")
        if "customers" in tables:
            conn.execute("CREATE TABLE customers(id INTEGER, name TEXT, card TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", [(i, i % 3, i * 1.5, "n" * i) for i in range(8)])
        if "customers" in tables:
            conn.execute("INSERT INTO customers VALUES (1, 'ann', '4111111111111111')")
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000_000)
        held = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
        reads: set[str] = set()

        def authorizer(code: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
            if code == sqlite3.SQLITE_READ:
                # SQLite reports a materialised CTE as a read of its name: only names the DB holds count.
                if arg1 in held or db not in (None, "main") or (arg1 or "").startswith(("sqlite_", "pragma_", "json_")):
                    reads.add(f"{arg1}" if db in (None, "main") else f"{db}.{arg1}")
            elif code not in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE):
                reads.add(f"<action {code}>")
            return sqlite3.SQLITE_OK

        steps = 0

        def progress() -> int:
            nonlocal steps
            steps += 1
            return 1 if steps > _MAX_STEPS else 0

        conn.set_authorizer(authorizer)
        conn.set_progress_handler(progress, _STEP)
        try:
            conn.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            return reads, "stalled" if "interrupted" in str(exc) else "error", str(exc)
        except (sqlite3.DataError, MemoryError) as exc:
            return reads, "stalled", str(exc)  # string or blob too big
        except sqlite3.Error as exc:
            return reads, "error", str(exc)
        return reads, "ok", ""
    finally:
        conn.close()


# --- class 1: tables read from positions sqlglot does not call tables ---------------------------------

TABLE_BYPASSES = [
    pytest.param(
        ORDERS, "SELECT count(*) FROM orders WHERE (1, 'x', '4111111111111111') IN customers", id="row-in-table"
    ),
    pytest.param(ORDERS, "SELECT count(*) FROM orders WHERE id IN customers", id="in-bare-table"),
    pytest.param(ORDERS, "SELECT count(*) FROM orders WHERE id NOT IN customers", id="not-in-table"),
    pytest.param(ORDERS, "SELECT count(*) FROM orders WHERE id IN main.customers", id="in-main-qualified"),
    pytest.param(ORDERS, "SELECT count(*) FROM orders WHERE id IN temp.customers", id="in-temp-qualified"),
    pytest.param(ORDERS, 'SELECT count(*) FROM orders WHERE id IN "customers"', id="in-double-quoted"),
    pytest.param(ORDERS, "SELECT count(*) FROM orders WHERE id IN [customers]", id="in-bracket-quoted"),
    pytest.param(ORDERS, "SELECT count(*) FROM orders WHERE id IN `customers`", id="in-backquoted"),
    pytest.param(ORDERS, "SELECT count(*) FROM orders WHERE id IN 'customers'", id="in-string-literal-name"),
    pytest.param(ORDERS, "SELECT count(*) FROM orders WHERE 'orders' IN pragma_table_list", id="in-eponymous-vtable"),
    pytest.param(ORDERS, "SELECT 1 FROM orders WHERE 'x' IN pragma_table_info('customers')", id="in-pragma-function"),
    pytest.param(ORDERS, "SELECT 1 FROM orders WHERE 1 IN json_each('[1]')", id="in-table-valued-function"),
    pytest.param(ORDERS, "SELECT (SELECT 1 WHERE 1 IN customers) FROM orders", id="in-table-in-scalar-subquery"),
    pytest.param(
        ORDERS, "WITH a AS (SELECT id FROM orders WHERE id IN customers) SELECT * FROM a", id="in-table-in-cte"
    ),
    pytest.param(ORDERS, "SELECT id FROM orders UNION SELECT 1 WHERE 1 IN customers", id="in-table-in-union-branch"),
    pytest.param(ORDERS, "SELECT CASE WHEN id IN customers THEN 1 END FROM orders", id="in-table-in-case"),
    pytest.param(OPEN, "SELECT * FROM sqlite_dbpage", id="open-dangerous-vtable-name"),
    pytest.param(OPEN, "SELECT * FROM json_each('[1]')", id="open-unlisted-table-function"),
]


@pytest.mark.parametrize(("spec", "sql"), TABLE_BYPASSES)
def test_table_positions_are_checked(spec: dict[str, Any], sql: str) -> None:
    assert refused(spec, sql), sql


def test_the_bypass_really_reads_the_table_in_sqlite() -> None:
    """The oracle agrees that the first row reads ``customers``: the test DB is a faithful witness."""
    reads, _ = sqlite_run("SELECT count(*) FROM orders WHERE (1, 'x', '4111111111111111') IN customers")
    assert "customers" in reads


# --- class 2: statements that only stall the database ------------------------------------------------

STALLS = [
    pytest.param(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        id="unbounded-recursive-cte",
    ),
    pytest.param(
        "WITH orders(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM orders) SELECT count(*) FROM orders",
        id="recursive-cte-without-keyword-shadowing-allowed-table",
    ),
    pytest.param("SELECT count(*) FROM " + ", ".join(f"orders t{i}" for i in range(30)), id="30-way-cross-join"),
    pytest.param("SELECT count(*) FROM " + ", ".join(f"orders t{i}" for i in range(5)), id="5-way-cross-join"),
    pytest.param(
        "SELECT count(*) FROM orders a JOIN orders b ON 1 JOIN orders c ON 1 JOIN orders d ON 1 JOIN orders e ON 1",
        id="5-way-explicit-join",
    ),
    pytest.param(
        "WITH a AS (SELECT * FROM orders x, orders y), b AS (SELECT * FROM a p, a q) SELECT count(*) FROM b u, b v",
        id="cte-doubling-cross-join",
    ),
    pytest.param(
        "SELECT count(*) FROM "
        + ", ".join(f"(SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) s{i}" for i in range(30)),
        id="cross-join-of-table-free-subqueries",
    ),
    pytest.param(
        "SELECT count(*) FROM " + ", ".join(f"(VALUES (1), (2), (3)) v{i}" for i in range(30)),
        id="cross-join-of-values",
    ),
    pytest.param(
        "SELECT (SELECT count(*) FROM orders a, orders b, orders c WHERE a.id = o.id) FROM orders o, orders p",
        id="correlated-subquery-multiplies-joins",
    ),
    pytest.param(
        "SELECT count(*) FROM orders WHERE id IN orders AND id IN orders AND cid IN orders AND 1 IN orders",
        id="in-table-counts-as-a-source",
    ),
    pytest.param("SELECT length(printf('%.*c', 1000000000, 'x')) FROM orders", id="printf-star-precision"),
    pytest.param("SELECT length(printf('%1000000000d', 1)) FROM orders", id="printf-literal-width"),
    pytest.param("SELECT length(format('%.500000000c', 'x')) FROM orders", id="format-literal-precision"),
    pytest.param("SELECT printf(note, 1) FROM orders", id="printf-format-from-data"),
    pytest.param(
        "SELECT length(replace(replace(replace('aaaaaaaa', 'a', 'aaaaaaaa'), 'a', 'aaaaaaaa'), 'a', 'aaaaaaaa'))",
        id="nested-replace-blowup",
    ),
    pytest.param("SELECT length(replace(note, 'n', note)) FROM orders", id="replace-with-data-replacement"),
    pytest.param("SELECT length(replace(note, 'n', 'nnnnnnnnnnnnnnnn')) FROM orders", id="replace-long-literal"),
    pytest.param("SELECT length(" + "hex(" * 30 + "note" + ")" * 30 + ") FROM orders", id="nested-hex"),
    pytest.param("SELECT length(quote(hex(quote(note)))) FROM orders", id="nested-quote-hex"),
    pytest.param(
        "SELECT length(json_quote('' || json_quote('' || json_quote(note)))) FROM orders",
        id="json-quote-through-text",
    ),
    pytest.param("SELECT repeat('x', 1000000000)", id="unknown-function-refused"),
    pytest.param("SELECT main.upper(note) FROM orders", id="schema-qualified-function"),
    pytest.param("SELECT " + "(" * 3000 + "1" + ")" * 3000, id="nesting-beyond-parser-depth-is-a-clean-refusal"),
]


@pytest.mark.parametrize("sql", STALLS)
def test_stalls_are_refused(sql: str) -> None:
    assert refused(ORDERS, sql), sql


@pytest.mark.parametrize(
    ("spec", "sql", "expected"),
    [
        pytest.param(
            {"sql": {"tables": ["orders"], "max_tables": 6}},
            "SELECT 1 FROM orders a, orders b, orders c, orders d, orders e",
            False,
            id="raised-bound-allows-5",
        ),
        pytest.param(
            {"sql": {"tables": ["orders"], "max_tables": 1}},
            "SELECT 1 FROM orders a, orders b",
            True,
            id="lowered-bound-refuses-2",
        ),
        pytest.param(
            {"sql": {"tables": ["orders"], "functions": ["my_udf"]}},
            "SELECT my_udf(id) FROM orders",
            False,
            id="listed-function",
        ),
    ],
)
def test_bounds_are_configurable(spec: dict[str, Any], sql: str, expected: bool) -> None:
    assert refused(spec, sql) is expected


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param({"max_tables": 0}, id="max-tables-zero"),
        pytest.param({"max_tables": 1000}, id="max-tables-too-big"),
        pytest.param({"functions": ["randomblob"]}, id="dangerous-function-listed"),
        pytest.param({"functions": ["a b"]}, id="function-not-a-name"),
    ],
)
def test_unusable_bounds(sql: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="sql"):
        checker({"sql": sql})


# --- what stays allowed, and the differential oracle ---------------------------------------------------

ALLOWED = [
    "SELECT id, total FROM orders WHERE total > 10",
    "SELECT * FROM orders WHERE cid IN (1, 2, 3)",
    "SELECT * FROM orders WHERE cid IN (SELECT cid FROM orders WHERE total > 1)",
    "SELECT * FROM orders WHERE id NOT IN (id)",
    "SELECT count(*) FROM orders a, orders b, orders c, orders d",
    "WITH a AS (SELECT * FROM orders) SELECT count(*) FROM a x, a y",
    "WITH a AS (SELECT * FROM orders), b AS (SELECT * FROM a) SELECT * FROM b",
    "SELECT cid, count(*), sum(total), avg(total), group_concat(id, ',') FROM orders GROUP BY cid HAVING count(*) > 1",
    "SELECT id, row_number() OVER (PARTITION BY cid ORDER BY total DESC) FROM orders",
    "SELECT id, lag(total, 1) OVER w FROM orders WINDOW w AS (ORDER BY id)",
    "SELECT printf('%5.2f|%-10s|%d', total, note, id) FROM orders",
    "SELECT replace(note, 'n', 'm'), hex(note), quote(note), upper(note), substr(note, 1, 3) FROM orders",
    "SELECT json_object('id', id, 'extra', json_object('t', total, 'n', json_array(note))) FROM orders",
    "SELECT json_group_array(json_object('id', id)) FROM orders",
    "SELECT note ->> '$.a', json_extract(note, '$.b') FROM orders WHERE json_valid(note)",
    "SELECT CAST(total AS INTEGER), coalesce(note, ''), ifnull(note, 'x'), iif(id > 2, 'a', 'b') FROM orders",
    "SELECT date('now'), datetime(id, 'unixepoch'), strftime('%Y', 'now') FROM orders",
    "SELECT * FROM orders WHERE note LIKE 'n%' ESCAPE '!' OR note GLOB 'n*' ORDER BY id LIMIT 3 OFFSET 1",
    "SELECT * FROM orders WHERE note = 'x' COLLATE NOCASE AND id BETWEEN 1 AND 5 AND note IS NOT NULL",
    "SELECT DISTINCT cid FROM orders UNION SELECT id FROM orders EXCEPT SELECT 1 INTERSECT SELECT 2",
    "SELECT EXISTS (SELECT 1 FROM orders WHERE id = 3)",
    "SELECT * FROM (VALUES (1), (2)) AS v",
    "SELECT max(id, cid), min(total), abs(-1), round(total, 1), length(note), instr(note, 'n') FROM orders",
    "SELECT count(*) FILTER (WHERE total > 1) FROM orders",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_ordinary_queries_stay_allowed_and_sqlite_agrees(sql: str) -> None:
    assert not refused(ORDERS, sql), sql
    reads, outcome = sqlite_run(sql)
    assert reads <= {"orders"}, (sql, reads)
    assert outcome == "ok", (sql, outcome)


CORPUS = [p.values[1] for p in TABLE_BYPASSES] + [p.values[0] for p in STALLS] + ALLOWED


@pytest.mark.parametrize("sql", CORPUS)
def test_allowed_means_sqlite_reads_only_allowed_tables_and_finishes(sql: str) -> None:
    if refused(ORDERS, sql):
        return
    reads, outcome = sqlite_run(sql)
    assert reads <= {"orders"}, (sql, reads)
    assert outcome != "stalled", sql


_NAMES = ["orders", "customers", "main.orders", "main.customers", "temp.customers", '"customers"', "[customers]",
          "'customers'", "pragma_table_list", "sqlite_schema", "json_each('[1]')", "pragma_table_info('customers')",
          "c", "orders AS customers"]  # fmt: skip
_SOURCES = st.sampled_from([*_NAMES, "(SELECT * FROM {n})", "(SELECT 1 WHERE 1 IN {n})"])
_PREDICATES = st.sampled_from(
    ["1", "id IN {n}", "id NOT IN {n}", "(1, 2) IN {n}", "EXISTS (SELECT 1 FROM {n})", "id IN (SELECT 1 FROM {n})",
     "id = (SELECT count(*) FROM {n})"]
)  # fmt: skip
_PREFIXES = st.sampled_from(
    ["", "WITH c AS (SELECT * FROM {n}) ", "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) ",
     "WITH customers AS (SELECT * FROM orders) ", "WITH orders(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM orders) "]
)  # fmt: skip


@st.composite
def _queries(draw: st.DrawFn) -> str:
    def name() -> str:
        return draw(st.sampled_from(_NAMES))

    prefix = draw(_PREFIXES).replace("{n}", name())
    sources = [draw(_SOURCES).replace("{n}", name()) for _ in range(draw(st.integers(1, 6)))]
    predicate = draw(_PREDICATES).replace("{n}", name())
    return f"{prefix}SELECT count(*) FROM {', '.join(sources)} WHERE {predicate}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sql=_queries())
def test_generated_queries_agree_with_sqlite(sql: str) -> None:
    if refused(ORDERS, sql):
        return
    reads, outcome = sqlite_run(sql)
    assert reads <= {"orders"}, (sql, reads)
    assert outcome != "stalled", sql
