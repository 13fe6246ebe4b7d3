"""The local spool: audit entries a shared audit store could not take, kept on this host until it can.

When PostgreSQL is unreachable or too slow, the gateway still answers (a DENY, ``store.unavailable``) and
that answer must reach the audit chain: the entry goes to this spool, a SQLite file next to the policy's
``audit.path`` (``<audit.path>.spool``), committed with ``synchronous=FULL`` before the caller answers, so
it survives the process being killed and the machine losing power. :class:`~warded.audit.log.AuditLog`
drains the spool into the chain, oldest first, before its next append once the store answers again, and
on start (a replica restarted after a crash drains what the dead one left). Replicas on one host share the
file; one drains at a time (SQLite's write lock), so each spooled entry is appended once, and the
others append their own entries meanwhile rather than wait for that drain. A process killed
between the chain's commit and the spool's delete appends that entry again on the next drain (a duplicate
is visible, never a loss); each spooled entry carries its own id to tell duplicates apart.

Each replayed entry is the original body plus ``"spooled": {"id", "decided_at", "why"}``: its chain
``ts`` is when it entered the chain, ``decided_at`` when the gateway decided it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from warded.audit.canonical import canonical_json
from warded.errors import AuditError, StoreError
from warded.store._sqlite import open_sqlite

__all__ = ["SPOOL_KEY", "AuditSpool", "SpoolBusy"]

SPOOL_KEY = "spooled"
"""The body key a replayed entry carries (``id``, ``decided_at``, ``why``)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spooled (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spool_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    decided_at REAL NOT NULL,
    why TEXT NOT NULL,
    body TEXT NOT NULL
);
"""

MAX_WHY_CHARS = 300


class SpoolBusy(AuditError):
    """Another process of this host is draining the spool: this one's entries wait for the next drain."""


class AuditSpool:
    """Entries waiting for the audit store, in the SQLite file ``path`` (created on first use). Thread-safe.

    :meth:`pending` is cheap: it reads the file at most once per ``check_every_s`` (another replica on this
    host may have spooled), and at once after this process spooled something.
    """

    def __init__(self, path: str, *, check_every_s: float = 1.0, timeout_s: float = 5.0) -> None:
        self.path = os.fspath(path)
        self._check_every = float(check_every_s)
        self._timeout = float(timeout_s)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._known_pending = os.path.exists(self.path)  # a dead replica may have left entries
        self._next_check = 0.0
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        # Caller holds self._lock.
        if self._closed:
            raise AuditError(f"the audit spool {self.path!r} is closed")
        if self._db is None:
            try:
                self._db = open_sqlite(
                    self.path, what=f"audit spool {self.path!r}", timeout_s=self._timeout, synchronous="FULL",
                    schema=_SCHEMA, require_wal=True, error=AuditError,
                )  # fmt: skip
            except StoreError as exc:  # pragma: no cover - open_sqlite raises the error class given
                raise AuditError(str(exc)) from exc
        return self._db

    def put(self, kind: str, decided_at: float, body: Mapping[str, Any], why: str) -> str:
        """Keep one entry (durably, before returning); its spool id. Raises ``AuditError``."""
        if SPOOL_KEY in body:
            raise AuditError(f"the body key {SPOOL_KEY!r} is reserved for the audit spool")
        text = canonical_json(dict(body)).decode("utf-8")
        spool_id = "spool-" + secrets.token_hex(8)
        with self._lock:
            db = self._open()
            try:
                db.execute(
                    "INSERT INTO spooled (spool_id, kind, decided_at, why, body) VALUES (?, ?, ?, ?, ?)",
                    (spool_id, kind, float(decided_at), why[:MAX_WHY_CHARS], text),
                )
            except sqlite3.Error as exc:
                raise AuditError(f"cannot write the audit spool {self.path!r}: {exc}") from exc
            self._known_pending = True
        return spool_id

    def pending(self) -> bool:
        """Whether entries may be waiting (cheap; see the class docstring)."""
        with self._lock:
            if self._known_pending:
                return True
            now = time.monotonic()
            if now < self._next_check:
                return False
            self._next_check = now + self._check_every
            if self._db is None and not os.path.exists(self.path):
                return False
            self._known_pending = self._count_locked() > 0
            return self._known_pending

    def count(self) -> int:
        """How many entries wait in the spool."""
        with self._lock:
            if self._db is None and not os.path.exists(self.path):
                return 0
            return self._count_locked()

    def _count_locked(self) -> int:
        try:
            row = self._open().execute("SELECT COUNT(*) FROM spooled").fetchone()
        except sqlite3.Error as exc:
            raise AuditError(f"cannot read the audit spool {self.path!r}: {exc}") from exc
        return int(row[0]) if row else 0

    def drain(self, append: Callable[[str, Mapping[str, Any]], object]) -> int:
        """Append every waiting entry with ``append(kind, body)``, oldest first, removing each once appended;
        how many. Stops at the first failure, which it raises (the rest stay spooled, in order)."""
        with self._lock:
            if self._db is None and not os.path.exists(self.path):
                self._known_pending = False
                return 0
            db = self._open()
            done = 0
            try:
                db.execute("BEGIN IMMEDIATE")  # one replica of this host drains at a time
            except sqlite3.OperationalError as exc:
                raise SpoolBusy(f"the audit spool {self.path!r} is busy: {exc}") from exc
            except sqlite3.Error as exc:
                raise AuditError(f"cannot lock the audit spool {self.path!r}: {exc}") from exc
            try:
                rows = db.execute(
                    "SELECT id, spool_id, kind, decided_at, why, body FROM spooled ORDER BY id"
                ).fetchall()
                for row_id, spool_id, kind, decided_at, why, text in rows:
                    body = json.loads(text)
                    body[SPOOL_KEY] = {"id": spool_id, "decided_at": decided_at, "why": why}
                    append(kind, body)
                    db.execute("DELETE FROM spooled WHERE id = ?", (row_id,))
                    db.execute("COMMIT")  # each entry leaves the spool as soon as the chain has it
                    done += 1
                    db.execute("BEGIN IMMEDIATE")
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise AuditError(f"cannot drain the audit spool {self.path!r}: {exc}") from exc
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            self._known_pending = False
            return done

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None
