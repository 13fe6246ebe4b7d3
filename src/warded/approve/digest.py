"""The action digest: one hash that names exactly one tool call, for approvals and capability tokens.

``action_digest`` is ``sha256(ACTION_DIGEST_DOMAIN + canonical_json(body))`` in lowercase hex, where ``body`` is
``{"agent_id", "session_id", "tool", "arguments", "expires_at", "nonce"}``. ``expires_at`` is always encoded as a
float (so ``1700000000`` and ``1700000000.0`` give the same digest); everything else is encoded as given, so any
change to any argument value (type included: ``1`` is not ``1.0`` is not ``"1"``) gives another digest. The domain
prefix keeps this hash from ever colliding with another warded hash of the same JSON. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from warded.approve._encoding import ParseError, canonical_or_raise, finite_float
from warded.core.types import Action
from warded.errors import WardedError

__all__ = ["ACTION_DIGEST_DOMAIN", "MAX_NONCE_CHARS", "DigestError", "action_digest", "digest_of_action"]

ACTION_DIGEST_DOMAIN = b"warded-action-digest-v1\n"
"""Prefix hashed before the canonical body, so the digest means nothing in any other protocol."""

MAX_NONCE_CHARS = 256


class DigestError(WardedError):
    """An action cannot be digested (an argument that has no canonical JSON form, a bad field).

    The caller must fail closed: an action without a digest can be neither approved nor given a token.
    """


def action_digest(  # noqa: PLR0917 - positional, in the order the digest lists its fields
    agent_id: str,
    session_id: str,
    tool: str,
    arguments: Mapping[str, Any],
    expires_at: float,
    nonce: str,
) -> str:
    """Hex sha256 naming exactly this call of ``tool`` with these ``arguments``, valid until ``expires_at``."""
    for name, value in (("agent_id", agent_id), ("session_id", session_id), ("tool", tool)):
        if not isinstance(value, str) or not value:
            raise DigestError(f"{name} must be a non-empty string, got {value!r:.80}")
    if not isinstance(nonce, str) or not nonce or len(nonce) > MAX_NONCE_CHARS:
        raise DigestError(f"nonce must be a non-empty string of at most {MAX_NONCE_CHARS} characters")
    if not isinstance(arguments, Mapping):
        raise DigestError(f"arguments must be a mapping, got {type(arguments).__name__}")
    try:
        expiry = finite_float(expires_at, "expires_at")
        body = canonical_or_raise(
            {
                "agent_id": agent_id,
                "session_id": session_id,
                "tool": tool,
                "arguments": dict(arguments),
                "expires_at": expiry,
                "nonce": nonce,
            }
        )
    except ParseError as exc:
        raise DigestError(f"cannot digest the call of {tool!r}: {exc}") from None
    return hashlib.sha256(ACTION_DIGEST_DOMAIN + body).hexdigest()


def digest_of_action(action: Action, expires_at: float, nonce: str) -> str:
    """:func:`action_digest` of an :class:`~warded.core.types.Action` (its tier and labels are not part of it)."""
    if not isinstance(action, Action):
        raise DigestError(f"expected an Action, got {type(action).__name__}")
    return action_digest(action.agent_id, action.session_id, action.tool, action.arguments, expires_at, nonce)
