"""Approval requests, signed verdicts and used nonces in SQLite (the approve module's edge).

Shares the gateway's SQLite file (WAL mode) and owns two tables there: ``signed_approvals`` (one row per
request, with its signed verdict once a human decides) and ``used_nonces`` (every single-use nonce spent).
Single use holds across threads and processes: spending a nonce is an ``INSERT`` on its primary key inside a
``BEGIN IMMEDIATE`` transaction, so of any number of racing callers exactly one wins.

Signatures are not checked here (that is :mod:`warded.approve.approvals`, which is pure); the gateway verifies an
approval before it spends it with :meth:`SQLiteApprovalStore.consume`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from typing import Protocol

from warded.approve.approvals import (
    ApprovalRejected,
    ApprovalRequest,
    ApprovalVerdict,
    SignedApproval,
    request_from_json,
)
from warded.approve.webauthn import AnyApproval, WebAuthnApproval, verdict_from_json
from warded.audit.canonical import canonical_json
from warded.errors import AuditError, StoreError
from warded.store._sqlite import SQLiteStore

__all__ = [
    "SCHEMA",
    "ApprovalStore",
    "RequestStatus",
    "SQLiteApprovalStore",
    "UsedNonces",
    "parse_stored_request",
    "parse_stored_verdict",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS signed_approvals (
    request_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    tier TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    nonce TEXT NOT NULL UNIQUE,
    request_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used', 'void')),
    approval_json TEXT,
    approver TEXT,
    key_id TEXT,
    decided_at REAL,
    used_at REAL
);
CREATE INDEX IF NOT EXISTS signed_approvals_by_status ON signed_approvals (status, created_at);
CREATE TABLE IF NOT EXISTS used_nonces (
    nonce TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    digest TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS used_nonces_by_expiry ON used_nonces (expires_at);
"""
"""The two tables this store owns (created if missing; other modules own other tables in the same file)."""


class RequestStatus(StrEnum):
    """The ``status`` values of a ``signed_approvals`` row."""

    PENDING = "pending"  # waiting for a human
    APPROVED = "approved"  # signed approval recorded, not yet used
    DENIED = "denied"  # signed denial recorded (final)
    USED = "used"  # approval spent: the action ran once (final)
    VOID = "void"  # withdrawn by the gateway, e.g. its decision could not be audited (final)


class ApprovalStore(Protocol):
    """What the gateway and the operator commands need from an approval store (SQLite here, PostgreSQL in
    :mod:`warded.approve.pg_store`). Every failure raises :class:`~warded.errors.StoreError`; spending
    (:meth:`consume`, :meth:`mark_used`) succeeds for exactly one of any number of racing callers."""

    def save_request(self, request: ApprovalRequest) -> None: ...

    def load_request(self, request_id: str) -> ApprovalRequest | None: ...

    def status(self, request_id: str) -> RequestStatus | None: ...

    def pending(self, now: float | None = None) -> list[ApprovalRequest]: ...

    def void(self, request_id: str) -> bool: ...

    def record_verdict(self, approval: AnyApproval) -> None: ...

    def load_verdict(self, request_id: str) -> AnyApproval | None: ...

    def consume(self, request: ApprovalRequest, now: float) -> bool: ...

    def mark_used(self, nonce: str, *, kind: str, digest: str, expires_at: float, now: float) -> bool: ...

    def is_used(self, nonce: str) -> bool: ...

    @property
    def used_nonces(self) -> UsedNonces: ...

    def purge_used(self, now: float, *, keep_s: float = 86_400.0) -> int: ...

    def close(self) -> None: ...


def parse_stored_verdict(request_id: str, body: object) -> AnyApproval:
    """The ``approval_json`` column of any approval store as the signed verdict for ``request_id``.

    StoreError if the record is corrupt or names another request (an edited row), whichever backend it came
    from.
    """
    try:
        approval = verdict_from_json(json.loads(str(body)))
    except (ValueError, ApprovalRejected) as exc:
        raise StoreError(f"the approval of request {request_id} is corrupt: {exc}") from exc
    if approval.request_id != request_id:
        raise StoreError(f"the approval of request {request_id} is corrupt: it names {approval.request_id}")
    return approval


