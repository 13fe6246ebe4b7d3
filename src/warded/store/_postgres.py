"""What every PostgreSQL-backed store shares: opening a pool (:func:`open_pool`), mapping driver errors
to warded's (:func:`translate`), and the versioned schema migrations (:func:`migrate`).

Every store keeps its tables in one PostgreSQL schema (``warded`` by default); connections run with that
schema as their ``search_path``, so the stores and their migrations name tables unqualified.

**Migrations.** Each room that keeps tables in PostgreSQL (``audit``, ``approve``) registers its ordered
list of :class:`Migration` with :func:`register_migrations` when its backend module is imported.
:func:`migrate` applies the pending ones of every registered room in one transaction, under a transaction
advisory lock taken before anything else (so replicas starting at once, or ``warded store migrate`` run
twice, apply each migration exactly once), and records each in ``warded_schema_version``
``(room, version, name, applied_at)``. A database that carries a version this code does not know (newer
software migrated it) is refused rather than used.

**Failures.** Every driver or pool error leaves as a ``StoreError`` (or the caller's family, e.g.
``AuditError``) whose ``fault`` says what happened: the server is unreachable or the connection was lost,
an operation ran past its time limit, or a transaction lost a serialisation race. Callers fail closed.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from warded.errors import StoreError, WardedError

__all__ = [
    "DEFAULT_SCHEMA",
    "Fault",
    "FaultError",
    "Migration",
    "PooledStore",
    "PostgresStoreError",
    "check_schema_name",
    "connection",
    "expect_version",
    "latest_versions",
    "migrate",
    "migrate_pool",
    "open_pool",
    "register_migrations",
    "registered_rooms",
    "run",
    "schema_versions",
    "transaction",
    "translate",
]

DEFAULT_SCHEMA = "warded"
VERSION_TABLE = "warded_schema_version"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_ROOM_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class Fault(StrEnum):
    """Why a PostgreSQL operation failed."""

    UNREACHABLE = "unreachable"  # no connection within the time limit, or the connection was lost
    TIMEOUT = "timeout"  # a statement (or a wait for a lock) ran past the time limit
    SERIALIZATION = "serialization"  # a transaction lost a serialisation or deadlock race; retrying may succeed
    ERROR = "error"  # anything else the server or driver reported (a bug or a damaged schema)


class FaultError(Protocol):
    """A warded error class that records its :class:`Fault` (``cls(message, fault)``)."""

    def __call__(self, message: str, fault: Fault) -> WardedError: ...


class PostgresStoreError(StoreError):
    """A PostgreSQL-backed store failed; ``fault`` says how."""

    def __init__(self, message: str, fault: Fault = Fault.ERROR) -> None:
        self.fault = fault
        super().__init__(message)


_T = TypeVar("_T")


class PooledStore:
    """The lifecycle every PostgreSQL-backed store shares: one pool, closed once, usable as a context manager.

    Subclasses set ``schema``, ``_lock`` and ``_pool`` in ``__init__``; a closed store refuses every call.
    """

    schema: str
    _lock: threading.Lock
    _pool: ConnectionPool[Any] | None

    def close(self) -> None:
        """Close the pool; idempotent."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(schema={self.schema!r})"


def translate(
    exc: BaseException, what: str, *, timeout_s: float, error: FaultError = PostgresStoreError
) -> WardedError:
    """The warded error for ``exc`` raised while doing ``what`` (to ``raise ... from exc``)."""
    if isinstance(exc, PoolTimeout):
        fault, text = Fault.UNREACHABLE, f"no PostgreSQL connection within {timeout_s:g}s (server unreachable?)"
    elif isinstance(exc, PoolClosed):
        fault, text = Fault.ERROR, "the store is closed"
    elif isinstance(exc, pg_errors.QueryCanceled | pg_errors.LockNotAvailable):
        fault, text = Fault.TIMEOUT, f"PostgreSQL did not answer within {timeout_s:g}s ({_first_line(exc)})"
    elif isinstance(exc, pg_errors.SerializationFailure | pg_errors.DeadlockDetected):
        fault, text = Fault.SERIALIZATION, f"transaction lost a serialisation race ({_first_line(exc)})"
    elif isinstance(exc, psycopg.OperationalError):
        fault, text = Fault.UNREACHABLE, f"PostgreSQL unreachable or connection lost ({_first_line(exc)})"
    else:
        fault, text = Fault.ERROR, _first_line(exc) or type(exc).__name__
    return error(f"{what}: {text}", fault)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_schema_name(schema: str, *, error: FaultError = PostgresStoreError) -> str:
    """``schema`` if it is a plain lower-case identifier (never quoted, never ``public`` by accident)."""
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema) or schema.startswith("pg_"):
        raise error(f"PostgreSQL schema must match [a-z_][a-z0-9_]* (not pg_*), got {schema!r}", Fault.ERROR)
    return schema


