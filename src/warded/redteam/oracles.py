"""Oracles: what a case *means* to the system on the other side, judged without warded's own checks.

Each oracle reads a value the way its consumer does (the tool server's filesystem calls, a mail transfer
agent's address parser, SQLite itself) and says whether that reading breaks the intent of the policy's
constraint. They share no code with ``warded.policy``: an oracle that reused the checker would agree with
every bug it has.
"""

from __future__ import annotations

import email.utils
import fnmatch
import math
import os
import re
import sqlite3
import unicodedata
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# -- paths ---------------------------------------------------------------------------------------


def _inside(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") or r == "/" for r in roots)


def path_readings(value: str, *, uri: bool = False) -> list[str]:
    """The strings a tool may end up passing to the filesystem for ``value``.

    ``posix`` (default): the string itself, cut at the first NUL (C strings end there). ``uri`` adds the
    readings of a tool that percent-decodes (once and twice) before opening.
    """
    out = [value.split("\x00", 1)[0]]
    if uri:
        once = urllib.parse.unquote(value)
        out += [once.split("\x00", 1)[0], urllib.parse.unquote(once).split("\x00", 1)[0]]
    return [r for r in dict.fromkeys(out) if r]


def path_escapes(value: object, roots: Sequence[str], cwd: str, *, base: str | None = None, uri: bool = False) -> bool:
    """Does some reading of ``value`` open a file outside ``roots``?

    Resolved as the tool would: a relative path against the tool's own directory (``base`` when the
    policy declares one, else ``cwd``), ``~`` expanded, symlinks followed on the real filesystem.
    """
    if not isinstance(value, str):
        return False
    real_roots = [os.path.realpath(r) for r in roots]
    for reading in path_readings(value, uri=uri):
        text = os.path.expanduser(reading) if reading.startswith("~") else reading
        joined = text if text.startswith("/") else os.path.join(base or cwd, text)
        try:
            real = os.path.realpath(joined)
        except (OSError, ValueError):
            continue
        if not _inside(real, real_roots):
            return True
    return False


# -- e-mail and hosts ----------------------------------------------------------------------------


def _idna_text(host: str) -> str:
    """``host`` as Unicode text, lower-cased, trailing dots dropped (``xn--`` labels decoded)."""
    host = host.strip().rstrip(".").lower()
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")  # noqa: PLW2901
            except (UnicodeError, ValueError):
                return "\ufffd" + host  # an undecodable label: no allowed host can equal it
        labels.append(label)
    return ".".join(labels)


def host_allowed(host: str, allow: Sequence[str], deny: Sequence[str] = ()) -> bool:
    """Is ``host`` (as a resolver reads it) one the patterns allow? ``*.x`` matches subdomains only."""
    text = _idna_text(host)
    if not text or any(_host_match(text, p) for p in deny):
        return False
    return any(_host_match(text, p) for p in allow)


def _host_match(host: str, pattern: str) -> bool:
    pattern = pattern.strip().rstrip(".").lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and all(c.isascii() for c in host)
    return host == pattern


def recipients(value: str) -> list[tuple[str, str]] | None:
    """The (local, domain) pairs a mail agent reads in ``value``; None when it cannot read one cleanly."""
    if any(c in value for c in "\r\n\x00"):
        return None  # header injection: more recipients than the value shows
    parsed = email.utils.getaddresses([value])
    out: list[tuple[str, str]] = []
    for _, addr in parsed:
        if "@" not in addr:
            return None
        local, _, domain = addr.rpartition("@")
        out.append((local, domain))
    return out or None


def _canonical_local(local: str) -> str:
    local = local.strip('"').lower()
    return local.split("+", 1)[0]


def email_breaks(value: object, allow: Sequence[str], deny: Sequence[str]) -> bool:
    """Does ``value`` (an address, as a mail agent reads it) reach a mailbox the patterns do not allow?"""
    if not isinstance(value, str):
        return False
    found = recipients(value)
    if found is None:
        return True
    for local, domain in found:
        host = _idna_text(domain)
        mailbox = f"{_canonical_local(local)}@{host}"
        if any(_mail_match(mailbox, _canonical_local(lp), dp) for lp, dp in (_split(p) for p in deny)):
            return True
        if not any(_mail_match(mailbox, lp, dp) for lp, dp in (_split(p) for p in allow)):
            return True
    return False


def _split(pattern: str) -> tuple[str, str]:
    local, _, domain = pattern.lower().rpartition("@")
    return local or "*", domain


def _mail_match(mailbox: str, local_glob: str, domain_glob: str) -> bool:
    local, _, domain = mailbox.rpartition("@")
    if not all(c.isascii() and c.isprintable() for c in domain):
        return False  # a look-alike or non-ASCII host is never the ASCII domain the pattern names
    domain_ok = domain.endswith(domain_glob[1:]) if domain_glob.startswith("*.") else domain == domain_glob
    return domain_ok and fnmatch.fnmatchcase(local, local_glob)


def url_host(value: str) -> str | None:
    """The host a client connects to for ``value`` (a URL or a bare host)."""
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        host = urllib.parse.urlsplit(text).hostname
    except ValueError:
        return None
    return host


# -- numbers, values, patterns -------------------------------------------------------------------


def number_breaks(value: object, lo: float | None, hi: float | None, *, integer: bool) -> bool:
    """Does the number a lenient tool reads from ``value`` fall outside ``[lo, hi]`` or not exist?"""
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return False  # the tool cannot read a number at all: it fails, nothing happens
    elif isinstance(value, int | float):
        number = float(value) if not isinstance(value, int) or abs(value) < 2**1000 else math.inf
    else:
        return False
    if not math.isfinite(number):
        return True
    if integer and not float(number).is_integer():
        return True
    return (lo is not None and number < lo) or (hi is not None and number > hi)


def _fold(text: str) -> str:
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Cc", "Zl", "Zp"))
    return unicodedata.normalize("NFKC", text).casefold().strip()


def value_breaks(value: object, allow: Sequence[object], deny: Sequence[object]) -> bool:
    """Is ``value`` off the allow list (exactly), or a spelling of a denied value?"""
    if isinstance(value, str) and any(isinstance(d, str) and _fold(value) == _fold(d) for d in deny):
        return True
    if allow:
        return not any(type(value) is type(a) and value == a for a in allow)
    return False


def pattern_breaks(value: object, pattern: re.Pattern[str]) -> bool:
    """Does ``value`` fail to match ``pattern`` in full (Python's engine, not RE2)?"""
    return isinstance(value, str) and pattern.fullmatch(value) is None


# -- SQL: SQLite itself, under an authorizer -------------------------------------------------------

#: SQLite virtual-machine steps (in units of ``_STEP``) a statement may take on the oracle's tiny DB (8 rows
#: a table): past it the statement stalls the database.
_STEP = 1000
_MAX_STEPS = 1_000  # 1M steps: ample for any honest query on a few rows
#: A table the policy never lists: reading it is the attack.
SECRET_TABLE = "secrets"  # noqa: S105 - a table name, not a password


#: Functions that reach outside the in-memory database (load code, install tokenizers by pointer).
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})