def parse_stored_request(row: tuple[object, ...]) -> ApprovalRequest:
    """A ``(request_id, digest, expires_at, nonce, request_json)`` row of any approval store as a request.

    StoreError if the record is corrupt or its indexed columns disagree with it (an edited row), whichever
    backend it came from.
    """
    request_id, digest, expires_at, nonce, body = row
    try:
        request = request_from_json(json.loads(str(body)))
    except (ValueError, ApprovalRejected) as exc:
        raise StoreError(f"approval request {request_id} is corrupt: {exc}") from exc
    if (request.id, request.digest, request.expires_at, request.nonce) != (request_id, digest, expires_at, nonce):
        raise StoreError(f"approval request {request_id} is corrupt: its columns disagree with its record")
    return request


class UsedNonces:
    """A live ``Container[str]`` view of spent nonces, for :func:`~warded.approve.approvals.verify_approval`."""

    __slots__ = ("_store",)

    def __init__(self, store: ApprovalStore) -> None:
        self._store = store

    def __contains__(self, nonce: object) -> bool:
        return isinstance(nonce, str) and self._store.is_used(nonce)


class SQLiteApprovalStore(SQLiteStore):
    """Approval requests and their signed verdicts in SQLite. Thread-safe; safe across processes.

    Every failure raises :class:`~warded.errors.StoreError`; callers fail closed.
    """

    def __init__(self, path: str, *, timeout_s: float = 5.0, synchronous: str = "NORMAL") -> None:
        super().__init__(path, what="approval store", schema=SCHEMA, timeout_s=timeout_s, synchronous=synchronous)

    # -- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the thread lock; rolls back and raises StoreError on failure."""
        with self._lock:
            self._check_open()
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot {what}: {exc}") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"cannot {what}: {exc}") from exc
                raise

    def _read(self, what: str, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self._lock:
            self._check_open()
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot {what}: {exc}") from exc

    # -- requests --------------------------------------------------------------------------------

    def save_request(self, request: ApprovalRequest) -> None:
        """Record a new pending request. StoreError if its id or nonce is already known."""
        if not isinstance(request, ApprovalRequest):
            raise StoreError(f"expected an ApprovalRequest, got {type(request).__name__}")
        try:
            body = canonical_json(request.to_json()).decode("utf-8")
        except AuditError as exc:
            raise StoreError(f"cannot encode approval request {request.id}: {exc}") from exc
        with self._transaction("record approval request") as db:
            try:
                db.execute(
                    "INSERT INTO signed_approvals (request_id, digest, agent_id, session_id, tool, tier, created_at,"
                    " expires_at, nonce, request_json, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
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
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"approval request {request.id} (or its nonce) already exists") from exc

    def load_request(self, request_id: str) -> ApprovalRequest | None:
        """The request ``request_id``, or None. StoreError if the stored record is corrupt."""
        rows = self._read(
            "read approval request",
            "SELECT request_id, digest, expires_at, nonce, request_json FROM signed_approvals WHERE request_id = ?",
            (request_id,),
        )
        return parse_stored_request(rows[0]) if rows else None

    def status(self, request_id: str) -> RequestStatus | None:
        """The request's :class:`RequestStatus` value, or None if there is no such request."""
        rows = self._read(
            "read approval status", "SELECT status FROM signed_approvals WHERE request_id = ?", (request_id,)
        )
        return RequestStatus(str(rows[0][0])) if rows else None

    def pending(self, now: float | None = None) -> list[ApprovalRequest]:
        """Requests still waiting for a human, oldest first (only the unexpired ones when ``now`` is given)."""
        rows = self._read(
            "list approval requests",
            "SELECT request_id, digest, expires_at, nonce, request_json FROM signed_approvals"
            " WHERE status = 'pending' AND (? IS NULL OR expires_at > ?) ORDER BY created_at, request_id",
            (now, now),
        )
        return [parse_stored_request(row) for row in rows]

    def void(self, request_id: str) -> bool:
        """Withdraw a pending request (e.g. its decision could not be audited). False if it was not pending."""
        with self._transaction("void approval request") as db:
            cur = db.execute(
                "UPDATE signed_approvals SET status = 'void' WHERE request_id = ? AND status = 'pending'",
                (request_id,),
            )
            return cur.rowcount == 1

    # -- verdicts --------------------------------------------------------------------------------

    def record_verdict(self, approval: AnyApproval) -> None:
        """Record a signed approval or denial on its pending request; a request is decided once.

        StoreError if the request is unknown, already decided, or the approval names another digest or
        expiry. The signature is not checked here: verify it first
        (:func:`~warded.approve.approvals.verify_signature`); the gateway verifies it again before use.
        """
        if not isinstance(approval, SignedApproval | WebAuthnApproval):
            raise StoreError(f"expected a signed approval, got {type(approval).__name__}")
        try:
            body = canonical_json(approval.to_json()).decode("utf-8")
        except (AuditError, AttributeError) as exc:
            raise StoreError(f"cannot encode approval: {exc}") from exc
        status = RequestStatus.APPROVED if approval.verdict is ApprovalVerdict.APPROVE else RequestStatus.DENIED
        with self._transaction("record approval") as db:
            row = db.execute(
                "SELECT status, digest, expires_at FROM signed_approvals WHERE request_id = ?",
                (approval.request_id,),
            ).fetchone()
            if row is None:
                raise StoreError(f"no approval request {approval.request_id}")
            if row[0] != RequestStatus.PENDING:
                raise StoreError(f"approval request {approval.request_id} is already {row[0]}")
            if (row[1], row[2]) != (approval.digest, approval.expires_at):
                raise StoreError(f"the approval does not match request {approval.request_id}")
            db.execute(
                "UPDATE signed_approvals SET status = ?, approval_json = ?, approver = ?, key_id = ?, decided_at = ?"
                " WHERE request_id = ? AND status = 'pending'",
                (status, body, approval.approver, approval.key_id, approval.decided_at, approval.request_id),
            )

    def load_verdict(self, request_id: str) -> AnyApproval | None:
        """The signed approval or denial recorded for ``request_id``, or None while there is none."""
        rows = self._read(
            "read approval",
            "SELECT approval_json FROM signed_approvals WHERE request_id = ? AND approval_json IS NOT NULL",
            (request_id,),
        )
        return parse_stored_verdict(request_id, rows[0][0]) if rows else None

    # -- single use ------------------------------------------------------------------------------

    def consume(self, request: ApprovalRequest, now: float) -> bool:
        """Spend the approval of ``request``: True for exactly one caller, across threads and processes.

        Succeeds only if the request's status is ``approved``; then, in one transaction, its nonce is inserted
        into ``used_nonces`` and its status becomes ``used``. False if it was already used, or is not approved.
        Call it after :func:`~warded.approve.approvals.verify_approval` has accepted the approval.
        """
        if not isinstance(request, ApprovalRequest):
            raise StoreError(f"expected an ApprovalRequest, got {type(request).__name__}")
        with self._transaction("spend approval") as db:
            row = db.execute(
                "SELECT status, nonce, digest FROM signed_approvals WHERE request_id = ?", (request.id,)
            ).fetchone()
            if row is None or row[0] != RequestStatus.APPROVED or (row[1], row[2]) != (request.nonce, request.digest):
                return False
            try:
                db.execute(
                    "INSERT INTO used_nonces (nonce, kind, digest, expires_at, used_at)"
                    " VALUES (?, 'approval', ?, ?, ?)",
                    (request.nonce, request.digest, request.expires_at, now),
                )
            except sqlite3.IntegrityError:
                return False
            db.execute(
                "UPDATE signed_approvals SET status = 'used', used_at = ? WHERE request_id = ?", (now, request.id)
            )
            return True

    def mark_used(self, nonce: str, *, kind: str, digest: str, expires_at: float, now: float) -> bool:
        """Spend any single-use nonce (e.g. a capability token's, across processes). True for exactly one caller."""
        if not isinstance(nonce, str) or not nonce:
            raise StoreError("nonce must be a non-empty string")
        with self._transaction("spend nonce") as db:
            try:
                db.execute(
                    "INSERT INTO used_nonces (nonce, kind, digest, expires_at, used_at) VALUES (?, ?, ?, ?, ?)",
                    (nonce, kind, digest, expires_at, now),
                )
            except sqlite3.IntegrityError:
                return False
            return True

    def is_used(self, nonce: str) -> bool:
        return bool(self._read("read used nonces", "SELECT 1 FROM used_nonces WHERE nonce = ?", (nonce,)))

    @property
    def used_nonces(self) -> UsedNonces:
        """A live container view of spent nonces (``nonce in store.used_nonces``)."""
        return UsedNonces(self)

    def purge_used(self, now: float, *, keep_s: float = 86_400.0) -> int:
        """Forget nonces that expired more than ``keep_s`` ago (anything that old is refused as expired anyway)."""
        with self._transaction("purge used nonces") as db:
            return db.execute("DELETE FROM used_nonces WHERE expires_at < ?", (now - keep_s,)).rowcount