def open_pool(
    dsn: str,
    *,
    schema: str = DEFAULT_SCHEMA,
    min_size: int = 1,
    max_size: int = 4,
    timeout: float = 5.0,
    what: str = "PostgreSQL store",
    error: FaultError = PostgresStoreError,
) -> ConnectionPool[psycopg.Connection[tuple[Any, ...]]]:
    """The one way warded opens PostgreSQL: a pool of autocommit connections whose ``search_path`` is
    ``schema``, whose statements (lock waits included) are cancelled after ``timeout`` seconds, and from
    which a connection is handed out within ``timeout`` seconds or the call fails (``Fault.UNREACHABLE``).

    Waits until ``min_size`` connections are up; an unreachable server raises ``error`` (the pool is closed).
    Use the transaction helpers (:func:`transaction`) or ``conn.transaction()`` for writes.
    """
    check_schema_name(schema, error=error)
    if not isinstance(dsn, str) or not dsn:
        raise error(f"{what}: the PostgreSQL DSN must be a non-empty string", Fault.ERROR)
    if not (isinstance(min_size, int) and isinstance(max_size, int) and 0 <= min_size <= max_size and max_size >= 1):
        raise error(f"{what}: pool sizes must satisfy 0 <= min_size <= max_size, max_size >= 1", Fault.ERROR)
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
        raise error(f"{what}: timeout must be a positive number of seconds, got {timeout!r}", Fault.ERROR)
    statement_ms = max(1, int(timeout * 1000))
    setup = sql.SQL("SET search_path TO {}; SET statement_timeout = {}; SET lock_timeout = {}").format(
        sql.Identifier(schema), sql.Literal(statement_ms), sql.Literal(statement_ms)
    )

    def configure(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        conn.execute(setup)

    pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs={"autocommit": True, "connect_timeout": max(1, math.ceil(timeout))},
        configure=configure,
        reconnect_timeout=max(timeout, 60.0),  # keep trying in the background: service resumes by itself
        open=False,
        name=f"warded-{schema}",
    )
    try:
        pool.open(wait=min_size > 0, timeout=timeout)
    except BaseException as exc:
        pool.close(timeout=0)
        if isinstance(exc, psycopg.Error | PoolTimeout):
            raise translate(exc, f"cannot open {what}", timeout_s=timeout, error=error) from exc
        raise
    return pool


