"""Approval requests, signed verdicts and used nonces in PostgreSQL, shared by every gateway replica.

The same tables and meaning as :mod:`warded.approve.store` (``signed_approvals``, ``used_nonces``), in the
store's PostgreSQL schema (room ``approve``). Single use holds across replicas: :meth:`consume` moves the
request from ``approved`` to ``used`` with one conditional ``UPDATE ... RETURNING`` (the row lock makes a
racing second caller see ``used`` and match nothing) and inserts its nonce in the same transaction; a nonce
is spent by an ``INSERT ... ON CONFLICT DO NOTHING`` on its primary key. Of any number of racing callers on
any number of hosts exactly one gets True.

Signatures are not checked here (that is :mod:`warded.approve.approvals`); every failure raises
:class:`~warded.store._postgres.PostgresStoreError` (a ``StoreError``), so callers fail closed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from warded.approve.approvals import (
    ApprovalRequest,
    ApprovalVerdict,
    SignedApproval,
)
from warded.approve.store import RequestStatus, UsedNonces, parse_stored_request, parse_stored_verdict
from warded.approve.webauthn import AnyApproval, WebAuthnApproval
from warded.audit.canonical import canonical_json
from warded.errors import AuditError, StoreError
from warded.store._postgres import (
    DEFAULT_SCHEMA,
    Migration,
    PooledStore,
    PostgresStoreError,
    connection,
    migrate_pool,
    open_pool,
    register_migrations,
)

__all__ = ["MIGRATIONS", "PostgresApprovalStore"]

MIGRATIONS = (
    Migration(
        1,
        "approval requests and used nonces",
        (
            "CREATE TABLE signed_approvals ("
            " request_id text PRIMARY KEY, digest text NOT NULL, agent_id text NOT NULL, session_id text NOT NULL,"
            " tool text NOT NULL, tier text, created_at double precision NOT NULL,"
            " expires_at double precision NOT NULL, nonce text NOT NULL UNIQUE, request_json text NOT NULL,"
            " status text NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used', 'void')),"
            " approval_json text, approver text, key_id text, decided_at double precision, used_at double precision)",
            "CREATE INDEX signed_approvals_by_status ON signed_approvals (status, created_at)",
            "CREATE TABLE used_nonces (nonce text PRIMARY KEY, kind text NOT NULL, digest text NOT NULL,"
            " expires_at double precision NOT NULL, used_at double precision NOT NULL)",
            "CREATE INDEX used_nonces_by_expiry ON used_nonces (expires_at)",
        ),
    ),
    Migration(
        2,
        "approver passkeys and enrolment codes (warded.approve.pg_credentials)",
        (
            "CREATE TABLE webauthn_credentials (credential_id text PRIMARY KEY, approver text NOT NULL,"
            " public_key bytea NOT NULL, sign_count bigint NOT NULL, created_at double precision NOT NULL)",
            "CREATE INDEX webauthn_credentials_by_approver ON webauthn_credentials (approver)",
            "CREATE TABLE webauthn_enrolments (code_hash text PRIMARY KEY, approver text NOT NULL,"
            " expires_at double precision NOT NULL, used_at double precision)",
        ),
    ),
)
"""The approve room's schema, version by version."""

register_migrations("approve", MIGRATIONS)

_Conn = psycopg.Connection[tuple[Any, ...]]


