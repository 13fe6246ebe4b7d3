"""The kinds of signature an approval can carry; the policy says which each tier accepts."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ApprovalMethod"]


class ApprovalMethod(StrEnum):
    ED25519 = "ed25519"  # an approver's Ed25519 key file (`warded approve ID --key ...`), for automation
    WEBAUTHN = "webauthn"  # a passkey or security key, user verification required (the console)
