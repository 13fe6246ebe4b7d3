"""The ``sql`` family: one SQL statement, parsed (never regex-matched) with sqlglot.

* The text must parse in the spec's dialect (default ``sqlite``) as exactly one statement: stacked
  queries (``SELECT 1; DROP TABLE t``, also when the second one hides after a comment) are refused, and
  any parse error is a violation (fail closed). MySQL executable comments (``/*! ... */``) are refused
  because the server runs what sqlglot reads as a comment. NUL and control characters other than tab,
  LF and CR are refused. Outside SQLite a backslash is refused: whether it escapes a quote depends on
  server settings (MySQL ``NO_BACKSLASH_ESCAPES``, PostgreSQL ``standard_conforming_strings``), so a
  string could end earlier for the server than for the parser.
* The statement's root must be a known query kind: ``SELECT``/set operations when ``read_only`` (the
  default), plus ``INSERT``/``UPDATE``/``DELETE``/``MERGE``/``CREATE``/``DROP``/``ALTER``/``TRUNCATE`` when
  not. Anything sqlglot could only keep as an opaque command is refused.
* Everywhere in the tree (CTEs, subqueries, every ``UNION`` branch): no ``ATTACH``/``PRAGMA``/``COPY``/
  ``SET``/``USE``/``GRANT``-style nodes ever; with ``read_only`` also no data-modifying node, no
  ``SELECT ... INTO`` and no ``FOR UPDATE`` locks.
* Functions that reach the filesystem, the network, other databases or the server itself, or that only
  serve to stall it (``load_extension``, ``readfile``, ``pg_read_file``, ``dblink``, ``query_to_xml``,
  ``read_csv``, ``sleep``...) are refused whatever ``read_only`` says: see :data:`DANGEROUS_FUNCTIONS`.
* With ``tables``, every table reference must be listed. Names are compared the way the dialect resolves
  identifiers (sqlglot's normalisation: unquoted names are case-insensitive; in case-sensitive dialects a
  quoted ``"Orders"`` is not ``orders``); spec entries are read as unquoted identifiers. Qualified names
  are compared on *every* part: a bare entry ``orders`` matches only an unqualified ``orders``, and
  ``main.orders`` or ``tenant_b.orders`` must be listed as such (same-named tables in another schema or
  attached database are a classic cross-tenant read). A table-valued function in ``FROM`` is refused
  unless its name is listed. A CTE name is not a table, but only where the CTE is certainly in scope:
  earlier in the same ``WITH``, or itself under ``WITH RECURSIVE``; any other same-named reference counts
  as a real table.
* Whatever the table list, a quoted table name that looks like a file path or URL (``'/etc/passwd'``,
  ``"x.csv"``, ``'s3://...'``) is refused: DuckDB reads such "tables" from disk or the network.
"""

from __future__ import annotations

import logging

import re2
import sqlglot
from pydantic import BaseModel
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from ._base import STRICT, FamilyCheck, StrTuple, Subject, encodable, exact_str

#: Longest SQL text that is parsed at all.
SQL_MAX_INPUT = 65536

#: Functions refused in every statement (lowercase). Reaching files, the network, other databases or
#: the server, running SQL from a string, writing sequences, or stalling the server on purpose.
DANGEROUS_FUNCTIONS = frozenset(
    {
        # SQLite (and common extensions)
        "load_extension", "readfile", "writefile", "edit", "fsdir", "zipfile", "fts3_tokenizer",
        "sqlite_dbpage", "sqlite_dbdata", "sqlite_dbptr", "randomblob", "zeroblob",
        # PostgreSQL
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_ls_logdir", "pg_ls_waldir",
        "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_stat_file", "pg_file_write", "pg_file_rename",
        "pg_file_unlink", "pg_logdir_ls", "lo_import", "lo_export", "lo_get", "lo_put", "lo_from_bytea",
        "lo_create", "lo_unlink", "dblink", "dblink_exec", "dblink_connect", "dblink_open",
        "dblink_send_query",
        "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_terminate_backend", "pg_cancel_backend",
        "pg_reload_conf", "pg_rotate_logfile", "set_config", "query_to_xml", "query_to_xml_and_xmlschema",
        "query_to_xmlschema", "cursor_to_xml", "table_to_xml", "table_to_xml_and_xmlschema",
        "schema_to_xml", "database_to_xml", "nextval", "setval", "pg_advisory_lock", "pg_notify",
        "pg_switch_wal", "pg_promote",
        # MySQL / MariaDB
        "load_file", "sleep", "benchmark", "sys_exec", "sys_eval", "get_lock", "master_pos_wait",
        # SQL Server
        "xp_cmdshell", "xp_dirtree", "xp_fileexist", "xp_regread", "openrowset", "opendatasource",
        "openquery",
        # DuckDB
        "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
        "read_json_objects", "read_ndjson", "read_ndjson_objects", "read_text", "read_blob", "glob",
        "sniff_csv", "query", "query_table", "getenv", "install", "load",
        # generic
        "exec", "execute", "eval", "system", "shell",
    }
)  # fmt: skip


