"""Shared values for the approve tests: approver keys and a request (imported as ``approve_helpers``)."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warded.approve.approvals import ApprovalRequest, make_request
from warded.audit.keys import Signer
from warded.core.types import Reason, Tier

ALICE = Signer(Ed25519PrivateKey.generate())
BOB = Signer(Ed25519PrivateKey.generate())
MALLORY = Signer(Ed25519PrivateKey.generate())
APPROVERS = {ALICE.key_id: ("alice", ALICE.public_key), BOB.key_id: ("bob", BOB.public_key)}

CREATED = 1_700_000_000.0
EXPIRES = CREATED + 600.0
DECIDED = CREATED + 60.0
NOW = CREATED + 120.0
ARGS: dict[str, Any] = {"to": "carol@example.com", "amount": 120.5, "memo": "rent", "tags": ["a", 1]}


def new_request(
    *, request_id: str = "r0001", nonce: str = "n" * 32, arguments: dict[str, Any] | None = None, **extra: Any
) -> ApprovalRequest:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "agent_id": "mail-assistant",
        "session_id": "s1",
        "tool": "send_payment",
        "arguments": ARGS if arguments is None else arguments,
        "created_at": CREATED,
        "expires_at": EXPIRES,
        "nonce": nonce,
        "tier": Tier.FINANCIAL,
        "reasons": (Reason("flow.untrusted_value", "argument 'to' came only from tool:read_inbox"),),
        "taint": ({"argument": "to", "value": "carol@example.com", "sources": ["tool:read_inbox"]},),
    }
    fields.update(extra)
    return make_request(**fields)