class PostgresApprovalStore(PooledStore):
    """Approval requests and their signed verdicts in PostgreSQL: the public methods of
    :class:`~warded.approve.store.SQLiteApprovalStore`, safe across threads, processes and hosts.

    ``timeout_s`` bounds getting a connection and every statement (lock waits included). With ``migrate``
    (the default) the tables are created or upgraded on open.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = 4,
        timeout_s: float = 5.0,
        migrate: bool = True,
    ) -> None:
        self.schema = schema
        self._timeout = float(timeout_s)
        self._lock = threading.Lock()
        self._pool: ConnectionPool[_Conn] | None = open_pool(
            dsn,
            schema=schema,
            min_size=1,
            max_size=pool_size,
            timeout=self._timeout,
            what=f"approval store (PostgreSQL schema {schema!r})",
        )
        try:
            if migrate:
                migrate_pool(self._pool, schema, rooms=["approve"], timeout_s=max(self._timeout, 30.0))
            else:
                self._check_version()
        except BaseException:
            self.close()
            raise

    # -- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _connection(self, what: str) -> Iterator[_Conn]:
        pool = self._pool
        if pool is None:
            raise PostgresStoreError("the approval store is closed")
        with connection(pool, f"cannot {what}", timeout_s=self._timeout) as conn:
            yield conn

    @contextmanager
    def _transaction(self, what: str) -> Iterator[_Conn]:
        with self._connection(what) as conn, conn.transaction():
            yield conn

    def _read(self, what: str, query: Any, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._connection(what) as conn:
            return list(conn.execute(query, params).fetchall())

    def _check_version(self) -> None:
        rows = self._read(
            "read the schema version", "SELECT max(version) FROM warded_schema_version WHERE room = 'approve'", ()
        )
        version = rows[0][0] if rows else None
        if version != len(MIGRATIONS):
            raise PostgresStoreError(
                f"approval tables are at version {version}, expected {len(MIGRATIONS)}; run `warded store migrate`"
            )

    # -- requests --------------------------------------------------------------------------------

    def save_request(self, request: ApprovalRequest) -> None:
        """Record a new pending request. StoreError if its id or nonce is already known."""
        if not isinstance(request, ApprovalRequest):
            raise StoreError(f"expected an ApprovalRequest, got {type(request).__name__}")
        try:
            body = canonical_json(request.to_json()).decode("utf-8")
        except AuditError as exc:
            raise StoreError(f"cannot encode approval request {request.id}: {exc}") from exc
        with self._connection("record approval request") as conn:
            row = conn.execute(
                "INSERT INTO signed_approvals (request_id, digest, agent_id, session_id, tool, tier, created_at,"
                " expires_at, nonce, request_json, status)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending') ON CONFLICT DO NOTHING RETURNING 1",
                (
                    request.id,
                    request.digest,
                    request.agent_id,
                    request.session_id,
                    request.tool,
                    request.tier.value if request.tier is not None else None,
                    request.created_at,
                    request.expires_at,
                    request.nonce,
                    body,
                ),
            ).fetchone()
        if row is None:
            raise StoreError(f"approval request {request.id} (or its nonce) already exists")

    def load_request(self, request_id: str) -> ApprovalRequest | None:
        """The request ``request_id``, or None. StoreError if the stored record is corrupt."""
        rows = self._read(
            "read approval request",
            "SELECT request_id, digest, expires_at, nonce, request_json FROM signed_approvals WHERE request_id = %s",
            (request_id,),
        )
        return parse_stored_request(rows[0]) if rows else None

    def status(self, request_id: str) -> RequestStatus | None:
        """The request's :class:`RequestStatus` value, or None if there is no such request."""
        rows = self._read(
            "read approval status", "SELECT status FROM signed_approvals WHERE request_id = %s", (request_id,)
        )
        return RequestStatus(str(rows[0][0])) if rows else None

    def pending(self, now: float | None = None) -> list[ApprovalRequest]:
        """Requests still waiting for a human, oldest first (only the unexpired ones when ``now`` is given)."""
        rows = self._read(
            "list approval requests",
            "SELECT request_id, digest, expires_at, nonce, request_json FROM signed_approvals WHERE status = 'pending'"
            " AND (%s::double precision IS NULL OR expires_at > %s) ORDER BY created_at, request_id",
            (now, now),
        )
        return [parse_stored_request(row) for row in rows]

    def void(self, request_id: str) -> bool:
        """Withdraw a pending request (e.g. its decision could not be audited). False if it was not pending."""
        rows = self._read(
            "void approval request",
            "UPDATE signed_approvals SET status = 'void' WHERE request_id = %s AND status = 'pending' RETURNING 1",
            (request_id,),
        )
        return len(rows) == 1

    # -- verdicts --------------------------------------------------------------------------------

    def record_verdict(self, approval: AnyApproval) -> None:
        """Record a signed approval or denial on its pending request; a request is decided once.

        StoreError if the request is unknown, already decided, or the approval names another digest or
        expiry. The signature is not checked here: verify it first.
        """
        if not isinstance(approval, SignedApproval | WebAuthnApproval):
            raise StoreError(f"expected a signed approval, got {type(approval).__name__}")
        try:
            body = canonical_json(approval.to_json()).decode("utf-8")
        except (AuditError, AttributeError) as exc:
            raise StoreError(f"cannot encode approval: {exc}") from exc
        status = RequestStatus.APPROVED if approval.verdict is ApprovalVerdict.APPROVE else RequestStatus.DENIED
        with self._transaction("record approval") as conn:
            row = conn.execute(
                "SELECT status, digest, expires_at FROM signed_approvals WHERE request_id = %s FOR UPDATE",
                (approval.request_id,),
            ).fetchone()
            if row is None:
                raise StoreError(f"no approval request {approval.request_id}")
            if row[0] != RequestStatus.PENDING:
                raise StoreError(f"approval request {approval.request_id} is already {row[0]}")
            if (row[1], row[2]) != (approval.digest, approval.expires_at):
                raise StoreError(f"the approval does not match request {approval.request_id}")
            conn.execute(
                "UPDATE signed_approvals SET status = %s, approval_json = %s, approver = %s, key_id = %s,"
                " decided_at = %s WHERE request_id = %s AND status = 'pending'",
                (str(status), body, approval.approver, approval.key_id, approval.decided_at, approval.request_id),
            )

    def load_verdict(self, request_id: str) -> AnyApproval | None:
        """The signed approval or denial recorded for ``request_id``, or None while there is none."""
        rows = self._read(
            "read approval",
            "SELECT approval_json FROM signed_approvals WHERE request_id = %s AND approval_json IS NOT NULL",
            (request_id,),
        )
        return parse_stored_verdict(request_id, rows[0][0]) if rows else None

    # -- single use ------------------------------------------------------------------------------

    def consume(self, request: ApprovalRequest, now: float) -> bool:
        """Spend the approval of ``request``: True for exactly one caller, across threads, processes and hosts.

        In one transaction: the request moves from ``approved`` to ``used`` (only if its nonce and digest
        match) and its nonce is inserted into ``used_nonces``. False if it was already used, is not
        approved, or its nonce was spent otherwise (then nothing changes).
        """
        if not isinstance(request, ApprovalRequest):
            raise StoreError(f"expected an ApprovalRequest, got {type(request).__name__}")
        with self._connection("spend approval") as conn:
            with conn.transaction() as tx:
                moved = conn.execute(
                    "UPDATE signed_approvals SET status = 'used', used_at = %s WHERE request_id = %s"
                    " AND status = 'approved' AND nonce = %s AND digest = %s RETURNING 1",
                    (now, request.id, request.nonce, request.digest),
                ).fetchone()
                if moved is None:
                    return False
                spent = conn.execute(
                    "INSERT INTO used_nonces (nonce, kind, digest, expires_at, used_at)"
                    " VALUES (%s, 'approval', %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                    (request.nonce, request.digest, request.expires_at, now),
                ).fetchone()
                if spent is None:
                    raise psycopg.Rollback(tx)  # nonce already spent: leave the request as it was
                return True
            return False  # reached only after the rollback above

    def mark_used(self, nonce: str, *, kind: str, digest: str, expires_at: float, now: float) -> bool:
        """Spend any single-use nonce (e.g. a capability token's, across hosts). True for exactly one caller."""
        if not isinstance(nonce, str) or not nonce:
            raise StoreError("nonce must be a non-empty string")
        rows = self._read(
            "spend nonce",
            "INSERT INTO used_nonces (nonce, kind, digest, expires_at, used_at) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            (nonce, kind, digest, expires_at, now),
        )
        return len(rows) == 1

    def is_used(self, nonce: str) -> bool:
        return bool(self._read("read used nonces", "SELECT 1 FROM used_nonces WHERE nonce = %s", (nonce,)))

    @property
    def used_nonces(self) -> UsedNonces:
        """A live container view of spent nonces (``nonce in store.used_nonces``)."""
        return UsedNonces(self)

    def purge_used(self, now: float, *, keep_s: float = 86_400.0) -> int:
        """Forget nonces that expired more than ``keep_s`` ago (anything that old is refused as expired anyway)."""
        with self._connection("purge used nonces") as conn:
            return conn.execute("DELETE FROM used_nonces WHERE expires_at < %s", (now - keep_s,)).rowcount

    # -- lifecycle -------------------------------------------------------------------------------
