"""Invariants of the argument constraints, over generated inputs (Hypothesis).

* ``check`` never raises and returns only Violations, whatever it is given.
* A path that passes is inside a root after ``realpath`` (symlinks in, out and in loops on disk).
* A URL that passes has, by the standard library's own reading, an allowed host.
* An address that passes is, by the standard library's own reading, exactly one allowed address.
* SQL that passes, run in a real SQLite under an authorizer, is one statement that only reads allowed tables.
"""

from __future__ import annotations

import os
import posixpath
import sqlite3
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warded.policy.constraints import ArgChecker, ArgSpec, Violation, compile_arg

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def checker(spec: dict[str, Any], arg: str = "a") -> ArgChecker:
    return compile_arg("t", arg, ArgSpec.model_validate(spec))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tree")
    root = base / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "f.txt").write_text("f")
    (base / "out").mkdir()
    (base / "out" / "s.txt").write_text("s")
    (root / "up").symlink_to(base)
    (root / "out").symlink_to(base / "out")
    (root / "a" / "back").symlink_to(root / "a")
    (root / "loop").symlink_to(root / "loop")
    (root / "rel").symlink_to("../out")
    (root / "abs").symlink_to("/etc")
    return base


SEGMENTS = st.sampled_from(
    ["a", "b", "f.txt", "..", ".", "", "up", "out", "back", "loop", "rel", "abs", "root", "s.txt"]
)


@SETTINGS
@given(segments=st.lists(SEGMENTS, max_size=8), absolute=st.booleans(), resolve=st.booleans())
def test_a_passing_path_is_inside_the_root(tree: Path, segments: list[str], absolute: bool, resolve: bool) -> None:
    root = str(tree / "root")
    check = checker({"path": {"roots": [root], "base": root, "resolve_symlinks": resolve}}).check
    value = ("/".join([root, *segments]) if absolute else "/".join(segments)) or "."
    if check(value) != []:
        return
    joined = value if value.startswith("/") else root + "/" + value
    lexical = posixpath.normpath(joined)
    assert lexical == root or lexical.startswith(root + "/")
    if resolve:
        real = os.path.realpath(joined)
        assert real == root or real.startswith(root + "/"), value


