"""MCP tool pins, whichever store keeps them: the records, the rule that compares a listed definition with
the pin (:func:`judge`), and the interface both backends implement (:class:`PinStore`).

The rule is pure: given the row stored for ``(server, tool)`` (or none), the digest just seen and whether a
first sight may be pinned, it returns the verdict and the one write that makes the store agree. The SQLite
backend (``warded.proxy.mcp._pins.PinStore``, in the audit file) and the PostgreSQL one
(``warded.store.pg_pins``, shared by every replica) each run it inside a transaction that locks the row,
so two proxies listing the same server at once agree on what was pinned first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["FIRST_SIGHT", "PinCheck", "PinRecord", "PinStatus", "PinStore", "PinWrite", "Stored", "judge"]

FIRST_SIGHT = "first_sight"  # pinned_by for a definition trusted because it was the first one seen


class PinStatus(StrEnum):
    PINNED = "pinned"  # the definition matches the pinned one
    CHANGED = "changed"  # a definition was pinned, and this one differs: blocked until approved
    UNAPPROVED = "unapproved"  # nothing is pinned yet and this definition is waiting for an operator


@dataclass(frozen=True, slots=True)
class PinCheck:
    status: PinStatus
    digest: str  # the definition just seen
    pinned: str | None  # the pinned digest, if any
    pinned_by: str | None
    new: bool  # first time this (server, tool) was seen at all
    alert: bool  # first time this particular unpinned definition was seen: raise an alert once

    @property
    def trusted(self) -> bool:
        return self.status is PinStatus.PINNED

    @property
    def operator_approved(self) -> bool:
        return self.trusted and self.pinned_by not in (None, FIRST_SIGHT)


@dataclass(frozen=True, slots=True)
class PinRecord:
    server: str
    tool: str
    digest: str | None
    pinned_at: float | None
    pinned_by: str | None
    candidate: str | None
    candidate_seen: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "tool": self.tool,
            "digest": self.digest,
            "pinned_at": self.pinned_at,
            "pinned_by": self.pinned_by,
            "candidate": self.candidate,
            "candidate_seen": self.candidate_seen,
        }


class PinWrite(StrEnum):
    """The one write :func:`judge` asks of the store."""

    NONE = "none"
    INSERT_PINNED = "insert_pinned"  # a new row, pinned at first sight
    INSERT_WAITING = "insert_waiting"  # a new row whose definition waits for an operator
    CLEAR_CANDIDATE = "clear_candidate"  # the server went back to the pinned definition
    PIN_FIRST_SIGHT = "pin_first_sight"  # nothing was pinned yet: pin this one (clears the candidate)
    SET_CANDIDATE = "set_candidate"  # a new unpinned definition: keep it as the candidate


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store holds for ``(server, tool)``: the pinned digest, who pinned it, the candidate."""

    digest: str | None
    pinned_by: str | None
    candidate: str | None


def judge(stored: Stored | None, digest: str, *, pin: bool) -> tuple[PinCheck, PinWrite]:
    """Compare a definition just listed (``digest``) with what is stored; the verdict and the write to make."""
    if stored is None:
        if pin:
            return PinCheck(
                PinStatus.PINNED, digest, digest, FIRST_SIGHT, new=True, alert=False
            ), PinWrite.INSERT_PINNED
        return PinCheck(PinStatus.UNAPPROVED, digest, None, None, new=True, alert=True), PinWrite.INSERT_WAITING
    pinned, pinned_by, candidate = stored.digest, stored.pinned_by, stored.candidate
    if pinned == digest:
        write = PinWrite.CLEAR_CANDIDATE if candidate is not None else PinWrite.NONE
        return PinCheck(PinStatus.PINNED, digest, pinned, pinned_by, new=False, alert=False), write
    if pinned is None and pin:
        check = PinCheck(PinStatus.PINNED, digest, digest, FIRST_SIGHT, new=False, alert=False)
        return check, PinWrite.PIN_FIRST_SIGHT
    alert = candidate != digest
    status = PinStatus.CHANGED if pinned is not None else PinStatus.UNAPPROVED
    check = PinCheck(status, digest, pinned, pinned_by, new=False, alert=alert)
    return check, PinWrite.SET_CANDIDATE if alert else PinWrite.NONE


class PinStore(Protocol):
    """Where pins live: the SQLite audit file, or PostgreSQL with ``store.postgres``. Every failure raises
    :class:`~warded.errors.StoreError`; the MCP proxy then blocks the tool."""

    def observe(
        self, server: str, tool: str, digest: str, definition: dict[str, Any], now: float, *, pin: bool
    ) -> PinCheck: ...

    def approve(
        self, server: str, tool: str, now: float, *, digest: str | None = None, by: str = "operator"
    ) -> str: ...

    def records(self, server: str | None = None) -> list[PinRecord]: ...

    def close(self) -> None: ...
