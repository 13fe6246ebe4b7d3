"""warded: defence in depth for LLM agents, outside the model.

A deny-by-default gateway on every tool call (policy compiled to Cedar), circuit breakers
and a kill switch, a tamper-evident audit log, a content guard, untrusted-data flow control,
signed approvals, and proxies for MCP and OpenAI-compatible APIs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below load on first use, so that `warded --help` imports no policy engine
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

_HOME = {
    **dict.fromkeys(
        ("Action", "Decision", "Effect", "EffectKind", "Obligation", "Reason", "Tier", "Verdict"), "warded.core.types"
    ),
    **dict.fromkeys(("SessionState", "decide"), "warded.decide.action"),
    **dict.fromkeys(
        (
            "ApprovalRequired",
            "AuditError",
            "PolicyError",
            "PolicyProblem",
            "ResultBlocked",
            "StoreError",
            "ToolDenied",
            "VerificationError",
            "WardedError",
        ),
        "warded.errors",
    ),
    "Gateway": "warded.gateway.gateway",
    **dict.fromkeys(("CompiledPolicy", "load_policy"), "warded.policy.compile"),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'warded' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


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
