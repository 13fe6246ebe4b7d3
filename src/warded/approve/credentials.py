"""Registered approver passkeys and one-time enrolment codes, in the gateway's SQLite file (or PostgreSQL:
:mod:`warded.approve.pg_credentials`).

``webauthn_credentials``: one row per passkey (credential id, approver, COSE public key, last counter).
``webauthn_enrolments``: one-time codes an operator creates (``warded console enrol NAME``) so that a person can
register a passkey as that approver; only a hash of each code is kept, and a code is redeemed once.

Whoever can write this file can add approvers, exactly as whoever can edit the policy can name Ed25519 approver
keys: protect it like the policy. Every registration is also written to the audit log by the console.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from types import TracebackType
from typing import Protocol, Self

from warded.approve.webauthn import Credential, sign_count_advances
from warded.errors import StoreError
from warded.store._sqlite import SQLiteStore

__all__ = [
    "CREDENTIALS_SCHEMA",
    "ENROL_TTL_S",
    "CredentialStore",
    "SQLiteCredentialStore",
    "code_hash",
    "credential_from_row",
    "valid_approver",
    "valid_code",
]

CREDENTIALS_SCHEMA = """
CREATE TABLE IF NOT EXISTS webauthn_credentials (
    credential_id TEXT PRIMARY KEY,
    approver TEXT NOT NULL,
    public_key BLOB NOT NULL,
    sign_count INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS webauthn_credentials_by_approver ON webauthn_credentials (approver);
CREATE TABLE IF NOT EXISTS webauthn_enrolments (
    code_hash TEXT PRIMARY KEY,
    approver TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
"""

ENROL_TTL_S = 900.0


class CredentialStore(Protocol):
    """What the console and the gateway need of a passkey store (SQLite file, or PostgreSQL with
    ``store.postgres``: :class:`~warded.approve.pg_credentials.PostgresCredentialStore`)."""

    def create_enrolment(self, approver: str, now: float, ttl_s: float = ENROL_TTL_S) -> str: ...

    def peek_enrolment(self, code: str, now: float) -> str | None: ...

    def register(self, code: str, credential: Credential, now: float) -> None: ...

    def get(self, credential_id: str) -> Credential | None: ...

    def all(self) -> list[Credential]: ...

    def for_approver(self, approver: str) -> list[Credential]: ...

    def advance(self, credential_id: str, old: int, new: int) -> bool: ...

    def revoke(self, credential_id: str) -> Credential | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def code_hash(code: str) -> str:
    """What a store keeps of an enrolment code (never the code)."""
    return hashlib.sha256(b"warded-enrolment-v1\n" + code.encode("utf-8")).hexdigest()


def valid_approver(approver: object) -> None:
    """Raise StoreError unless ``approver`` is a name a store may enrol."""
    if not isinstance(approver, str) or not approver or len(approver) > 128 or not approver.isprintable():
        raise StoreError("an approver name must be a printable string of at most 128 characters")


def valid_code(code: object) -> bool:
    """Could ``code`` be an enrolment code at all (a cheap check before any lookup)?"""
    return isinstance(code, str) and 8 <= len(code) <= 64


def credential_from_row(row: tuple[object, ...]) -> Credential:
    """A ``(credential_id, approver, public_key, sign_count, created_at)`` row of any passkey store; StoreError
    if it is corrupt."""
    cid, approver, key, count, created = row
    if isinstance(key, memoryview):
        key = key.tobytes()
    if not isinstance(key, bytes) or not isinstance(count, int) or not isinstance(created, float | int):
        raise StoreError(f"passkey {cid} is corrupt")
    return Credential(str(cid), str(approver), key, count, float(created))


class SQLiteCredentialStore(SQLiteStore):
    """Approver passkeys and enrolment codes. Thread-safe; every failure raises StoreError."""

    def __init__(self, path: str, *, timeout_s: float = 5.0, synchronous: str = "NORMAL") -> None:
        super().__init__(
            path, what="passkey store", schema=CREDENTIALS_SCHEMA, timeout_s=timeout_s, synchronous=synchronous
        )

    def _run(self, what: str, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        with self._lock:
            self._check_open()
            try:
                return self._db.execute(sql, params)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot {what}: {exc}") from exc

    # -- enrolment ---------------------------------------------------------------------------------

    def create_enrolment(self, approver: str, now: float, ttl_s: float = ENROL_TTL_S) -> str:
        """A fresh one-time code that lets its holder register a passkey as ``approver`` until it expires."""
        valid_approver(approver)
        code = secrets.token_urlsafe(18)
        self._run(
            "create enrolment code",
            "INSERT INTO webauthn_enrolments (code_hash, approver, expires_at) VALUES (?, ?, ?)",
            (code_hash(code), approver, now + ttl_s),
        )
        return code

    def peek_enrolment(self, code: str, now: float) -> str | None:
        """The approver a still-valid, unused ``code`` enrols, without spending it; None otherwise."""
        if not valid_code(code):
            return None
        row = self._run(
            "read enrolment code",
            "SELECT approver, code_hash FROM webauthn_enrolments WHERE code_hash = ? AND used_at IS NULL"
            " AND expires_at > ?",
            (code_hash(code), now),
        ).fetchone()
        if row is None or not hmac.compare_digest(str(row[1]), code_hash(code)):
            return None
        return str(row[0])

    def register(self, code: str, credential: Credential, now: float) -> None:
        """Spend ``code`` and store ``credential`` in one transaction (refused if the code is spent or expired,
        names another approver, or the credential is already registered)."""
        with self._lock:
            self._check_open()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    cur = self._db.execute(
                        "UPDATE webauthn_enrolments SET used_at = ? WHERE code_hash = ? AND used_at IS NULL"
                        " AND expires_at > ? AND approver = ?",
                        (now, code_hash(code), now, credential.approver),
                    )
                    if cur.rowcount != 1:
                        raise StoreError("the enrolment code is unknown, expired or already used")
                    self._db.execute(
                        "INSERT INTO webauthn_credentials (credential_id, approver, public_key, sign_count, created_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (
                            credential.credential_id,
                            credential.approver,
                            credential.public_key,
                            credential.sign_count,
                            credential.created_at,
                        ),
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.IntegrityError as exc:
                raise StoreError("this passkey is already registered") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"cannot register passkey: {exc}") from exc

    # -- credentials -------------------------------------------------------------------------------

    _COLUMNS = "credential_id, approver, public_key, sign_count, created_at"

    def get(self, credential_id: str) -> Credential | None:
        row = self._run(
            "read passkey",
            f"SELECT {self._COLUMNS} FROM webauthn_credentials WHERE credential_id = ?",  # noqa: S608 - constant
            (credential_id,),
        ).fetchone()
        return None if row is None else credential_from_row(row)

    def all(self) -> list[Credential]:
        rows = self._run(
            "list passkeys",
            f"SELECT {self._COLUMNS} FROM webauthn_credentials ORDER BY approver, created_at",  # noqa: S608
            (),
        ).fetchall()
        return [credential_from_row(row) for row in rows]

    def for_approver(self, approver: str) -> list[Credential]:
        return [c for c in self.all() if c.approver == approver]

    def advance(self, credential_id: str, old: int, new: int) -> bool:
        """Store the counter ``new`` if it moves forward from ``old`` and nobody stored another meanwhile."""
        if not sign_count_advances(old, new):
            return False
        cur = self._run(
            "update passkey counter",
            "UPDATE webauthn_credentials SET sign_count = ? WHERE credential_id = ? AND sign_count = ?",
            (new, credential_id, old),
        )
        return cur.rowcount == 1

    def revoke(self, credential_id: str) -> Credential | None:
        """Remove a passkey: its approvals not yet used are refused from now on (unknown signer). The removed
        credential, or None if there was none."""
        credential = self.get(credential_id)
        if credential is not None:
            self._run("revoke passkey", "DELETE FROM webauthn_credentials WHERE credential_id = ?", (credential_id,))
        return credential
