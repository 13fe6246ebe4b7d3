"""The ``sql`` family: one SQL statement, parsed (never regex-matched) with sqlglot.

The statement is judged the way the database will read it; any position or construct whose meaning
warded cannot know is refused (fail closed), never allowed.

* The text must parse in the spec's dialect (default ``sqlite``) as exactly one statement: stacked
  queries (``SELECT 1; DROP TABLE t``, also when the second one hides after a comment) are refused, and
  any parse error (including nesting too deep to parse) is a violation. MySQL executable comments
  (``/*! ... */``) are refused because the server runs what sqlglot reads as a comment. NUL and control
  characters other than tab, LF and CR are refused. Outside SQLite a backslash is refused: whether it
  escapes a quote depends on server settings (MySQL ``NO_BACKSLASH_ESCAPES``, PostgreSQL
  ``standard_conforming_strings``), so a string could end earlier for the server than for the parser.
* The statement's root must be a known query kind: ``SELECT``/set operations when ``read_only`` (the
  default), plus ``INSERT``/``UPDATE``/``DELETE``/``MERGE``/``CREATE``/``DROP``/``ALTER``/``TRUNCATE`` when
  not. Anything sqlglot could only keep as an opaque command is refused. With ``read_only`` every node of
  the tree must be of a kind listed in :data:`_READ_NODES` (plain query clauses and operators); anything
  else (``LATERAL``, ``UNNEST``, ``PIVOT``, lambdas, array subscripts, dotted paths...) is refused.
* Everywhere in the tree (CTEs, subqueries, every ``UNION`` branch): no ``ATTACH``/``PRAGMA``/``COPY``/
  ``SET``/``USE``/``GRANT``-style nodes ever; with ``read_only`` also no data-modifying node, no
  ``SELECT ... INTO`` and no ``FOR UPDATE`` locks.
* Functions are allow-listed: a call must be one of the known, bounded built-ins of
  :data:`SAFE_FUNCTION_CLASSES` / :data:`SAFE_FUNCTION_NAMES` (aggregates, window functions, string,
  math, date and JSON functions) or be named in the spec's ``functions:``. Functions that reach the
  filesystem, the network, other databases or the server itself, or that allocate what their argument
  asks for (``load_extension``, ``readfile``, ``pg_read_file``, ``dblink``, ``query_to_xml``,
  ``read_csv``, ``sleep``, ``randomblob``, ``zeroblob``...) are refused whatever the spec says: see
  :data:`DANGEROUS_FUNCTIONS`. A schema-qualified call (``s.upper(x)``) is refused.
* Every table-valued position is checked against ``tables``: ``FROM``/``JOIN`` items, subqueries at any
  depth, CTE bodies, and SQLite's ``expr [NOT] IN table`` / ``IN schema.table`` / ``IN "quoted"`` /
  ``IN 'string'`` / ``IN table_function(...)``, which sqlglot reads as a column, a string or a function
  call. Names are compared the way the dialect resolves identifiers (sqlglot's normalisation: unquoted
  names are case-insensitive; in case-sensitive dialects a quoted ``"Orders"`` is not ``orders``); spec
  entries are read as unquoted identifiers. Qualified names are compared on *every* part: a bare entry
  ``orders`` matches only an unqualified ``orders``, and ``main.orders``, ``temp.orders`` or
  ``tenant_b.orders`` must be listed as such (same-named tables in another schema or attached database
  are a classic cross-tenant read). Table-valued functions (``json_each(...)``, ``pragma_table_info(...)``,
  ``generate_series(...)``) and eponymous virtual tables (``pragma_table_list``, ``dbstat``) are tables:
  refused unless listed, and without a ``tables`` list a table-valued function call is refused. A name in
  :data:`DANGEROUS_FUNCTIONS` is refused as a table too (``FROM sqlite_dbpage``).
* Table and CTE names must be ASCII: databases fold the case of ASCII letters only, and warded does not
  rely on the parser folding every other letter (U+212A KELVIN SIGN, U+00C9) exactly the same way.
* A CTE name is not a table, but only where the CTE is certainly in scope: earlier in the same ``WITH``,
  or in an enclosing query's ``WITH``. A reference that is not certainly a CTE but has the name of a CTE
  of the statement is refused: SQLite resolves a CTE name against the whole ``WITH`` list, its own body
  included, with or without ``RECURSIVE``.
* Whatever the table list, a quoted table name that looks like a file path or URL (``'/etc/passwd'``,
  ``"x.csv"``, ``'s3://...'``) is refused: DuckDB reads such "tables" from disk or the network.

What is bounded (a read-only query that would only stall the database is refused):

* recursion: ``WITH RECURSIVE`` and any CTE that refers to itself are refused (a recursive CTE's
  termination cannot be proved from the text);
* joins: the statement may scan at most ``max_tables`` sources (default 4): every table, table-valued
  function, ``VALUES`` list, ``FROM`` subquery and ``IN table``, with a CTE reference counting as the
  sources of its body, so nested CTEs cannot multiply a cross join unseen;
* allocation by argument: ``randomblob``/``zeroblob`` are refused; ``printf``/``format`` need a literal
  format whose widths and precisions are at most :data:`SQL_MAX_FORMAT_WIDTH` (no ``*``); ``replace`` needs
  literal search and replacement strings, the replacement at most twice as long as the search; functions
  that may return more than their input (``hex``, ``quote``, ``replace``, ``printf``, JSON builders) may
  not take another such function's result as input (JSON functions nested directly excepted: SQLite
  passes JSON between them unchanged).

What is not bounded: work proportional to the data in allowed tables. A full scan of an allowed table,
a join of up to ``max_tables`` of them (rows to that power), ``ORDER BY``/``GROUP BY``/window frames over
them, ``group_concat`` of a whole table, a ``LIKE`` or ``instr`` over long stored values, and a listed
table-valued function asked for many rows (``generate_series(1, 1e12)``) are still allowed: put a
time limit on the database connection (``sqlite3_progress_handler``, ``statement_timeout``) as well.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

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
#: The node kinds a read-only statement may contain besides allowed functions: query clauses, operators
#: and literals. Anything else (``LATERAL``, ``UNNEST``, ``PIVOT``, lambdas, subscripts, ``a.b.c.d`` paths,
#: dialect-specific clauses) is refused: warded would have to guess what the server makes of it.
_READ_NODES = _classes(
    "Select", "Union", "Intersect", "Except", "Subquery", "From", "Join", "Where", "Group", "Having",
    "Order", "Ordered", "Limit", "Offset", "With", "CTE", "TableAlias", "Table", "Identifier", "Column",
    "Star", "Literal", "Null", "Boolean", "Alias", "Tuple", "In", "Between", "Like", "Glob", "Is", "Not",
    "EQ", "NEQ", "NullSafeEQ", "NullSafeNEQ", "GT", "GTE", "LT", "LTE", "Add", "Sub", "Mul", "Div", "Mod",
    "DPipe", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitwiseLeftShift",
    "BitwiseRightShift", "Neg", "Paren", "DataType", "DataTypeParam", "Window", "WindowSpec", "Distinct",
    "Values", "Placeholder", "Escape", "HexString", "Filter", "JSONPath", "JSONPathKey", "JSONPathRoot",
    "JSONPathSubscript", "JSONKeyValue", "Match", "ILike",
)  # fmt: skip

#: Built-in functions known to sqlglot (by class: the class fixes the meaning, whatever the spelling)
#: whose cost is bounded by their input. Exact classes, not subclasses.
SAFE_FUNCTION_CLASSES: frozenset[type[exp.Expr]] = frozenset(
    _classes(
        # operators sqlglot models as functions
        "And", "Or", "Case", "If", "Cast", "TryCast", "Exists", "Collate", "Coalesce", "Nullif",
        # aggregates and window functions
        "Count", "Sum", "Avg", "Min", "Max", "GroupConcat", "RowNumber", "Rank", "DenseRank",
        "PercentRank", "CumeDist", "Ntile", "Lag", "Lead", "FirstValue", "LastValue", "NthValue",
        # strings (output no longer than the input, or a constant)
        "Length", "Lower", "Upper", "Trim", "Substring", "StrPosition", "Unicode", "Soundex", "Chr",
        "Unhex", "Concat", "ConcatWs", "Typeof",
        # numbers
        "Abs", "Sign", "Round", "Ceil", "Floor", "Trunc", "Sqrt", "Exp", "Ln", "Log", "Pow", "Pi",
        "Radians", "Degrees", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Atan2", "Greatest", "Least",
        "Rand",
        # dates and versions
        "Date", "TimeToStr", "Extract", "TimestampTrunc", "DateTrunc", "TsOrDsToTimestamp", "CurrentDate",
        "CurrentTime", "CurrentTimestamp",
        "CurrentVersion",
        # JSON readers and builders
        "JSONExtract", "JSONExtractScalar", "JSONType", "JSONRemove", "JSONObject", "JSONArray",
        "JSONSet", "JSONArrayAgg", "JSONObjectAgg",
        # may grow their input: see _GROWING_CLASSES
        "Hex", "Replace", "Format",
    )
)  # fmt: skip

#: Functions sqlglot does not model (it keeps them by name) that are safe, bounded SQLite built-ins.
SAFE_FUNCTION_NAMES = frozenset(
    {
        "abs", "changes", "char", "coalesce", "concat", "concat_ws", "format", "hex", "ifnull", "iif",
        "instr", "last_insert_rowid", "length", "likelihood", "likely", "lower", "ltrim", "max", "min",
        "nullif", "octet_length", "printf", "quote", "random", "replace", "round", "rtrim", "sign",
        "soundex", "sqlite_version", "substr", "substring", "total_changes", "trim", "typeof", "unhex",
        "unicode", "unlikely", "upper",
        "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff",
        "avg", "count", "group_concat", "string_agg", "sum", "total", "median",
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
        "first_value", "last_value", "nth_value",
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos", "cosh",
        "degrees", "exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow", "power", "radians",
        "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
        "json", "jsonb", "json_array", "jsonb_array", "json_array_length", "json_error_position",
        "json_extract", "jsonb_extract", "json_insert", "jsonb_insert", "json_object", "jsonb_object",
        "json_patch", "jsonb_patch", "json_pretty", "json_remove", "jsonb_remove", "json_replace",
        "jsonb_replace", "json_set", "jsonb_set", "json_type", "json_valid", "json_quote",
        "json_group_array", "jsonb_group_array", "json_group_object", "jsonb_group_object",
    }
)  # fmt: skip

#: Functions whose result may be longer than their input: they may not take one another's result.
_GROWING_CLASSES = frozenset(_classes("Hex", "Replace", "Format"))
_GROWING_NAMES = frozenset({"hex", "quote", "replace", "printf", "format", "json_pretty"})
#: JSON builders: their result is tagged as JSON, and a JSON function embeds a tagged argument as is.
_JSON_GROWING_CLASSES = frozenset(_classes("JSONObject", "JSONArray", "JSONSet", "JSONArrayAgg", "JSONObjectAgg"))
_JSON_GROWING_NAMES = frozenset(
    {
        "json", "jsonb", "json_array", "jsonb_array", "json_object", "jsonb_object", "json_insert",
        "jsonb_insert", "json_replace", "jsonb_replace", "json_set", "jsonb_set", "json_patch",
        "jsonb_patch", "json_quote", "json_group_array", "jsonb_group_array", "json_group_object",
        "jsonb_group_object",
    }
)  # fmt: skip

#: Widest field (width or precision) a literal ``printf``/``format`` format may ask for.
SQL_MAX_FORMAT_WIDTH = 100
#: Default and hard ceiling for ``max_tables``.
SQL_DEFAULT_MAX_TABLES = 4
SQL_MAX_TABLES_CEILING = 64

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
    """``sql: {dialect: sqlite, read_only: true, tables: [...], functions: [...], max_tables: 4}``."""

    model_config = STRICT

    dialect: str = "sqlite"
    read_only: bool = True
    tables: StrTuple | None = None
    #: Function names allowed besides the safe built-ins (user-defined or dialect functions).
    functions: StrTuple = ()
    #: Most sources (tables, table functions, VALUES, FROM subqueries, IN tables) one statement may scan.
    max_tables: int = SQL_DEFAULT_MAX_TABLES


def _function_names(node: exp.Func) -> set[str]:
    if isinstance(node, exp.Anonymous | exp.AnonymousAggFunc):
        return {node.name.casefold()}
    return {name.casefold() for name in type(node).sql_names()} | {node.key.casefold()}


def _grows(node: exp.Func) -> bool:
    if isinstance(node, exp.Anonymous | exp.AnonymousAggFunc):
        return node.name.casefold() in _GROWING_NAMES | _JSON_GROWING_NAMES
    return type(node) in _GROWING_CLASSES | _JSON_GROWING_CLASSES


def _json_builder(node: exp.Func) -> bool:
    if isinstance(node, exp.Anonymous | exp.AnonymousAggFunc):
        return node.name.casefold() in _JSON_GROWING_NAMES
    return type(node) in _JSON_GROWING_CLASSES


def _string_literal(node: object) -> str | None:
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    return None


def _format_fields_ok(fmt: str) -> bool:
    """Whether every conversion of a printf-style ``fmt`` has a literal width and precision within bounds."""
    i = 0
    while True:
        i = fmt.find("%", i)
        if i < 0:
            return True
        j = i + 1
        # Flags, position (PostgreSQL ``1$``), width, precision and length modifiers run up to the type letter.
        while j < len(fmt) and not (fmt[j].isalpha() and fmt[j] not in "hlL") and fmt[j] != "%":
            j += 1
        spec = fmt[i + 1 : j]
        if "*" in spec:
            return False
        number = ""
        for ch in spec + " ":
            if ch.isdigit():
                number += ch
                if len(number) > 6:
                    return False
                continue
            if number and int(number) > SQL_MAX_FORMAT_WIDTH:
                return False
            number = ""
        i = j + 1


class _Refused(Exception):
    """Internal: the statement is refused; the message says why."""


@dataclass(slots=True)
class _Memo:
    """Per-check caches (a checker is shared between threads, so nothing is kept on it)."""

    #: Sources scanned per CTE (by ``id``), so that a CTE referenced many times is weighed once.
    ctes: dict[int, int] = field(default_factory=dict)
    #: CTE names visible per WITH (and for the whole statement), with the defining position.
    scopes: dict[tuple[str, int], dict[str, tuple[int, exp.Expr]]] = field(default_factory=dict)


class SqlCheck(FamilyCheck):
    __slots__ = (
        "_arg", "_dialect", "_functions", "_max_tables", "_no_backslash", "_read_only",
        "_roots", "_secret", "_show", "_tables",
    )  # fmt: skip

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
        functions: set[str] = set()
        for i, name in enumerate(spec.functions):
            if not name.isidentifier():
                raise ValueError(f"sql.functions[{i}] {name!r} is not a plain function name")
            if name.casefold() in DANGEROUS_FUNCTIONS:
                raise ValueError(f"sql.functions[{i}] {name!r} is a forbidden function and cannot be allowed")
            functions.add(name.casefold())
        self._functions = frozenset(functions)
        if isinstance(spec.max_tables, bool) or not 1 <= spec.max_tables <= SQL_MAX_TABLES_CEILING:
            raise ValueError(f"sql.max_tables must be an integer from 1 to {SQL_MAX_TABLES_CEILING}")
        self._max_tables = spec.max_tables
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
        except (SqlglotError, RecursionError):
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
        except RecursionError:
            return f"argument {self._arg!r}: SQL {self._show(value)} is nested too deeply; refused"
        return None

    def _inspect(self, statement: exp.Expr) -> None:
        if not isinstance(statement, self._roots):
            kind = "read-only query" if self._read_only else "query or data statement"
            raise _Refused(f"is not a {kind} ({statement.key.upper()})")
        self._tables_after_in(statement)
        self._judge(statement, _Memo())

    def _judge(self, statement: exp.Expr, memo: _Memo) -> None:
        for node in statement.walk():
            if isinstance(node, _ALWAYS_DENIED):
                raise _Refused(f"uses a forbidden statement or clause ({node.key.upper()})")
            if self._read_only and isinstance(node, _WRITES):
                raise _Refused(f"is not read-only ({node.key.upper()})")
            if isinstance(node, exp.Func):
                self._check_function(node)
            elif self._read_only and not isinstance(node, _READ_NODES) and not self._is_keyword_arg(node):
                raise _Refused(f"uses a construct the SQL constraint does not judge ({node.key.upper()})")
            if isinstance(node, exp.With) and node.args.get("recursive"):
                raise _Refused("uses WITH RECURSIVE (a recursive query's end cannot be proved)")
            if isinstance(node, exp.Table):
                self._check_table(node, memo)
            if (
                isinstance(node, exp.Identifier)
                and isinstance(node.parent, exp.Table | exp.TableAlias)
                and not node.name.isascii()
            ):
                # Databases fold ASCII letters only; do not rely on the parser doing exactly the same.
                raise _Refused("names a table or CTE outside ASCII")
        scanned = self._weight(statement, memo)
        if scanned > self._max_tables:
            raise _Refused(
                f"scans {scanned} table sources (joins, subqueries and CTE references counted), "
                f"more than the {self._max_tables} allowed"
            )

    @staticmethod
    def _is_keyword_arg(node: exp.Expr) -> bool:
        # ``x COLLATE nocase``, ``date_trunc('day', x)``, ``EXTRACT(year FROM x)``: sqlglot keeps the bare
        # word as a Var under the (separately judged) function.
        return isinstance(node, exp.Var) and isinstance(node.parent, exp.Func)

    def _tables_after_in(self, statement: exp.Expr) -> None:
        """Rewrite SQLite's ``expr IN name`` (which sqlglot reads as a column, a string or a function call)
        into the table reference SQLite reads, so that every later check sees it as one."""
        for node in list(statement.find_all(exp.In)):
            if node.args.get("unnest") is not None:
                raise _Refused("uses IN UNNEST(...)")
            operand = node.args.get("field")
            if operand is None:
                continue
            table: exp.Table
            if isinstance(operand, exp.Column):
                parts = operand.parts
                if not parts or len(parts) > 3 or not all(isinstance(p, exp.Identifier) for p in parts):
                    raise _Refused("has an IN operand that is not a plain table name")
                names = [p.copy() for p in reversed(parts)]
                table = exp.Table(
                    this=names[0], db=names[1] if len(names) > 1 else None, catalog=names[2] if len(names) > 2 else None
                )
            elif _string_literal(operand) is not None:
                # SQLite reads ``IN 'name'`` as a table name too.
                table = exp.Table(this=exp.Identifier(this=_string_literal(operand), quoted=True))
            elif isinstance(operand, exp.Func) and not isinstance(operand.parent, exp.Dot):
                table = exp.Table(this=operand.copy())
            else:
                raise _Refused(f"has an IN operand the SQL constraint cannot classify ({operand.key.upper()})")
            node.set("field", table)

    def _check_function(self, node: exp.Func) -> None:
        names = _function_names(node)
        bad = names & DANGEROUS_FUNCTIONS
        if bad:
            raise _Refused(f"calls a forbidden function ({min(bad)})")
        if isinstance(node.parent, exp.Table) and node.arg_key == "this":
            return  # a table-valued function: judged as a table by _check_table
        if isinstance(node.parent, exp.Dot):
            raise _Refused(f"calls a schema-qualified function ({min(names)})")
        if isinstance(node, exp.Anonymous | exp.AnonymousAggFunc):
            known = node.name.casefold() in SAFE_FUNCTION_NAMES
        else:
            known = type(node) in SAFE_FUNCTION_CLASSES
        if not known and not (names | self._written_name(node)) & self._functions:
            raise _Refused(f"calls a function that is not allowed ({min(names)})")
        if _grows(node):
            self._check_growth(node)

    def _written_name(self, node: exp.Func) -> set[str]:
        """The name the dialect spells a typed function with (``DATE_TRUNC`` for sqlglot's TimestampTrunc)."""
        if not self._functions or isinstance(node, exp.Anonymous | exp.AnonymousAggFunc):
            return set()
        try:
            written = node.sql(dialect=self._dialect)
        except SqlglotError:
            return set()
        head = written.split("(", 1)[0].strip()
        return {head.casefold()} if "(" in written and head.isidentifier() else set()

    def _check_growth(self, node: exp.Func) -> None:
        name = node.name.casefold() if isinstance(node, exp.Anonymous) else node.key.casefold()
        args = list(node.expressions) if isinstance(node, exp.Anonymous) else []
        if name in {"printf", "format"}:
            fmt = _string_literal(args[0] if args else node.this)
            if fmt is None or not _format_fields_ok(fmt):
                raise _Refused(f"calls {name} without a literal format whose widths are at most {SQL_MAX_FORMAT_WIDTH}")
        if name == "replace":
            old, new = (args[1], args[2]) if len(args) == 3 else (node.expression, node.args.get("replacement"))
            old_text, new_text = _string_literal(old), _string_literal(new)
            if old_text is None or new_text is None or len(new_text) > 2 * len(old_text):
                raise _Refused("calls replace without literal strings (replacement at most twice the search)")
        for inner in node.find_all(exp.Func):
            if inner is node or not _grows(inner):
                continue
            if _json_builder(node) and _json_builder(inner):
                step = inner.parent
                while isinstance(step, exp.JSONKeyValue) or (
                    step is not node and isinstance(step, exp.Func) and _json_builder(step)
                ):
                    step = step.parent
                if step is node:
                    continue  # JSON passed directly between JSON functions is embedded, not re-escaped
            raise _Refused(
                f"nests functions that can enlarge their input ({min(_function_names(inner))} inside {name})"
            )

    def _check_table(self, table: exp.Table, memo: _Memo) -> None:
        if isinstance(table.this, exp.Func):
            names = _function_names(table.this)
            if self._tables is None or not any((name,) in self._tables for name in names):
                raise _Refused(f"uses a table-valued function ({min(names)}) that is not in the allowed tables")
            return
        parts: list[str] = []
        for part in table.parts:
            if not isinstance(part, exp.Identifier):
                raise _Refused("has a table reference that is not a plain name")
            if _FILE_LIKE.search(part.name) is not None:
                raise _Refused("names a table that looks like a file path or URL")
            parts.append(self._norm(part))
        if not parts:
            raise _Refused("has a table reference without a name")
        key = tuple(parts)
        if key[-1].casefold() in DANGEROUS_FUNCTIONS:
            raise _Refused(f"reads the virtual table {key[-1]!r}, which is forbidden")
        if len(key) == 1:
            if self._resolve_cte(table, key[0], memo) is not None:
                return
            if key[0] in self._all_cte_names(table, memo):
                raise _Refused(
                    f"refers to {key[0]!r} outside the scope warded can prove for the CTE of that name "
                    "(recursive or forward CTE references are refused)"
                )
        if self._tables is None or key in self._tables:
            return
        raise _Refused(f"reads table {'.'.join(key)!r}, which is not in the allowed tables")

    def _all_cte_names(self, node: exp.Expr, memo: _Memo) -> set[str]:
        root = node.root()
        key = ("all", id(root))
        if key not in memo.scopes:
            memo.scopes[key] = {name: (0, cte) for name, cte in self._ctes_by_name(root.find_all(exp.CTE)).items()}
        return set(memo.scopes[key])

    def _with_scope(self, with_: exp.With, memo: _Memo) -> dict[str, tuple[int, exp.Expr]]:
        """Each CTE name of ``with_`` with the position of its first definition (computed once per WITH)."""
        key = ("with", id(with_))
        if key not in memo.scopes:
            ctes = list(with_.expressions)
            memo.scopes[key] = {
                name: (cte.index if cte.index is not None else len(ctes), cte)
                for name, cte in self._ctes_by_name(ctes).items()
            }
        return memo.scopes[key]

    def _ctes_by_name(self, ctes: Iterable[exp.Expr]) -> dict[str, exp.Expr]:
        found: dict[str, exp.Expr] = {}
        for cte in ctes:
            alias = cte.args.get("alias")
            ident = alias.this if isinstance(alias, exp.TableAlias) else None
            if isinstance(ident, exp.Identifier):
                found.setdefault(self._norm(ident), cte)
        return found

    def _resolve_cte(self, table: exp.Table, name: str, memo: _Memo) -> exp.Expr | None:
        """The CTE an unqualified ``table`` certainly refers to, or None (then it is a real table)."""
        child: exp.Expr = table
        node = table.parent
        while node is not None:
            if isinstance(node, exp.With):
                # We came up through one CTE of this WITH: only earlier ones are certainly visible to it
                # (WITH RECURSIVE is refused). The owner's body, which sees them all, is not on our path.
                if not isinstance(child, exp.CTE) or child.parent is not node:
                    return None
                index = child.index if child.index is not None else -1
                entry = self._with_scope(node, memo).get(name)
                if entry is not None and entry[0] < index:
                    return entry[1]
                owner = node.parent
                if owner is None:
                    return None
                child, node = owner, owner.parent
                continue
            with_ = node.args.get("with_", node.args.get("with"))
            if isinstance(with_, exp.With) and with_ is not child:
                entry = self._with_scope(with_, memo).get(name)
                if entry is not None:
                    return entry[1]
            child, node = node, node.parent
        return None

    def _weight(self, node: exp.Expr, memo: _Memo) -> int:
        """How many sources evaluating ``node`` scans, a CTE reference counting as its body's sources."""
        if isinstance(node, exp.CTE):
            return 0  # counted where it is referenced
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Func) and len(node.parts) == 1:
            part = node.parts[0]
            cte = self._resolve_cte(node, self._norm(part), memo) if isinstance(part, exp.Identifier) else None
            if cte is not None:
                key = id(cte)
                if key not in memo.ctes:
                    memo.ctes[key] = 0  # a cycle (impossible once resolved) would count nothing more
                    memo.ctes[key] = max(1, self._weight(cte.this, memo))
                return memo.ctes[key]
        inner = sum(self._weight(child, memo) for child in node.iter_expressions())
        if isinstance(node, exp.Table):
            return 1 + inner
        if isinstance(node, exp.Subquery | exp.Values) and isinstance(node.parent, exp.From | exp.Join):
            return max(1, inner)
        return inner
