"""The audit log: appends events to a store and signs checkpoints over the chain head."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warded.audit.chain import (
    SCHEDULE_KEY,
    AuditEntry,
    Checkpoint,
    VerifyReport,
    VerifyRules,
    entry_hash,
    entry_hash_canonical,
    verify_chain,
)
from warded.audit.keys import Signer
from warded.audit.spool import SpoolBusy
from warded.errors import AuditError

if TYPE_CHECKING:
    from warded.audit.spool import AuditSpool
    from warded.audit.store import AuditStore

__all__ = ["AuditLog", "AuditUnavailable", "open_postgres_log", "open_sqlite_log", "verify_store"]

_UNAVAILABLE_FAULTS = ("unreachable", "timeout")  # ``warded.store._postgres.Fault`` values


class AuditUnavailable(AuditError):
    """The audit store could not be reached, or did not answer in time: nothing was appended. With a spool
    (:meth:`AuditLog.spool`) the entry can wait on local disk until the store is back."""


def _unavailable(exc: AuditError) -> bool:
    return isinstance(exc, AuditUnavailable) or str(getattr(exc, "fault", "")) in _UNAVAILABLE_FAULTS


class AuditLog:
    """Append-only, hash-chained audit log with signed checkpoints. Thread-safe.

    A checkpoint is signed on every append whose seq is a multiple of ``checkpoint_every`` (N), and on the
    first append once ``checkpoint_seconds`` have passed since this log's last one; :meth:`close` signs the
    remaining tail. Because the multiples are global, several processes appending to one database (each
    running its own ``AuditLog``) still leave at most N entries between checkpoints, which is what
    verification requires (:func:`~warded.audit.chain.verify_chain`). A writer that wants its schedule
    checked opens with :meth:`start` and ends with ``close(final=...)``.
    """

    def __init__(
        self,
        store: AuditStore,
        signer: Signer,
        *,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        spool: AuditSpool | None = None,
    ) -> None:
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise AuditError(f"checkpoint_every must be an int >= 1, got {checkpoint_every!r}")
        if not checkpoint_seconds > 0:
            raise AuditError(f"checkpoint_seconds must be > 0, got {checkpoint_seconds!r}")
        if not isinstance(signer, Signer):
            raise AuditError(f"signer must be a warded Signer, got {type(signer).__name__}")
        self._store = store
        self._signer = signer
        self._every = checkpoint_every
        self._seconds = float(checkpoint_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        existing = store.checkpoints()
        self._last_checkpoint_seq = max((cp.seq for cp in existing if isinstance(cp.seq, int)), default=0)
        self._last_checkpoint_time = float(clock())
        self._writer = secrets.token_hex(8)
        self._spool = spool

    @property
    def store(self) -> AuditStore:
        return self._store

    @property
    def signer(self) -> Signer:
        return self._signer

    def append(self, kind: str, body: Mapping[str, Any]) -> AuditEntry:
        """Record one event now; may also sign a checkpoint (see the class docstring). Entries waiting in
        the spool are appended first. Raises :class:`AuditUnavailable` when the store cannot be reached or
        does not answer in time (nothing appended), ``AuditError`` on any other failure."""
        with self._lock:
            self._check_open()
            self._drain_locked()
            return self._append_locked(kind, body)

    @property
    def can_spool(self) -> bool:
        """Whether entries the store cannot take now can wait in a local spool."""
        return self._spool is not None

    def spool(self, kind: str, body: Mapping[str, Any], why: str) -> str:
        """Keep an entry on local disk until the store is back (see ``warded.audit.spool``); its spool id.
        Raises ``AuditError`` without a spool or when the spool cannot be written."""
        if self._spool is None:
            raise AuditError("this audit log has no spool")
        with self._lock:
            self._check_open()
            return self._spool.put(kind, float(self._clock()), body, why)

    def record(self, kind: str, body: Mapping[str, Any]) -> AuditEntry | str:
        """:meth:`append`, or, when the store is unavailable and there is a spool, :meth:`spool` (the spool
        id is returned instead of the entry)."""
        try:
            return self.append(kind, body)
        except AuditUnavailable as exc:
            if self._spool is None:
                raise
            return self.spool(kind, body, str(exc))

    def drain(self) -> int:
        """Append what waits in the spool now; how many. Raises like :meth:`append`."""
        with self._lock:
            self._check_open()
            return self._drain_locked()

    def _drain_locked(self) -> int:
        if self._spool is None or not self._spool.pending():
            return 0
        try:
            return self._spool.drain(self._append_locked)
        except SpoolBusy:
            return 0  # another replica of this host is draining it; this entry need not wait for that

    def _append_locked(self, kind: str, body: Mapping[str, Any]) -> AuditEntry:
        now = float(self._clock())
        try:
            entry = self._store.append(kind, now, body)
        except AuditError as exc:
            if _unavailable(exc) and not isinstance(exc, AuditUnavailable):
                raise AuditUnavailable(str(exc)) from exc
            raise
        if entry.seq % self._every == 0 or now - self._last_checkpoint_time >= self._seconds:
            self._sign(entry.seq, entry.hash, now)
        return entry

    def start(self, kind: str, body: Mapping[str, Any]) -> AuditEntry:
        """Append this writer's opening entry, declaring its checkpoint schedule, and sign it at once.

        ``body`` gains :data:`~warded.audit.chain.SCHEDULE_KEY` with this writer's id, ``checkpoint_every``,
        ``checkpoint_seconds`` and key id; verification derives the gap it accepts between checkpoints from
        it. A head left unsigned by a writer that crashed is signed first, so the crash tail stays within
        the schedule.
        """
        if SCHEDULE_KEY in body:
            raise AuditError(f"the body key {SCHEDULE_KEY!r} is reserved for the audit log")
        declared = {
            **body,
            SCHEDULE_KEY: {
                "writer": self._writer,
                "checkpoint_every": self._every,
                "checkpoint_seconds": self._seconds,
                "key_id": self._signer.key_id,
            },
        }
        with self._lock:
            self._check_open()
            self._checkpoint_head(force=True)
            self._drain_locked()  # what a replica that died here left behind, before this writer's start
            now = float(self._clock())
            entry = self._store.append(kind, now, declared)
            self._sign(entry.seq, entry.hash, now)
            return entry

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current head now; ``None`` if the log is empty or the head is already signed."""
        with self._lock:
            self._check_open()
            return self._checkpoint_head()

    def verify(
        self, public_keys: Mapping[str, Ed25519PublicKey] | None = None, rules: VerifyRules | None = None
    ) -> VerifyReport:
        """Verify the whole store; by default trusting only this log's own signing key."""
        keys = public_keys if public_keys is not None else {self._signer.key_id: self._signer.public_key}
        return verify_store(self._store, keys, rules or VerifyRules(checkpoint_every=self._every, allow_empty=True))

    def close(self, final: tuple[str, Mapping[str, Any]] | None = None) -> None:
        """Append ``final`` (a clean-shutdown entry ``(kind, body)``) if given, sign the unsigned tail (if
        any) and close the store. Idempotent. The final entry is marked (``{"closed": true}`` under
        :data:`~warded.audit.chain.SCHEDULE_KEY`), so verification refuses a log where it is not signed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if final is not None:
                    self._drain_locked()
                    kind, body = final
                    if SCHEDULE_KEY in body:
                        raise AuditError(f"the body key {SCHEDULE_KEY!r} is reserved for the audit log")
                    marked = {**body, SCHEDULE_KEY: {"writer": self._writer, "closed": True}}
                    self._store.append(kind, float(self._clock()), marked)
            finally:
                try:
                    self._checkpoint_head()
                finally:
                    self._store.close()
                    if self._spool is not None:
                        self._spool.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise AuditError("audit log is closed")

    def _checkpoint_head(self, *, force: bool = False) -> Checkpoint | None:
        # Caller holds self._lock. ``force`` re-reads the signed seqs (another writer may have signed).
        seq, head_hash = self._store.head()
        if force and seq > self._last_checkpoint_seq:
            signed = self._store.checkpoints()
            self._last_checkpoint_seq = max((cp.seq for cp in signed if isinstance(cp.seq, int)), default=0)
        if seq == 0 or seq <= self._last_checkpoint_seq:
            return None
        entry = self._store.get(seq)
        if entry is None:
            raise AuditError(f"audit head {seq} vanished; refusing to sign it")
        try:
            if entry.body_json is not None:
                recomputed = entry_hash_canonical(entry.prev_hash, seq, entry.ts, entry.kind, entry.body_json)
            else:
                recomputed = entry_hash(entry.prev_hash, seq, entry.ts, entry.kind, entry.body)
        except AuditError as exc:
            raise AuditError(f"audit head {seq} is malformed; refusing to sign it: {exc}") from exc
        if recomputed != head_hash:
            raise AuditError(f"audit head {seq} does not match its hash; refusing to sign it (tampered?)")
        return self._sign(seq, head_hash, float(self._clock()))

    def _sign(self, seq: int, head_hash: str, now: float) -> Checkpoint:
        cp = self._signer.sign_checkpoint(seq, head_hash, now)
        self._store.add_checkpoint(cp)
        self._last_checkpoint_seq = max(self._last_checkpoint_seq, seq)
        self._last_checkpoint_time = now
        return cp


def verify_store(
    store: AuditStore,
    public_keys: Mapping[str, Ed25519PublicKey],
    rules: VerifyRules | None = None,
    anchors: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Verify everything in ``store`` (checkpoints read first, entries streamed); see :func:`verify_chain`."""
    return verify_chain(store.iter_entries(), store.checkpoints(), public_keys, rules, anchors)


