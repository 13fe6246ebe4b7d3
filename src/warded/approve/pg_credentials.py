"""Registered approver passkeys and one-time enrolment codes in PostgreSQL, shared by every replica.

The same tables and meaning as :mod:`warded.approve.credentials` (``webauthn_credentials``,
``webauthn_enrolments``), in the store's PostgreSQL schema (room ``approve``, migration 2), so that a passkey
enrolled through one console is known to every gateway replica that verifies its approvals, and a counter
advanced by one replica is seen by all (a cloned authenticator is caught wherever it is used).

A code is spent and its passkey stored in one transaction (a conditional ``UPDATE`` on the code: of two
racing registrations exactly one succeeds); a counter moves only by a compare-and-set ``UPDATE``. Every
failure raises :class:`~warded.store._postgres.PostgresStoreError` (a ``StoreError``), so callers fail closed.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from warded.approve.credentials import ENROL_TTL_S, code_hash, credential_from_row, valid_approver, valid_code
from warded.approve.pg_store import MIGRATIONS
from warded.approve.webauthn import Credential, sign_count_advances
from warded.errors import StoreError
from warded.store._postgres import (
    DEFAULT_SCHEMA,
    PooledStore,
    PostgresStoreError,
    connection,
    expect_version,
    open_pool,
)

__all__ = ["PostgresCredentialStore"]

_Conn = psycopg.Connection[tuple[Any, ...]]


class PostgresCredentialStore(PooledStore):
    """Approver passkeys and enrolment codes in PostgreSQL: the methods of
    :class:`~warded.approve.credentials.SQLiteCredentialStore`, safe across threads, processes and hosts.
    The tables are created by ``warded store migrate`` (room ``approve``); opening checks their version."""

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA, timeout_s: float = 5.0, pool_size: int = 2) -> None:
        self.schema = schema
        self._timeout = float(timeout_s)
        self._lock = threading.Lock()
        self._pool: ConnectionPool[_Conn] | None = open_pool(
            dsn, schema=schema, min_size=1, max_size=pool_size, timeout=self._timeout, what="passkey store"
        )
        try:
            with self._connection("read the schema version") as conn:
                expect_version(conn, schema, "approve", len(MIGRATIONS))
        except BaseException:
            self.close()
            raise

    @contextmanager
    def _connection(self, what: str) -> Iterator[_Conn]:
        pool = self._pool
        if pool is None:
            raise PostgresStoreError("the passkey store is closed")
        with connection(pool, f"cannot {what}", timeout_s=self._timeout) as conn:
            yield conn

    def _rows(self, what: str, query: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._connection(what) as conn:
            cur = conn.execute(query.encode(), params)
            return list(cur.fetchall()) if cur.description is not None else []

    def _count(self, what: str, query: str, params: tuple[object, ...]) -> int:
        with self._connection(what) as conn:
            return int(conn.execute(query.encode(), params).rowcount)

    # -- enrolment ---------------------------------------------------------------------------------

    def create_enrolment(self, approver: str, now: float, ttl_s: float = ENROL_TTL_S) -> str:
        """A fresh one-time code that lets its holder register a passkey as ``approver`` until it expires."""
        valid_approver(approver)
        code = secrets.token_urlsafe(18)
        self._count(
            "create enrolment code",
            "INSERT INTO webauthn_enrolments (code_hash, approver, expires_at) VALUES (%s, %s, %s)",
            (code_hash(code), approver, now + ttl_s),
        )
        return code

    def peek_enrolment(self, code: str, now: float) -> str | None:
        """The approver a still-valid, unused ``code`` enrols, without spending it; None otherwise."""
        if not valid_code(code):
            return None
        rows = self._rows(
            "read enrolment code",
            "SELECT approver FROM webauthn_enrolments WHERE code_hash = %s AND used_at IS NULL AND expires_at > %s",
            (code_hash(code), now),
        )
        return str(rows[0][0]) if rows else None

    def register(self, code: str, credential: Credential, now: float) -> None:
        """Spend ``code`` and store ``credential`` in one transaction (refused if the code is spent or expired,
        names another approver, or the credential is already registered)."""
        try:
            with self._connection("register passkey") as conn, conn.transaction():
                spent = conn.execute(
                    "UPDATE webauthn_enrolments SET used_at = %s WHERE code_hash = %s AND used_at IS NULL"
                    " AND expires_at > %s AND approver = %s",
                    (now, code_hash(code), now, credential.approver),
                ).rowcount
                if spent != 1:
                    raise StoreError("the enrolment code is unknown, expired or already used")
                conn.execute(
                    b"INSERT INTO webauthn_credentials (credential_id, approver, public_key, sign_count, created_at)"
                    b" VALUES (%s, %s, %s, %s, %s)",
                    (
                        credential.credential_id,
                        credential.approver,
                        credential.public_key,
                        credential.sign_count,
                        credential.created_at,
                    ),
                )
        except PostgresStoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise StoreError("this passkey is already registered") from exc
            raise

    # -- credentials -------------------------------------------------------------------------------

    def get(self, credential_id: str) -> Credential | None:
        rows = self._rows(
            "read passkey",
            "SELECT credential_id, approver, public_key, sign_count, created_at"
            " FROM webauthn_credentials WHERE credential_id = %s",
            (credential_id,),
        )
        return credential_from_row(rows[0]) if rows else None

    def all(self) -> list[Credential]:
        rows = self._rows(
            "list passkeys",
            "SELECT credential_id, approver, public_key, sign_count, created_at"
            " FROM webauthn_credentials ORDER BY approver, created_at",
            (),
        )
        return [credential_from_row(row) for row in rows]

    def for_approver(self, approver: str) -> list[Credential]:
        return [c for c in self.all() if c.approver == approver]

    def advance(self, credential_id: str, old: int, new: int) -> bool:
        """Store the counter ``new`` if it moves forward from ``old`` and nobody stored another meanwhile."""
        if not sign_count_advances(old, new):
            return False
        return (
            self._count(
                "update passkey counter",
                "UPDATE webauthn_credentials SET sign_count = %s WHERE credential_id = %s AND sign_count = %s",
                (new, credential_id, old),
            )
            == 1
        )

    def revoke(self, credential_id: str) -> Credential | None:
        """Remove a passkey: its approvals not yet used are refused from now on (unknown signer). The removed
        credential, or None if there was none."""
        rows = self._rows(
            "revoke passkey",
            "DELETE FROM webauthn_credentials WHERE credential_id = %s"
            " RETURNING credential_id, approver, public_key, sign_count, created_at",
            (credential_id,),
        )
        return credential_from_row(rows[0]) if rows else None
