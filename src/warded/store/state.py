"""Session state shared between the gateway and the CLI: pauses, quarantines, the kill switch, and the
agents an anomaly of the behavioural monitor left needing approval (agent flags).

Lives in the same SQLite file as the audit log (WAL mode), so ``warded session pause`` in
another process takes effect on the gateway's next check (one indexed read per check).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from warded.core.windows import Claim
from warded.errors import StoreError
from warded.store._sqlite import SQLiteStore

ALL_SESSIONS = "*all*"
QUARANTINE = "flow.quarantine"  # the rule id of a quarantine: a pause that asks for approval instead of denying

_SCHEMA = """
CREATE TABLE IF NOT EXISTS session_pauses (
    agent_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    paused_at REAL NOT NULL,
    PRIMARY KEY (agent_id, session_id)
);
CREATE TABLE IF NOT EXISTS agent_flags (
    agent_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    flagged_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Pause:
    agent_id: str
    session_id: str
    reason: str
    rule_id: str
    paused_at: float


@dataclass(frozen=True, slots=True)
class AgentFlag:
    """An agent whose every non-read call needs approval until an operator clears it (``warded alerts
    clear``): what a behavioural anomaly leaves with ``monitor: {on_anomaly: require_approval}``."""

    agent_id: str
    reason: str
    rule_id: str
    flagged_at: float


class StateStore(Protocol):
    """Where pauses and agent flags live: the SQLite file (:class:`SQLiteStateStore`) or Redis
    (``warded.store.redis``), shared by every worker and replica and by the CLI. Every failure raises
    :class:`~warded.errors.StoreError`; the gateway then denies."""

    def pause(self, agent_id: str, session_id: str, reason: str, rule_id: str, at: float) -> bool: ...

    def resume(self, agent_id: str, session_id: str) -> bool: ...

    def paused(self, agent_id: str, session_id: str) -> Pause | None: ...

    def list_pauses(self) -> list[Pause]: ...

    def flag(self, agent_id: str, reason: str, rule_id: str, at: float) -> bool: ...

    def unflag(self, agent_id: str) -> bool: ...

    def flagged(self, agent_id: str) -> AgentFlag | None: ...

    def list_flags(self) -> list[AgentFlag]: ...

    def close(self) -> None: ...


@runtime_checkable
class UnpausedReserve(Protocol):
    """A window store that also sees the pauses, and checks both in one step (one Redis round trip)."""

    def reserve_if_unpaused(self, agent_id: str, session_id: str, claims: Sequence[Claim], now: float) -> bool:
        """True when neither the session nor its agent is paused (a quarantine counts as paused here) and
        every claim fits its window; then the claims with ``record`` are recorded. False: nothing was."""
        ...


def strongest(pauses: Sequence[Pause], session_id: str) -> Pause | None:
    """The pause in force among a session's own and its agent's: a real pause before a quarantine (an
    agent-wide kill switch is never weakened to an approval by a quarantine of the session), then the
    session's own before the agent-wide one."""
    ranked = sorted(pauses, key=lambda p: (p.rule_id == QUARANTINE, p.session_id != session_id))
    return ranked[0] if ranked else None


class SQLiteStateStore(SQLiteStore):
    """Pauses in SQLite. Thread-safe; safe across processes."""

    def __init__(self, path: str, *, timeout_s: float = 5.0, synchronous: str = "NORMAL") -> None:
        # Same durability as the audit log: NORMAL survives a process crash, FULL a power loss.
        super().__init__(path, what="state store", schema=_SCHEMA, timeout_s=timeout_s, synchronous=synchronous)

    # -- pauses ----------------------------------------------------------------------------

    def pause(self, agent_id: str, session_id: str, reason: str, rule_id: str, at: float) -> bool:
        """Pause a session (``ALL_SESSIONS`` pauses every session of the agent). False if already paused."""
        with self._lock:
            try:
                # A quarantine (approval needed) is the weakest pause: a real pause replaces it, never
                # the other way round.
                cur = self._db.execute(
                    "INSERT INTO session_pauses VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (agent_id, session_id) DO UPDATE SET reason = excluded.reason, "
                    "rule_id = excluded.rule_id, paused_at = excluded.paused_at "
                    "WHERE session_pauses.rule_id = ? AND excluded.rule_id != ?",
                    (agent_id, session_id, reason, rule_id, at, QUARANTINE, QUARANTINE),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot pause session: {exc}") from exc
            return cur.rowcount == 1

    def resume(self, agent_id: str, session_id: str) -> bool:
        """Lift a pause. False if the session was not paused."""
        with self._lock:
            try:
                cur = self._db.execute(
                    "DELETE FROM session_pauses WHERE agent_id = ? AND session_id = ?", (agent_id, session_id)
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot resume session: {exc}") from exc
            return cur.rowcount == 1

    def paused(self, agent_id: str, session_id: str) -> Pause | None:
        """The pause in force for this session (:func:`strongest`), if any. Raises ``StoreError`` if the
        store fails.

        One indexed read per call, so a pause written by another process (the CLI's kill switch)
        takes effect on the very next check.
        """
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT * FROM session_pauses WHERE agent_id = ? AND session_id IN (?, ?)",
                    (agent_id, session_id, ALL_SESSIONS),
                ).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read session pauses: {exc}") from exc
        return strongest([Pause(*r) for r in rows], session_id)

    def list_pauses(self) -> list[Pause]:
        with self._lock:
            try:
                rows = self._db.execute("SELECT * FROM session_pauses ORDER BY paused_at").fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot list pauses: {exc}") from exc
        return [Pause(*r) for r in rows]

    # -- agent flags -------------------------------------------------------------------------

    def flag(self, agent_id: str, reason: str, rule_id: str, at: float) -> bool:
        """Flag an agent (its non-read calls need approval). False if it was flagged already (the first stays)."""
        with self._lock:
            try:
                cur = self._db.execute(
                    "INSERT INTO agent_flags VALUES (?, ?, ?, ?) ON CONFLICT (agent_id) DO NOTHING",
                    (agent_id, reason, rule_id, at),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot flag agent: {exc}") from exc
            return cur.rowcount == 1

    def unflag(self, agent_id: str) -> bool:
        """Clear an agent's flag. False if it was not flagged."""
        with self._lock:
            try:
                cur = self._db.execute("DELETE FROM agent_flags WHERE agent_id = ?", (agent_id,))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot clear agent flag: {exc}") from exc
            return cur.rowcount == 1

    def flagged(self, agent_id: str) -> AgentFlag | None:
        """The agent's flag, if any: one indexed read, so a flag set or cleared by another process (another
        worker, ``warded alerts clear``) counts on the very next check. Raises ``StoreError``."""
        with self._lock:
            try:
                row = self._db.execute("SELECT * FROM agent_flags WHERE agent_id = ?", (agent_id,)).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read agent flags: {exc}") from exc
        return None if row is None else AgentFlag(*row)

    def list_flags(self) -> list[AgentFlag]:
        with self._lock:
            try:
                rows = self._db.execute("SELECT * FROM agent_flags ORDER BY flagged_at").fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot list agent flags: {exc}") from exc
        return [AgentFlag(*r) for r in rows]
