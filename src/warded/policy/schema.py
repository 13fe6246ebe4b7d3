"""The shape of ``warded.yaml``: pydantic models, strict, unknown keys refused."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from warded.approve.methods import ApprovalMethod
from warded.config._types import Duration, Name
from warded.config.mcp import McpSpec
from warded.config.serve import ServeSpec
from warded.config.store import StoreSpec
from warded.core.types import Tier
from warded.policy.constraints import ArgSpec
from warded.scan.registry import DEFAULT_SCANNERS
from warded.scan.types import Category, Response, Source

# Enums are written as plain strings in YAML; everything else stays strict.
TierT = Annotated[Tier, Field(strict=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class WhenPaused(StrEnum):
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"


class OnExceed(StrEnum):
    PAUSE = "pause"
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"


class Scope(StrEnum):
    AGENT = "agent"
    SESSION = "session"


class Count(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


class ToolSpec(_Strict):
    tier: TierT
    description: str = ""
    approval: bool = False
    additional_args: bool = False
    args: dict[Name, ArgSpec] = Field(default_factory=dict)


class AgentSpec(_Strict):
    description: str = ""
    tools: list[Name] = Field(default_factory=list)
    # The agent's Ed25519 public key file: messages it signs (envelopes) are authenticated.
    public_key: str | None = None


class LimitSpec(_Strict):
    """At most ``max_calls`` matching calls per ``scope`` within a sliding ``window``."""

    id: Name
    tiers: list[TierT] = Field(default_factory=list)
    tools: list[Name] = Field(default_factory=list)
    scope: Annotated[Scope, Field(strict=False)] = Scope.SESSION
    max_calls: int = Field(ge=1)
    window: Duration
    count: Annotated[Count, Field(strict=False)] = Count.ALLOWED
    on_exceed: Annotated[OnExceed, Field(strict=False)] = OnExceed.PAUSE


class BudgetSpec(_Strict):
    """The sum of numeric ``argument`` over matching allowed calls stays within ``max_total``."""

    id: Name
    tiers: list[TierT] = Field(default_factory=list)
    tools: list[Name] = Field(default_factory=list)
    argument: Name
    max_total: float = Field(gt=0)
    window: Duration
    scope: Annotated[Scope, Field(strict=False)] = Scope.AGENT
    on_exceed: Annotated[OnExceed, Field(strict=False)] = OnExceed.DENY

    @field_validator("max_total", mode="before")
    @classmethod
    def _total(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


MethodT = Annotated[ApprovalMethod, Field(strict=False)]


class WebAuthnSpec(_Strict):
    """The relying party passkeys are registered with (the console's address as the browser sees it)."""

    rp_id: str = Field(default="localhost", pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
    rp_name: str = Field(default="warded", min_length=1, max_length=64)
    origins: list[str] = Field(default_factory=lambda: ["http://localhost:8787"], min_length=1)
    credentials: str = "warded-passkeys.db"  # registered approver passkeys (relative to the policy file)


class ApprovalSpec(_Strict):
    tiers: list[TierT] = Field(default_factory=list)
    # Who may approve: name -> Ed25519 public key file (relative to the policy file).
    approvers: dict[Name, str] = Field(default_factory=dict)
    ttl: Duration = 900.0  # how long an approval request stays open
    max_skew: Duration = 30.0  # tolerated clock difference between approver and gateway
    token_ttl: Duration = 60.0  # lifetime of the single-use capability token an ALLOW carries
    # Which signatures each tier accepts: one list for every tier, or tier -> list (tiers not named: both).
    methods: list[MethodT] | dict[TierT, list[MethodT]] = Field(default_factory=lambda: list(ApprovalMethod))
    webauthn: WebAuthnSpec = Field(default_factory=WebAuthnSpec)

    def methods_for(self, tier: Tier | None) -> frozenset[ApprovalMethod]:
        """The approval methods accepted for ``tier``; for an unknown tier, only those every tier accepts."""
        if isinstance(self.methods, list):
            return frozenset(self.methods)
        if tier is not None:
            return frozenset(self.methods.get(tier, list(ApprovalMethod)))
        accepted = frozenset(ApprovalMethod)
        for listed in self.methods.values():
            accepted &= frozenset(listed)
        return accepted


class SessionSpec(_Strict):
    when_paused: Annotated[WhenPaused, Field(strict=False)] = WhenPaused.DENY


class LimitsSpec(_Strict):
    max_argument_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_argument_depth: int = Field(default=32, ge=2, le=256)
    decision_timeout_ms: float = Field(default=250.0, gt=0)


class Synchronous(StrEnum):
    NORMAL = "normal"
    FULL = "full"


class AuditSpec(_Strict):
    path: str = "warded-audit.db"
    key: str = "warded-audit.key"
    checkpoint_every: int = Field(default=1000, ge=1)
    checkpoint_seconds: Duration = 60.0
    synchronous: Annotated[Synchronous, Field(strict=False)] = Synchronous.NORMAL


CategoryT = Annotated[Category, Strict(False)]
SourceT = Annotated[Source, Strict(False)]
ResponseT = Annotated[Response, Strict(False)]


class ScanSpec(_Strict):
    """The content guard: which scanners run, with what options, and what their findings mean."""

    enabled: bool = True
    scanners: list[Name] = Field(default_factory=lambda: list(DEFAULT_SCANNERS))
    options: dict[Name, dict[str, object]] = Field(default_factory=dict)
    # Per category and source: deny | require_approval | redact | label. Unlisted pairs keep the defaults
    # (see docs/scanning.md); scanner errors always take the scanner's declared on-error response.
    responses: dict[CategoryT, dict[SourceT, ResponseT | Literal["suggested"]]] = Field(default_factory=dict)
    max_chars: int = Field(default=1_000_000, ge=1024)
    scan_arguments: bool = True
    scan_results: bool = True


_SENSITIVE = [Tier.WRITE, Tier.DESTRUCTIVE, Tier.FINANCIAL, Tier.EXTERNAL, Tier.PRIVILEGED]
_KINDS = ["email", "url", "domain", "iban", "number", "path", "token", "date"]


class FlowSpec(_Strict):
    """Untrusted-data flow control: values seen only in untrusted data must not silently drive actions."""

    enabled: bool = True
    sensitive_tiers: list[TierT] = Field(default_factory=lambda: list(_SENSITIVE))
    on_untrusted: Annotated[WhenPaused, Field(strict=False)] = WhenPaused.REQUIRE_APPROVAL
    kinds: list[Annotated[str, Field(pattern=r"^(email|url|domain|iban|number|amount|path|token|date)$")]] = Field(
        default_factory=lambda: list(_KINDS)
    )
    trusted_tools: list[Name] = Field(default_factory=list)
    # Fields of a tool's structured output that are trusted: keys joined by ".", list items as "[]",
    # "*" as a wildcard, e.g. get_transactions: ["[].amount", "[].date"].
    trusted_fields: dict[Name, list[str]] = Field(default_factory=dict)
    trusted_agents: list[Name] = Field(default_factory=list)
    ignore_arguments: dict[Name, list[Name]] = Field(default_factory=dict)
    # Content-guard finding categories in a tool output that quarantine the session: every
    # non-read action then needs approval until `warded session resume`.
    quarantine_on: list[CategoryT] = Field(default_factory=lambda: [Category.PROMPT_INJECTION, Category.JAILBREAK])


class PolicySpec(_Strict):
    version: int = Field(ge=1, le=1)
    agents: dict[Name, AgentSpec] = Field(default_factory=dict)
    tools: dict[Name, ToolSpec] = Field(default_factory=dict)
    approval: ApprovalSpec = Field(default_factory=ApprovalSpec)
    session: SessionSpec = Field(default_factory=SessionSpec)
    limits: list[LimitSpec] = Field(default_factory=list)
    budgets: list[BudgetSpec] = Field(default_factory=list)
    input: LimitsSpec = Field(default_factory=LimitsSpec)
    audit: AuditSpec = Field(default_factory=AuditSpec)
    scan: ScanSpec = Field(default_factory=ScanSpec)
    flow: FlowSpec = Field(default_factory=FlowSpec)
    mcp: McpSpec = Field(default_factory=McpSpec)
    serve: ServeSpec = Field(default_factory=ServeSpec)
    # Shared stores for several replicas (PostgreSQL, Redis); absent: the SQLite file of `audit.path`.
    store: StoreSpec | None = None
    cedar: str = ""
    cedar_files: list[str] = Field(default_factory=list)