@SETTINGS
@given(value=st.text(max_size=60))
def test_random_text_paths(tree: Path, value: str) -> None:
    root = str(tree / "root")
    violations = checker({"path": {"roots": [root], "base": root, "deny_globs": ["**/b/**"]}}).check(value)
    assert all(isinstance(v, Violation) for v in violations)
    if not violations:
        real = os.path.realpath(value if value.startswith("/") else root + "/" + value)
        assert real == root or real.startswith(root + "/")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
    | st.binary(max_size=10)
    | st.sampled_from(["\ud800", "a\udfff.eml", "x@example.com\ud83d", "SELECT '\udc00'", "\x00", "\u202e"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)

SPECS: list[dict[str, Any]] = [
    {},
    {"type": "string", "max_length": 20},
    {"type": "integer"},
    {"type": "number"},
    {"type": "array", "max_length": 3},
    {"type": "object"},
    {"path": {"roots": ["/srv/data"], "globs": ["**/*.txt"], "deny_globs": ["**/.git/**"]}},
    {"email": {"allow": ["*@example.com", "*@*.example.org", "bob@x.net"], "deny": ["ceo@example.com"]}},
    {"domain": {"allow": ["example.com", "*.example.org", "10.0.0.1"], "deny": ["bad.example.org"]}},
    {"values": {"allow": ["a", "B", 3], "case_sensitive": False}},
    {"number": {"min": -1, "max": 1.5}},
    {"number": {"integer": True}},
    {"pattern": "[a-z]{1,5}"},
    {"sql": {"tables": ["orders"]}},
    {"sql": {"dialect": "postgres", "read_only": False}},
]
CHECKERS = [checker(spec | {"secret": secret}) for spec in SPECS for secret in (False, True)]
EMAIL = checker(SPECS[7])
DOMAIN = checker(SPECS[8])
SQL_ORDERS = checker(SPECS[13])
assert [EMAIL._families[0][0], DOMAIN._families[0][0], SQL_ORDERS._families[0][0]] == [
    "arg.t.a.email",
    "arg.t.a.domain",
    "arg.t.a.sql",
]


@SETTINGS
@given(value=JSON)
def test_check_never_raises(value: object) -> None:
    for c in CHECKERS:
        violations = c.check(value)
        assert isinstance(violations, list)
        for violation in violations:
            assert isinstance(violation, Violation)
            assert violation.rule_id.startswith("arg.t.a.")
            assert "internal error" not in violation.message, (c, value, violation)


SQL_BITS = st.sampled_from(
    ["SELECT", "*", "id", "FROM", "orders", "users", "sqlite_master", "main.orders", ";", "-- c\n", "/* c */",
     "/*", "*/", "UNION", "ALL", "WITH", "x", "AS", "(", ")", "DROP", "TABLE", "DELETE", "INSERT", "INTO",
     "VALUES", "(1)", "WHERE", "1", "=", ",", "upper(id)", "load_extension('x')", "PRAGMA", "'", '"', "\\",
     "[", "]", "`", "\x00"]
)  # fmt: skip
SQL_TEMPLATES = st.sampled_from(
    ["SELECT {a} FROM {b}", "WITH x AS (SELECT * FROM {a}) SELECT * FROM {b}", "SELECT * FROM {a} UNION SELECT * FROM {b}",
     "SELECT * FROM orders WHERE id IN (SELECT {a} FROM {b})", "{a}; {b}", "SELECT * FROM {a} {b}"]
)  # fmt: skip


def _sqlite_oracle(sql: str) -> tuple[set[str], set[int]] | str | None:
    """What SQLite itself does with ``sql``: (tables read, other action codes), "stacked", or None on error."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE orders(id, total)")
        conn.execute("CREATE TABLE users(id, pw)")
        tables: set[str] = set()
        other: set[int] = set()

        def authorizer(code: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
            if code == sqlite3.SQLITE_READ and arg1 is not None:
                tables.add(arg1)
            elif code not in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE):
                other.add(code)
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK

        conn.set_authorizer(authorizer)
        try:
            conn.execute(sql).fetchall()
        except sqlite3.ProgrammingError as exc:
            return "stacked" if "one statement" in str(exc) else None
        except sqlite3.Error:
            return None
        return tables, other
    finally:
        conn.close()


@SETTINGS
@given(template=SQL_TEMPLATES, a=st.lists(SQL_BITS, max_size=5), b=st.lists(SQL_BITS, max_size=5))
def test_passing_sql_only_reads_allowed_tables_in_sqlite(template: str, a: list[str], b: list[str]) -> None:
    text = template.format(a=" ".join(a) or "*", b=" ".join(b) or "orders")
    violations = SQL_ORDERS.check(text)
    assert all(v.rule_id == "arg.t.a.sql" and "internal error" not in v.message for v in violations)
    if violations:
        return
    outcome = _sqlite_oracle(text)
    assert outcome != "stacked", text
    if isinstance(outcome, tuple):
        tables, other = outcome
        assert tables <= {"orders"}, text
        assert not other, text


HOSTS = st.sampled_from(
    ["example.com", "EXAMPLE.COM", "example.com.", "a.example.org", "example.org", "bad.example.org",
     "evil.com", "exаmple.com", "10.0.0.1", "167772161", "[::ffff:10.0.0.1]", "xn--bcher-kva.de", ""]
)  # fmt: skip
URL_PREFIX = st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "//", "", "https:/", "https:\\\\"])
USERINFO = st.sampled_from(["", "", "u@", "example.com@", "a:b@"])
PORT = st.sampled_from(["", "", ":443", ":", ":99999", ":x"])
TAIL = st.sampled_from(["", "/", "/p?q=1", "#@evil.com", "\\@evil.com", "/\n", "@evil.com", " x", "%2f@evil.com"])


def _allowed(host: str) -> bool:
    host = host.rstrip(".").lower()
    if host == "bad.example.org":
        return False
    return host in {"example.com", "10.0.0.1", "::ffff:10.0.0.1"} or host.endswith(".example.org")


@SETTINGS
@given(prefix=URL_PREFIX, userinfo=USERINFO, host=HOSTS, port=PORT, tail=TAIL)
def test_a_passing_url_has_an_allowed_host(prefix: str, userinfo: str, host: str, port: str, tail: str) -> None:
    value = prefix + userinfo + host + port + tail
    if DOMAIN.check(value) != []:
        return
    hostname = urlsplit(value).hostname if "://" in value else value.strip("[]")
    assert hostname is not None and _allowed(hostname), value


LOCALS = st.sampled_from(["bob", "ceo", "ceo+x", "a.b", "Bob", '"q"', "a b", ""])
DOMAINS = st.sampled_from(["example.com", "x.net", "sub.example.org", "example.org", "evil.com", "EXAMPLE.com"])
NAMES = st.sampled_from(["", "Bob ", "Bob", "a@evil.com ", '"B, ob" ', "Bob\r\n", "x, y@evil.com "])
WRAP = st.sampled_from(["{n}<{a}>", "{a}", "{n}{a}", "{a}, z@evil.com", "{a}>", "<{a}"])


@SETTINGS
@given(local=LOCALS, domain=DOMAINS, name=NAMES, wrap=WRAP)
def test_a_passing_address_is_one_allowed_address(local: str, domain: str, name: str, wrap: str) -> None:
    value = wrap.format(n=name, a=f"{local}@{domain}")
    if EMAIL.check(value) != []:
        return
    parsed = getaddresses([value])
    assert len(parsed) == 1, value
    address = parsed[0][1].lower()
    assert address.count("@") == 1
    user, _, host = address.partition("@")
    assert host in {"example.com", "x.net"} or host.endswith(".example.org"), value
    assert user.split("+")[0] != "ceo" or host != "example.com", value
    if host == "x.net":
        assert user == "bob"
