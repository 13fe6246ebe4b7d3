"""The audit store interface: what the audit log needs from a backend (SQLite now, PostgreSQL later)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from warded.errors import AuditError

if TYPE_CHECKING:
    from warded.audit.chain import AuditEntry, Checkpoint

__all__ = ["MAX_PAGE_ROWS", "AuditStore", "check_page_args"]

MAX_PAGE_ROWS = 10_000
"""The most entries one :meth:`AuditStore.entries_before` call returns (a reader pages, it never slurps)."""


def check_page_args(before_seq: object, limit: object, min_seq: object, what: str) -> int:
    """``limit``, once the arguments of a page query are checked: integers, ``limit`` within
    :data:`MAX_PAGE_ROWS`; :class:`~warded.errors.AuditError` otherwise."""
    for name, value in (("before_seq", before_seq), ("limit", limit), ("min_seq", min_seq)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise AuditError(f"{what}: {name} must be an integer, got {value!r}")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_ROWS:
        raise AuditError(f"{what}: limit must be 1 to {MAX_PAGE_ROWS}, got {limit}")
    return limit


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

    def entries_before(
        self, before_seq: int, limit: int, *, kind: str | None = None, min_seq: int = 1
    ) -> list[AuditEntry]:
        """Newest first, at most ``limit`` (1 to :data:`MAX_PAGE_ROWS`) entries with ``min_seq <= seq <
        before_seq``, only those of ``kind`` when it is given: one query walking the seq index down from
        ``before_seq``, so its cost follows ``limit`` (and, with ``kind``, ``before_seq - min_seq``), never
        the size of the log. Keyset paging: the next page is ``entries_before(page[-1].seq, limit)``."""
        ...

    def checkpoints(self) -> list[Checkpoint]:
        """All checkpoints, by seq."""
        ...

    def latest_checkpoints(self, n: int) -> list[Checkpoint]:
        """The ``n`` checkpoints with the highest seq, by seq (one indexed query)."""
        ...

    def close(self) -> None:
        """Release the backend; idempotent."""
        ...
