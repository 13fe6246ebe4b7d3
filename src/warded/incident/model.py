"""The incident record."""

from __future__ import annotations

import secrets
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["open", "investigating", "mitigated", "closed"]
IndicatorKind = Literal["injection_signature", "tool_digest", "domain", "model_sha256", "bypass_pattern"]
SourceKind = Literal["audit", "alert", "redteam", "import"]

#: Which control each indicator becomes on import (``bypass_pattern`` is information: it names the fix).
CONTROL_OF: dict[str, str] = {
    "injection_signature": "content",
    "tool_digest": "tool_digest",
    "domain": "domain",
    "model_sha256": "model_sha256",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Affected(_Model):
    agent: str | None = None
    tool: str | None = None
    mcp_server: str | None = None
    tool_digest: str | None = None
    model: str | None = None
    model_sha256: str | None = None
    policy_sha256: str | None = None


class Checkpoint(_Model):
    seq: int
    head_hash: str
    ts: float
    key_id: str
    signature: str


class Evidence(_Model):
    """The audit entries ``audit_from..audit_to``; ``chain_head`` is the hash of entry ``audit_to`` and
    ``checkpoint`` the first signed checkpoint at or after it (its signature commits to that head)."""

    audit_from: int = Field(ge=1)
    audit_to: int = Field(ge=1)
    chain_head: str
    checkpoint: Checkpoint | None = None
    entries: list[dict[str, object]] = Field(default_factory=list)


class Indicator(_Model):
    kind: IndicatorKind
    value: str = Field(min_length=1, max_length=4096)
    fixed_in: str | None = None  # bypass_pattern: the warded version that fixed it
    note: str = ""


class Event(_Model):
    ts: float
    status: Status
    note: str = ""


class Source(_Model):
    kind: SourceKind
    ref: str = ""


class Incident(_Model):
    id: str = Field(pattern=r"^OSV-WARDED-[0-9]{4}-[0-9a-f]{8}$")
    title: str = Field(min_length=1, max_length=300)
    severity: Severity = "medium"
    status: Status = "open"
    created: float
    updated: float
    source: Source
    affected: Affected = Field(default_factory=Affected)
    evidence: Evidence | None = None
    indicators: list[Indicator] = Field(default_factory=list)
    timeline: list[Event] = Field(default_factory=list)
    details: str = ""
    signer: str | None = None  # key id of the feed it was imported from


def new_id(now: float | None = None) -> str:
    year = time.gmtime(now if now is not None else time.time()).tm_year
    return f"OSV-WARDED-{year}-{secrets.token_hex(4)}"
