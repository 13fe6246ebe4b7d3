"""Signed approvals, per-action capability tokens and signed agent-to-agent envelopes.

The pure parts are exported here. The edges live beside them: :mod:`warded.approve.files` (approval files and the
CLI's approve/deny/show functions) and :mod:`warded.approve.store` (the SQLite tables).
"""

from warded.approve.approvals import (
    APPROVAL_DOMAIN,
    DEFAULT_MAX_SKEW_S,
    ApprovalRejected,
    ApprovalRequest,
    ApprovalVerdict,
    Approvers,
    RejectCode,
    SignedApproval,
    approval_from_json,
    make_request,
    render_request,
    request_from_json,
    sign_approval,
    verify_approval,
    verify_signature,
)
from warded.approve.capability import (
    CAPABILITY_DOMAIN,
    CapabilityRejected,
    TokenClaims,
    TokenCode,
    TokenVerifier,
    issue_token,
    read_claims,
)
from warded.approve.digest import ACTION_DIGEST_DOMAIN, DigestError, action_digest, digest_of_action
from warded.approve.envelope import ENVELOPE_DOMAIN, UNTRUSTED, EnvelopeError, OpenedMessage, open_envelope, seal

__all__ = [
    "ACTION_DIGEST_DOMAIN",
    "APPROVAL_DOMAIN",
    "CAPABILITY_DOMAIN",
    "DEFAULT_MAX_SKEW_S",
    "ENVELOPE_DOMAIN",
    "UNTRUSTED",
    "ApprovalRejected",
    "ApprovalRequest",
    "ApprovalVerdict",
    "Approvers",
    "CapabilityRejected",
    "DigestError",
    "EnvelopeError",
    "OpenedMessage",
    "RejectCode",
    "SignedApproval",
    "TokenClaims",
    "TokenCode",
    "TokenVerifier",
    "action_digest",
    "approval_from_json",
    "digest_of_action",
    "issue_token",
    "make_request",
    "open_envelope",
    "read_claims",
    "render_request",
    "request_from_json",
    "seal",
    "sign_approval",
    "verify_approval",
    "verify_signature",
]