def _classes(*names: str) -> tuple[type[exp.Expr], ...]:
    found: list[type[exp.Expr]] = []
    for name in names:
        cls = getattr(exp, name, None)
        if isinstance(cls, type) and issubclass(cls, exp.Expr):
            found.append(cls)
    return tuple(found)


_READ_ROOTS = _classes("Select", "SetOperation", "Union", "Intersect", "Except", "Subquery")
_WRITE_ROOTS = _classes("Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable")
#: Never allowed anywhere: they reach outside the data, change the session or privileges, or are opaque.
_ALWAYS_DENIED = _classes(
    "Command", "Attach", "Detach", "Pragma", "Copy", "LoadData", "Set", "Use", "Grant", "Revoke",
    "Install", "Kill", "Execute", "Export", "Declare", "Transaction", "Commit", "Rollback",
)  # fmt: skip
#: Not allowed when read_only.
_WRITES = _classes(
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable", "Into", "Lock",
    "Analyze", "Cache", "Uncache", "Refresh",
)  # fmt: skip

_OPTS = re2.Options()
_OPTS.log_errors = False
_OPTS.case_sensitive = False
_EXECUTABLE_COMMENT = re2.compile(r"/\*m?!", _OPTS)
# NUL (C APIs stop reading there, sqlglot does not) and control characters other than tab, LF and CR.
_CONTROL = re2.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", _OPTS)
#: Dialects where a backslash in a string literal is never an escape, whatever the server settings.
_BACKSLASH_LITERAL = frozenset({"sqlite"})
# A quoted table name that DuckDB-style engines would read as a file or URL ('/etc/passwd', 'x.csv').
_FILE_LIKE = re2.compile(r"[/\\:.~]", _OPTS)


