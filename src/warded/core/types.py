"""Frozen value types that every part of warded speaks: actions, decisions, reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Tier(StrEnum):
    """Capability tier of a tool, from least to most dangerous in spirit (not ordered)."""

    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"
    FINANCIAL = "financial"
    EXTERNAL = "external"
    PRIVILEGED = "privileged"


class Verdict(StrEnum):
    ALLOW = "allow"
    REQUIRE_APPROVAL = "require_approval"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision came out as it did. ``rule_id`` is stable across releases."""

    rule_id: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"rule_id": self.rule_id, "message": self.message}


class ObligationKind(StrEnum):
    """What the audit writer must do with a value before it is stored."""

    HASH_IN_AUDIT = "hash_in_audit"  # an argument the policy marks ``secret``: stored as a salted hash
    REDACT_IN_AUDIT = "redact_in_audit"  # a finding asked for redaction: its spans never rest in plaintext


@dataclass(frozen=True, slots=True)
class Obligation:
    """Something the caller must do with an allowed action, e.g. redact an argument in logs."""

    kind: ObligationKind
    target: str
    rule_id: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "target": self.target, "rule_id": self.rule_id}


class EffectKind(StrEnum):
    PAUSE_SESSION = "pause_session"
    ALERT = "alert"


@dataclass(frozen=True, slots=True)
class Effect:
    """A state change the edge must carry out because of a decision (decisions stay pure)."""

    kind: EffectKind
    rule_id: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "rule_id": self.rule_id, "message": self.message}


@dataclass(frozen=True, slots=True)
class Action:
    """One tool call an agent wants to make."""

    agent_id: str
    session_id: str
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    tier: Tier | None = None
    labels: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "tool": self.tool,
            "arguments": dict(self.arguments),
            "tier": self.tier.value if self.tier is not None else None,
            "labels": sorted(self.labels),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The gateway's answer for one action."""

    verdict: Verdict
    reasons: tuple[Reason, ...]
    tier: Tier | None = None
    obligations: tuple[Obligation, ...] = ()
    effects: tuple[Effect, ...] = ()
    id: str = ""  # assigned by the gateway when the decision is recorded: "d<audit seq>"
    request_id: str = ""  # the approval request created for a REQUIRE_APPROVAL decision
    capability: str = field(default="", repr=False)  # single-use token for the tool side (on request)

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.rule_id for r in self.reasons)

    def summary(self) -> str:
        head = self.reasons[0] if self.reasons else Reason("warded.default_deny", "no reason")
        return f"{self.verdict.value}: [{head.rule_id}] {head.message}"

    def explain(self) -> str:
        lines = [f"verdict: {self.verdict.value}" + (f" (tier {self.tier.value})" if self.tier else "")]
        lines.extend(f"  - [{r.rule_id}] {r.message}" for r in self.reasons)
        lines.extend(f"  obligation: {o.kind} {o.target} [{o.rule_id}]" for o in self.obligations)
        lines.extend(f"  effect: {e.kind.value} [{e.rule_id}] {e.message}" for e in self.effects)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "verdict": self.verdict.value,
            "tier": self.tier.value if self.tier is not None else None,
            "reasons": [r.to_json() for r in self.reasons],
            "obligations": [o.to_json() for o in self.obligations],
            "effects": [e.to_json() for e in self.effects],
        }


def deny(rule_id: str, message: str, tier: Tier | None = None) -> Decision:
    return Decision(Verdict.DENY, (Reason(rule_id, message),), tier)