class _Watchdog:
    """Cuts a connection whose operation runs past its deadline, seen from this side of the network.

    ``statement_timeout`` is enforced by the server, so it cannot help when the network (or the server
    itself) is too slow to answer at all. The watchdog shuts the connection's socket down once the deadline
    (the store's timeout plus :data:`WATCHDOG_GRACE_S`, so a server-side cancel normally comes first) has
    passed: the blocked call fails at once, and the pool replaces the broken connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[int, tuple[float, psycopg.Connection[tuple[Any, ...]]]] = {}
        self._fired: set[int] = set()
        self._next = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def arm(self, conn: psycopg.Connection[tuple[Any, ...]], timeout_s: float) -> int:
        with self._lock:
            self._next += 1
            token = self._next
            self._armed[token] = (time.monotonic() + timeout_s + WATCHDOG_GRACE_S, conn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="warded-pg-watchdog")
                self._thread.start()
        return token

    def disarm(self, token: int) -> bool:
        """Stop watching; True if the deadline had passed and the connection was cut."""
        with self._lock:
            self._armed.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_TICK_S)
            now = time.monotonic()
            with self._lock:
                due = [(token, conn) for token, (deadline, conn) in self._armed.items() if deadline <= now]
                for token, _ in due:
                    del self._armed[token]
                    self._fired.add(token)
            for _, conn in due:
                _cut(conn)


def _cut(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    with contextlib.suppress(Exception):  # already closed or broken: nothing left to cut
        fd = os.dup(conn.pgconn.socket)
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            raise
        with sock:
            sock.shutdown(socket.SHUT_RDWR)


WATCHDOG_GRACE_S = 0.5
WATCHDOG_TICK_S = 0.05
_watchdog = _Watchdog()


@contextmanager
def connection(
    pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]],
    what: str,
    *,
    timeout_s: float,
    error: FaultError = PostgresStoreError,
) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A pooled autocommit connection; any driver or pool error leaves as ``error``. The operation is
    bounded by ``timeout_s`` on this side too (:class:`_Watchdog`): past it the connection is cut."""
    cut = False
    try:
        with pool.connection() as conn:
            token = _watchdog.arm(conn, timeout_s)
            try:
                yield conn
            finally:
                if _watchdog.disarm(token):
                    cut = True
                    conn.close()  # cut mid-operation: never hand it out again
    except (psycopg.Error, PoolTimeout, PoolClosed) as exc:
        if cut:
            text = f"{what}: PostgreSQL did not answer within {timeout_s:g}s; the connection was cut"
            raise error(text, Fault.TIMEOUT) from exc
        raise translate(exc, what, timeout_s=timeout_s, error=error) from exc


@contextmanager
def transaction(
    pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]],
    what: str,
    *,
    timeout_s: float,
    error: FaultError = PostgresStoreError,
) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A pooled connection inside one transaction: committed on success, rolled back on any exception."""
    with connection(pool, what, timeout_s=timeout_s, error=error) as conn, conn.transaction():
        yield conn


# -- migrations --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change of a room: ``version`` (1, 2, ... in order), a name, and its SQL statements
    (tables named unqualified: they are created in the store's schema)."""

    version: int
    name: str
    statements: tuple[str, ...]


_registry: dict[str, tuple[Migration, ...]] = {}
_registry_lock = threading.Lock()


def register_migrations(room: str, migrations: Sequence[Migration]) -> None:
    """Declare ``room``'s ordered migrations (versions 1..n, no gaps). Registering the same list again is a
    no-op; a different list for a room already registered is refused."""
    if not _ROOM_NAME.fullmatch(room):
        raise PostgresStoreError(f"migration room must match [a-z][a-z0-9_]*, got {room!r}")
    ordered = tuple(migrations)
    if [m.version for m in ordered] != list(range(1, len(ordered) + 1)):
        raise PostgresStoreError(f"migrations of {room!r} must be numbered 1..n in order")
    with _registry_lock:
        known = _registry.get(room)
        if known is not None and known != ordered:
            raise PostgresStoreError(f"migrations of {room!r} registered twice with different contents")
        _registry[room] = ordered