@dataclass(frozen=True, slots=True)
class SqlOutcome:
    reads: frozenset[str]  # tables (or ``<action N>``) SQLite reported while preparing and running
    outcome: str  # ok, stalled or error


def sqlite_run(sql: str, tables: Sequence[str]) -> SqlOutcome:
    """Run ``sql`` in a fresh in-memory DB holding ``tables`` (and a secret one); record every read.

    The database is what a read-only tool would open: each allowed table with a few rows, plus
    ``secrets``. Several statements run as a script (as a tool calling ``executescript`` would).

    Side-effect free: the statements are attacker-influenced, so nothing they do may leave the in-memory
    database. The authorizer *denies* (and records, so the case is an attack) ``ATTACH`` and ``DETACH``
    (``ATTACH '/some/path'`` and ``VACUUM INTO '/some/path'`` would create files), every ``PRAGMA`` (some
    write settings or files), and ``load_extension``/``fts3_tokenizer``; attaching is also limited to no
    database at all, temporary storage is kept in memory, and extension loading is never enabled.
    """
    conn = sqlite3.connect(":memory:", uri=False)
    try:
        conn.execute("PRAGMA temp_store = MEMORY")  # sorts and temp tables never spill to a file
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)  # no ATTACH can succeed, authorizer or not
        for name in (*tables, SECRET_TABLE):
            quoted = '"' + name.replace('"', '""') + '"'
            conn.execute(f"CREATE TABLE {quoted}(id INTEGER, cid INTEGER, name TEXT, total REAL)")
            conn.executemany(
                f"INSERT INTO {quoted} VALUES (?, ?, ?, ?)",  # noqa: S608
                [(i, i % 3, f"n{i}", i * 1.5) for i in range(8)],
            )
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000_000)
        held = {row[0].lower() for row in conn.execute("SELECT name FROM sqlite_schema")}
        reads: set[str] = set()

        def authorizer(code: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
            if code in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
                reads.add(f"<{'attach' if code == sqlite3.SQLITE_ATTACH else 'detach'} {(arg1 or '')[:80]!r}>")
                return sqlite3.SQLITE_DENY
            if code == sqlite3.SQLITE_PRAGMA:
                reads.add(f"<pragma {(arg1 or '')[:80]}>")
                return sqlite3.SQLITE_DENY
            if code == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
                reads.add(f"<function {(arg2 or '').lower()}>")
                return sqlite3.SQLITE_DENY
            if code == sqlite3.SQLITE_READ:
                name = (arg1 or "").lower()
                if name in held or db not in (None, "main") or name.startswith(("sqlite_", "pragma_", "json_")):
                    reads.add(name if db in (None, "main") else f"{db}.{name}")
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
            try:
                conn.execute(sql).fetchall()
            except sqlite3.ProgrammingError as exc:
                if "one statement at a time" not in str(exc):
                    raise
                conn.executescript(sql)
        except sqlite3.OperationalError as exc:
            return SqlOutcome(frozenset(reads), "stalled" if "interrupted" in str(exc) else "error")
        except (sqlite3.DataError, MemoryError, OverflowError):
            return SqlOutcome(frozenset(reads), "stalled")
        except (sqlite3.Error, ValueError):
            return SqlOutcome(frozenset(reads), "error")
        return SqlOutcome(frozenset(reads), "ok")
    finally:
        conn.close()


def sql_breaks(value: object, tables: Sequence[str]) -> bool:
    """Does SQLite, running ``value``, read a table outside ``tables``, write, or stall?"""
    if not isinstance(value, str):
        return False
    allowed = {t.lower() for t in tables}
    result = sqlite_run(value, tables)
    if result.outcome == "stalled":
        return True
    return any(r not in allowed for r in result.reads)
