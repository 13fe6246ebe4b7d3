"""The audit store interface: what the audit log needs from a backend (SQLite now, PostgreSQL later)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from warded.audit.chain import AuditEntry, Checkpoint

__all__ = ["AuditStore"]


class AuditStore(Protocol):
    """Append-only storage of hash-chained audit entries and their checkpoints.

    ``append`` must assign ``seq``, read the head and insert the new entry in one write transaction, so
    that several writer processes sharing one database still produce a single valid chain. Readers must
    tolerate tampered rows: they return what is stored and leave the judgement to verification.
    Errors are raised as :class:`~warded.errors.AuditError`.
    """

    def append(self, kind: str, ts: float, body: Mapping[str, Any]) -> AuditEntry:
        """Chain a new entry after the current head and store it; return it."""
        ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a signed checkpoint."""
        ...

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry; ``(0, GENESIS_HASH)`` when empty."""
        ...

    def iter_entries(self, start_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries from ``start_seq`` in seq order, streamed (not all loaded at once)."""
        ...

    def get(self, seq: int) -> AuditEntry | None:
        """The entry at ``seq``, or ``None``."""
        ...

    def tail(self, n: int) -> list[AuditEntry]:
        """The last ``n`` entries, oldest first."""
        ...

    def checkpoints(self) -> list[Checkpoint]:
        """All checkpoints, by seq."""
        ...

    def close(self) -> None:
        """Release the backend; idempotent."""
        ...