def expect_version(conn: psycopg.Connection[tuple[Any, ...]], schema: str, room: str, latest: int) -> None:
    """Raise :class:`PostgresStoreError` unless ``room`` of ``schema`` is at exactly version ``latest`` (a
    store opened without migrating checks this, naming ``warded store migrate``)."""
    try:
        row = conn.execute(
            sql.SQL("SELECT max(version) FROM {}.{} WHERE room = %s").format(
                sql.Identifier(schema), sql.Identifier(VERSION_TABLE)
            ),
            (room,),
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        row = None
    version = row[0] if row else None
    if version != latest:
        raise PostgresStoreError(
            f"PostgreSQL schema {schema!r}: the {room} tables are at version {version or 0}, this warded needs"
            f" {latest}; run `warded store migrate`",
            Fault.ERROR,
        )


def latest_versions() -> dict[str, int]:
    """Each registered room's newest version: what ``warded store migrate`` brings a schema to."""
    with _registry_lock:
        return {room: len(migrations) for room, migrations in sorted(_registry.items())}


def registered_rooms() -> tuple[str, ...]:
    """The rooms whose migrations are registered (their backend modules have been imported)."""
    with _registry_lock:
        return tuple(sorted(_registry))


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"warded.migrate:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def migrate_pool(
    pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]],
    schema: str,
    *,
    rooms: Sequence[str] | None = None,
    timeout_s: float = 30.0,
    error: FaultError = PostgresStoreError,
) -> dict[str, int]:
    """Apply the pending migrations of ``rooms`` (default: all registered) on a pool opened for ``schema``;
    return each room's version. One transaction, under an advisory lock on the schema."""
    check_schema_name(schema, error=error)
    with _registry_lock:
        names = sorted(_registry) if rooms is None else list(rooms)
        unknown = [name for name in names if name not in _registry]
        if unknown:
            raise error(f"no migrations registered for {unknown}; import their backend modules", Fault.ERROR)
        plan = {name: _registry[name] for name in names}
    if not plan:
        raise error("no migrations registered: import the PostgreSQL backends first", Fault.ERROR)
    what = f"cannot migrate PostgreSQL schema {schema!r}"
    with transaction(pool, what, timeout_s=timeout_s, error=error) as conn:
        # Lock first: CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE of the same name.
        conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(int(timeout_s * 1000))))
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(int(timeout_s * 1000))))
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (room text NOT NULL, version integer NOT NULL,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (room, version))"
            ).format(sql.Identifier(schema), sql.Identifier(VERSION_TABLE))
        )
        versions = _read_versions(conn, schema)
        for room, migrations in plan.items():
            current = versions.get(room, 0)
            if current > len(migrations):
                raise error(
                    f"{what}: room {room!r} is at version {current}, newer than this warded knows"
                    f" ({len(migrations)}); upgrade warded",
                    Fault.ERROR,
                )
            for migration in migrations[current:]:
                for statement in migration.statements:
                    conn.execute(statement.encode())
                conn.execute(
                    sql.SQL("INSERT INTO {}.{} (room, version, name) VALUES (%s, %s, %s)").format(
                        sql.Identifier(schema), sql.Identifier(VERSION_TABLE)
                    ),
                    (room, migration.version, migration.name),
                )
            versions[room] = len(migrations)
    return {room: versions[room] for room in plan}


def _read_versions(conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> dict[str, int]:
    rows = conn.execute(
        sql.SQL("SELECT room, max(version) FROM {}.{} GROUP BY room").format(
            sql.Identifier(schema), sql.Identifier(VERSION_TABLE)
        )
    ).fetchall()
    return {str(room): int(version) for room, version in rows}


def migrate(
    dsn: str, schema: str = DEFAULT_SCHEMA, *, rooms: Sequence[str] | None = None, timeout_s: float = 30.0
) -> dict[str, int]:
    """Create or upgrade warded's tables in ``schema``: every registered room (import the backends,
    ``warded.audit.postgres`` and ``warded.approve.pg_store``, first) or only ``rooms``. Returns each
    room's version. Safe to run concurrently and repeatedly. Raises :class:`PostgresStoreError`."""
    pool = open_pool(dsn, schema=schema, min_size=1, max_size=1, timeout=timeout_s, what="PostgreSQL (migrate)")
    try:
        return migrate_pool(pool, schema, rooms=rooms, timeout_s=timeout_s)
    finally:
        pool.close()


def schema_versions(dsn: str, schema: str = DEFAULT_SCHEMA, *, timeout_s: float = 5.0) -> dict[str, int]:
    """Each room's applied version in ``schema`` (empty when nothing was ever migrated there)."""
    pool = open_pool(dsn, schema=schema, min_size=1, max_size=1, timeout=timeout_s, what="PostgreSQL")
    try:
        with connection(pool, "cannot read schema versions", timeout_s=timeout_s) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s", (schema, VERSION_TABLE)
            ).fetchone()
            return _read_versions(conn, schema) if exists else {}
    finally:
        pool.close()


def run(
    pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]],
    what: str,
    operation: Callable[[psycopg.Connection[tuple[Any, ...]]], _T],
    *,
    timeout_s: float,
    error: FaultError = PostgresStoreError,
) -> _T:
    """``operation(conn)`` on a pooled autocommit connection; errors leave as ``error``."""
    with connection(pool, what, timeout_s=timeout_s, error=error) as conn:
        return operation(conn)
