"""The oracles judge what a value means to its consumer, independently of warded's checks."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest

from warded.redteam import oracles


@pytest.fixture
def world(tmp_path: Path) -> tuple[str, str, str]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    cwd = tmp_path / "cwd"
    for d in (root, outside, cwd):
        d.mkdir()
    (outside / "secret.pdf").write_text("x")
    os.symlink(outside, root / "link")
    return str(root), str(outside), str(cwd)


@pytest.mark.parametrize(
    ("value", "escapes"),
    [
        ("{root}/a.pdf", False),
        ("a.pdf", True),  # relative: the tool's own directory, not the root
        ("{root}/../outside/secret.pdf", True),
        ("{root}/link/secret.pdf", True),  # a symlink out of the root
        ("{root}/sub/../a.pdf", False),
        ("{root}/a.pdf\x00../../x", False),  # C strings end at NUL: still inside
        ("/etc/passwd", True),
        ("{root}/%2e%2e/x", False),  # a literal name, unless the tool percent-decodes
    ],
)
def test_path_oracle(world: tuple[str, str, str], value: str, escapes: bool) -> None:
    root, _, cwd = world
    assert oracles.path_escapes(value.format(root=root), [root], cwd) is escapes


def test_path_oracle_reads_uri_paths_when_told(world: tuple[str, str, str]) -> None:
    root, _, cwd = world
    assert oracles.path_escapes(f"{root}/%2e%2e/x", [root], cwd, uri=True)


def test_relative_path_with_a_declared_base_inside_the_root(world: tuple[str, str, str]) -> None:
    root, _, cwd = world
    assert not oracles.path_escapes("a.pdf", [root], cwd, base=root)


@pytest.mark.parametrize(
    ("value", "breaks"),
    [
        ("a@example.com", False),
        ("A@EXAMPLE.COM", False),
        ("a@example.com.", False),
        ("a@ex\u0430mple.com", True),  # Cyrillic a: another domain
        ("a@xn--exmple-4nf.com", True),
        ("a@sub.example.com", True),
        ("all-staff@example.com", True),
        ("all-staff+x@example.com", True),  # plus-addressing reaches the denied mailbox
        ("a@example.com, b@evil.test", True),
        ("a@example.com\r\nBcc: b@evil.test", True),
        ('"b@evil.test"@example.com', False),  # quoted local part: delivered at example.com
    ],
)
def test_email_oracle(value: str, breaks: bool) -> None:
    assert oracles.email_breaks(value, ["*@example.com"], ["all-staff@example.com"]) is breaks


def test_sql_oracle_sees_in_table_reads() -> None:
    assert oracles.sql_breaks("SELECT id FROM orders WHERE id IN secrets", ["orders"])
    assert not oracles.sql_breaks("SELECT id FROM orders WHERE id IN (1, 2)", ["orders"])
    assert oracles.sql_breaks("SELECT id FROM orders; DELETE FROM orders", ["orders"])
    assert oracles.sql_breaks("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c", [])


@pytest.mark.parametrize(
    ("value", "breaks"),
    [(5, False), (0, True), (51, True), (math.nan, True), (math.inf, True), (True, True), ("1e9", True), ("7", False)],
)
def test_number_oracle(value: object, breaks: bool) -> None:
    assert oracles.number_breaks(value, 1, 50, integer=False) is breaks


def test_value_and_pattern_oracles() -> None:
    assert oracles.value_breaks("Inbox", ["inbox"], [])
    assert not oracles.value_breaks("inbox", ["inbox"], [])
    assert oracles.value_breaks("ＡＤＭＩＮ", [], ["admin"])
    assert oracles.pattern_breaks("abc\n", re.compile("[a-z]+"))


@pytest.mark.parametrize(
    "template",
    [
        "ATTACH DATABASE '{path}' AS x",
        "SELECT id FROM orders; ATTACH '{path}' AS x; CREATE TABLE x.t(a)",
        "SELECT 1; VACUUM INTO '{path}'",
        "ATTACH 'file:{path}?mode=rwc' AS x",
        "SELECT id FROM orders WHERE id IN (SELECT 1); ATTACH DATABASE '{path}' AS y; DETACH y",
    ],
)
def test_sql_oracle_creates_no_file_and_reports_the_attempt(template: str, tmp_path: Path) -> None:
    path = tmp_path / "planted.db"
    sql = template.format(path=path)
    result = oracles.sqlite_run(sql, ["orders"])
    assert not path.exists() and list(tmp_path.iterdir()) == []  # side-effect free
    assert any(r.startswith("<attach") for r in result.reads)  # the attempt is reported
    assert oracles.sql_breaks(sql, ["orders"])  # and is an attack


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA journal_mode = WAL",
        "PRAGMA main.user_version = 7",
        "SELECT load_extension('/tmp/evil')",
        "SELECT fts3_tokenizer('simple', x'00')",
    ],
)
def test_sql_oracle_refuses_writing_pragmas_and_extensions(sql: str) -> None:
    result = oracles.sqlite_run(sql, ["orders"])
    assert result.reads - {"orders"}, result  # reported
    assert oracles.sql_breaks(sql, ["orders"])


def test_sql_oracle_still_runs_honest_queries() -> None:
    assert oracles.sqlite_run("SELECT id, name FROM orders WHERE total > 2 ORDER BY id", ["orders"]).outcome == "ok"
    assert not oracles.sql_breaks("SELECT count(*) FROM orders JOIN orders AS o2 USING (id)", ["orders"])
