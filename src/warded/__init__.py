"""warded: defence in depth for LLM agents, outside the model.

A deny-by-default gateway on every tool call (policy compiled to Cedar), circuit breakers
and a kill switch, a tamper-evident audit log, a content guard, untrusted-data flow control,
signed approvals, and proxies for MCP and OpenAI-compatible APIs.
"""

from warded.core.types import Action, Decision, Effect, EffectKind, Obligation, Reason, Tier, Verdict
from warded.decide.action import SessionState, decide
from warded.errors import (
    ApprovalRequired,
    AuditError,
    PolicyError,
    PolicyProblem,
    ResultBlocked,
    StoreError,
    ToolDenied,
    VerificationError,
    WardedError,
)
from warded.gateway.gateway import Gateway
from warded.policy.compile import CompiledPolicy, load_policy

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ApprovalRequired",
    "AuditError",
    "CompiledPolicy",
    "Decision",
    "Effect",
    "EffectKind",
    "Gateway",
    "Obligation",
    "PolicyError",
    "PolicyProblem",
    "Reason",
    "ResultBlocked",
    "SessionState",
    "StoreError",
    "Tier",
    "ToolDenied",
    "Verdict",
    "VerificationError",
    "WardedError",
    "decide",
    "load_policy",
]