class _NoStatementEcho(logging.Filter):
    """Drop sqlglot's "'<the SQL>' contains unsupported syntax" warning: it would copy argument values
    (possibly secret ones) into the logs. Such statements are refused anyway (opaque commands)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "contains unsupported syntax" not in record.getMessage()


_SQLGLOT_LOGGER = logging.getLogger("sqlglot")
if not any(isinstance(f, _NoStatementEcho) for f in _SQLGLOT_LOGGER.filters):
    _SQLGLOT_LOGGER.addFilter(_NoStatementEcho())


class SqlSpec(BaseModel):
    """``sql: {dialect: sqlite, read_only: true, tables: [...]}``."""

    model_config = STRICT

    dialect: str = "sqlite"
    read_only: bool = True
    tables: StrTuple | None = None


def _function_names(node: exp.Func) -> set[str]:
    if isinstance(node, exp.Anonymous | exp.AnonymousAggFunc):
        return {node.name.casefold()}
    return {name.casefold() for name in type(node).sql_names()} | {node.key.casefold()}


class _Refused(Exception):
    """Internal: the statement is refused; the message says why."""


class SqlCheck(FamilyCheck):
    __slots__ = ("_arg", "_dialect", "_no_backslash", "_read_only", "_roots", "_secret", "_show", "_tables")

    family = "sql"
    per_element = False

    def __init__(self, spec: SqlSpec, subject: Subject) -> None:
        try:
            self._dialect = Dialect.get_or_raise(spec.dialect)
        except (ValueError, SqlglotError) as exc:
            raise ValueError(f"sql.dialect {spec.dialect!r} is not a dialect sqlglot knows: {exc}") from exc
        self._read_only = spec.read_only
        self._no_backslash = spec.dialect.strip().lower() not in _BACKSLASH_LITERAL
        self._roots = _READ_ROOTS if spec.read_only else _READ_ROOTS + _WRITE_ROOTS
        if spec.tables is not None and not spec.tables:
            raise ValueError("sql.tables is an empty list (omit it to allow every table)")
        tables: set[tuple[str, ...]] = set()
        for i, name in enumerate(spec.tables or ()):
            parts = name.split(".")
            if not all(part.isidentifier() for part in parts):
                raise ValueError(f"sql.tables[{i}] {name!r} is not a plain (optionally dotted) table name")
            tables.add(tuple(self._norm(exp.Identifier(this=part, quoted=False)) for part in parts))
        self._tables: frozenset[tuple[str, ...]] | None = None if spec.tables is None else frozenset(tables)
        self._arg = subject.arg
        self._show = subject.show
        self._secret = subject.secret

    def _norm(self, ident: exp.Identifier) -> str:
        fresh = exp.Identifier(this=ident.name, quoted=bool(ident.args.get("quoted")))
        return str(self._dialect.normalize_identifier(fresh).name)

    def check(self, value: object) -> str | None:
        text = exact_str(value)
        if text is None:
            return f"argument {self._arg!r}: {self._show(value)} is not a string (an SQL statement is required)"
        if len(text) > SQL_MAX_INPUT:
            return f"argument {self._arg!r}: the SQL text is longer than {SQL_MAX_INPUT} characters"
        if not encodable(text):
            return f"argument {self._arg!r}: SQL {self._show(value)} is not valid Unicode text (lone surrogate)"
        if _CONTROL.search(text) is not None:
            return f"argument {self._arg!r}: SQL {self._show(value)} contains NUL or another control character"
        if self._no_backslash and "\\" in text:
            return (
                f"argument {self._arg!r}: SQL {self._show(value)} contains a backslash, whose meaning in strings "
                "depends on server settings in this dialect"
            )
        if _EXECUTABLE_COMMENT.search(text) is not None:
            return f"argument {self._arg!r}: SQL {self._show(value)} contains an executable comment ('/*!')"
        try:
            parsed = sqlglot.parse(text, read=self._dialect)
        except SqlglotError:
            return f"argument {self._arg!r}: SQL {self._show(value)} could not be parsed; refused"
        statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
        if len(statements) != 1:
            return (
                f"argument {self._arg!r}: SQL {self._show(value)} must be exactly one statement "
                f"(found {len(statements)})"
            )
        try:
            self._inspect(statements[0])
        except _Refused as exc:
            # The reason names tables and functions taken from the value: not for secret arguments.
            reason = "is refused by the SQL constraint" if self._secret else str(exc)
            return f"argument {self._arg!r}: SQL {self._show(value)} {reason}"
        return None

    def _inspect(self, statement: exp.Expr) -> None:
        if not isinstance(statement, self._roots):
            kind = "read-only query" if self._read_only else "query or data statement"
            raise _Refused(f"is not a {kind} ({statement.key.upper()})")
        for node in statement.walk():
            if isinstance(node, _ALWAYS_DENIED):
                raise _Refused(f"uses a forbidden statement or clause ({node.key.upper()})")
            if self._read_only and isinstance(node, _WRITES):
                raise _Refused(f"is not read-only ({node.key.upper()})")
            if isinstance(node, exp.Func):
                bad = _function_names(node) & DANGEROUS_FUNCTIONS
                if bad:
                    raise _Refused(f"calls a forbidden function ({min(bad)})")
            if isinstance(node, exp.Table):
                for part in node.parts:
                    if _FILE_LIKE.search(part.name) is not None:
                        raise _Refused("names a table that looks like a file path or URL")
                if self._tables is not None:
                    self._check_table(node, self._tables)

    def _check_table(self, table: exp.Table, tables: frozenset[tuple[str, ...]]) -> None:
        if isinstance(table.this, exp.Func):
            names = _function_names(table.this)
            if not any((name,) in tables for name in names):
                raise _Refused(f"uses a table-valued function ({min(names)}) that is not in the allowed tables")
            return
        parts: list[str] = []
        for part in table.parts:
            if not isinstance(part, exp.Identifier):
                raise _Refused("has a table reference that is not a plain name")
            parts.append(self._norm(part))
        if not parts:
            raise _Refused("has a table reference without a name")
        key = tuple(parts)
        if key in tables:
            return
        if len(key) == 1 and self._is_cte(table, key[0]):
            return
        raise _Refused(f"reads table {'.'.join(key)!r}, which is not in the allowed tables")

    def _cte_names(self, ctes: list[exp.Expr]) -> set[str]:
        names: set[str] = set()
        for cte in ctes:
            alias = cte.args.get("alias")
            ident = alias.this if isinstance(alias, exp.TableAlias) else None
            if isinstance(ident, exp.Identifier):
                names.add(self._norm(ident))
        return names

    def _is_cte(self, table: exp.Table, name: str) -> bool:
        """Whether an unqualified ``table`` certainly refers to a CTE in scope (else it is a real table)."""
        child: exp.Expr = table
        node = table.parent
        while node is not None:
            if isinstance(node, exp.With):
                # We came up through one CTE of this WITH: only earlier ones (and itself, if RECURSIVE)
                # are visible to it. The owner's body, which sees them all, is not on our path.
                ctes = list(node.expressions)
                index = next((i for i, cte in enumerate(ctes) if cte is child), None)
                if index is None:
                    return False
                visible = ctes[: index + 1] if node.args.get("recursive") else ctes[:index]
                if name in self._cte_names(visible):
                    return True
                owner = node.parent
                if owner is None:
                    return False
                child, node = owner, owner.parent
                continue
            with_ = node.args.get("with_", node.args.get("with"))
            if isinstance(with_, exp.With) and with_ is not child and name in self._cte_names(with_.expressions):
                return True
            child, node = node, node.parent
        return False