def open_sqlite_log(
    db_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    *,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    checkpoint_every: int = 1000,
    checkpoint_seconds: float = 60.0,
    clock: Callable[[], float] = time.time,
) -> AuditLog:
    """An :class:`AuditLog` on the SQLite file ``db_path``, signing with the private key at ``key_path``."""
    from warded.audit.sqlite import SQLiteAuditStore  # noqa: PLC0415 - store imports audit; avoid a cycle

    signer = Signer.from_file(key_path)
    store = SQLiteAuditStore(db_path, synchronous=synchronous)
    try:
        return AuditLog(
            store,
            signer,
            checkpoint_every=checkpoint_every,
            checkpoint_seconds=checkpoint_seconds,
            clock=clock,
        )
    except BaseException:
        store.close()
        raise


def open_postgres_log(
    dsn: str,
    key_path: str | os.PathLike[str],
    *,
    schema: str = "warded",
    pool_size: int = 4,
    timeout_s: float = 5.0,
    checkpoint_every: int = 1000,
    checkpoint_seconds: float = 60.0,
    clock: Callable[[], float] = time.time,
) -> AuditLog:
    """An :class:`AuditLog` on the PostgreSQL chain in ``schema`` (shared by every replica), signing with
    the private key at ``key_path``."""
    from warded.audit.postgres import PostgresAuditStore  # noqa: PLC0415 - psycopg loads only when used

    signer = Signer.from_file(key_path)
    store = PostgresAuditStore(dsn, schema=schema, pool_size=pool_size, timeout_s=timeout_s)
    try:
        return AuditLog(
            store,
            signer,
            checkpoint_every=checkpoint_every,
            checkpoint_seconds=checkpoint_seconds,
            clock=clock,
        )
    except BaseException:
        store.close()
        raise
