"""Signed approvals: a human's Ed25519 signature over one exact action, accepted once, before it expires.

Pure: no clock, no disk, no randomness. Time and the set of used nonces are parameters; the store and the CLI
(:mod:`warded.approve.files`, :mod:`warded.approve.store`) are the edges.

The chain of trust when the gateway resumes an approved action:

1. the approval's signature verifies under a configured approver key (``approvers[key_id]``), and that key is
   configured under the name the approval claims;
2. the signed message names the request's id, digest and expiry;
3. the digest recomputed from the action about to run (its real arguments, with the request's expiry and
   nonce) equals that digest, so an argument changed after approval is refused;
4. the verdict is ``approve``; the approval was signed after the request was made, not in the future, and
   before expiry; the gateway's clock is before expiry;
5. the request's nonce has not been used; the caller then marks it used atomically
   (:meth:`warded.approve.store.SQLiteApprovalStore.consume`), so a race is still won once.

Every refusal raises :class:`ApprovalRejected` with a stable :class:`RejectCode`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warded.approve._encoding import (
    HEX_DIGEST,
    HEX_KEY_ID,
    HEX_SIGNATURE,
    ParseError,
    canonical_or_raise,
    finite_float,
)
from warded.approve.digest import MAX_NONCE_CHARS, action_digest
from warded.audit.keys import Signer
from warded.core.types import Reason, Tier
from warded.errors import WardedError

__all__ = [
    "APPROVAL_DOMAIN",
    "APPROVAL_FORMAT",
    "DEFAULT_MAX_SKEW_S",
    "REQUEST_FORMAT",
    "ApprovalRejected",
    "ApprovalRequest",
    "ApprovalVerdict",
    "Approvers",
    "RejectCode",
    "SignedApproval",
    "approval_from_json",
    "approval_message",
    "check_use",
    "make_request",
    "render_request",
    "request_from_json",
    "sign_approval",
    "verify_approval",
    "verify_signature",
]

APPROVAL_DOMAIN = b"warded-approval-v1\n"
"""Prefix of every signed approval message, so an approver key signs nothing else by accident."""

APPROVAL_FORMAT = "warded-approval/1"
REQUEST_FORMAT = "warded-approval-request/1"

DEFAULT_MAX_SKEW_S = 30.0
"""How far the approver's clock may run ahead of the gateway's (or behind the request) before refusal."""

MAX_NAME_CHARS = 128
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")

Approvers = Mapping[str, tuple[str, Ed25519PublicKey]]
"""Configured approvers: ``{key_id: (approver name, public key)}``."""


class RejectCode(StrEnum):
    """Why an approval was refused. The values are stable rule ids, recorded in the audit log."""

    UNKNOWN_SIGNER = "approval.unknown_signer"
    BAD_SIGNATURE = "approval.bad_signature"
    DIGEST_MISMATCH = "approval.digest_mismatch"
    EXPIRED = "approval.expired"
    REPLAYED = "approval.replayed"
    DENIED = "approval.denied"
    MALFORMED = "approval.malformed"
    CLOCK_SKEW = "approval.clock_skew"
    USER_NOT_VERIFIED = "approval.user_not_verified"
    METHOD_NOT_ALLOWED = "approval.method_not_allowed"


_HINTS = {
    RejectCode.UNKNOWN_SIGNER: "the signing key is not configured as an approver (or under another name)",
    RejectCode.BAD_SIGNATURE: "the approval was altered after signing, or signed by another key",
    RejectCode.DIGEST_MISMATCH: "the approval is for another request or the action changed after approval",
    RejectCode.EXPIRED: "the request expired; the agent must ask again",
    RejectCode.REPLAYED: "this approval was already used; each approval runs its action once",
    RejectCode.DENIED: "a human refused this action",
    RejectCode.MALFORMED: "the approval record is truncated or not in the warded-approval/1 format",
    RejectCode.CLOCK_SKEW: "the approver's and the gateway's clocks disagree by more than the tolerance",
    RejectCode.USER_NOT_VERIFIED: "the authenticator did not verify the user (PIN or biometric): refused",
    RejectCode.METHOD_NOT_ALLOWED: "the policy does not accept this kind of signature for this tier",
}


class ApprovalRejected(WardedError):
    """An approval was refused; ``code`` says why (a :class:`RejectCode`, also the audit rule id)."""

    def __init__(self, code: RejectCode, detail: str) -> None:
        self.code = RejectCode(code)
        self.detail = detail
        super().__init__(f"{self.code.value}: {detail}")

    @property
    def reason(self) -> Reason:
        """The refusal as a decision reason."""
        return Reason(self.code.value, self.detail)

    def diagnostics(self) -> str:
        return f"approval refused [{self.code.value}]: {self.detail}\n  ({_HINTS[self.code]})"


class ApprovalVerdict(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


def _malformed(detail: str) -> ApprovalRejected:
    return ApprovalRejected(RejectCode.MALFORMED, detail)


def _json_copy(value: object, what: str) -> Any:
    """A detached, JSON-only copy of ``value`` (refuses anything canonical JSON cannot carry)."""
    try:
        return json.loads(canonical_or_raise(value))
    except ParseError as exc:
        raise _malformed(f"{what}: {exc}") from None


def _text(value: object, what: str, limit: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _malformed(f"{what} must be a non-empty string of at most {limit} characters")
    if not value.isprintable():
        raise _malformed(f"{what} contains control or unprintable characters")
    return value


def _pattern(value: object, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise _malformed(f"{what} is not well formed")
    return value


def _time(value: object, what: str, *, exact_float: bool = False) -> float:
    if exact_float and type(value) is not float:
        raise _malformed(f"{what} must be a JSON number with a fraction (e.g. 1700000000.0)")
    try:
        return finite_float(value, what)
    except ParseError as exc:
        raise _malformed(str(exc)) from None


def _exact_keys(obj: object, keys: frozenset[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _malformed(f"{what} must be a JSON object, got {type(obj).__name__}")
    present = set(obj)
    if present != keys:
        missing, extra = sorted(keys - present), sorted(present - keys)
        raise _malformed(f"{what}: missing keys {missing}, unexpected keys {extra}")
    return obj


# -- the request ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What a human is asked to approve. ``digest`` binds the real action; ``arguments`` are for display.

    ``arguments`` may be redacted (secret arguments hashed), so the digest is never recomputed from them:
    the gateway recomputes it from the action it is about to run, with ``expires_at`` and ``nonce``.
    ``taint`` is the free-form explanation of where argument values came from (may be empty).
    """

    id: str
    digest: str
    agent_id: str
    session_id: str
    tool: str
    arguments: Mapping[str, Any]
    tier: Tier | None
    reasons: tuple[Reason, ...]
    taint: tuple[Mapping[str, Any], ...]
    created_at: float
    expires_at: float
    nonce: str

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REQUEST_FORMAT,
            "id": self.id,
            "digest": self.digest,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "tool": self.tool,
            "arguments": dict(self.arguments),
            "tier": self.tier.value if self.tier is not None else None,
            "reasons": [r.to_json() for r in self.reasons],
            "taint": [dict(t) for t in self.taint],
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "nonce": self.nonce,
        }


_REQUEST_KEYS = frozenset(
    {
        "format",
        "id",
        "digest",
        "agent_id",
        "session_id",
        "tool",
        "arguments",
        "tier",
        "reasons",
        "taint",
        "created_at",
        "expires_at",
        "nonce",
    }
)


def make_request(
    *,
    request_id: str,
    agent_id: str,
    session_id: str,
    tool: str,
    arguments: Mapping[str, Any],
    created_at: float,
    expires_at: float,
    nonce: str,
    tier: Tier | None = None,
    reasons: Sequence[Reason] = (),
    taint: Sequence[Mapping[str, Any]] = (),
    display_arguments: Mapping[str, Any] | None = None,
) -> ApprovalRequest:
    """An approval request for the call ``tool(**arguments)``, digested over the real ``arguments``.

    ``display_arguments`` (default: ``arguments``) is what the human is shown: pass the redacted form when
    arguments hold secrets. Raises :class:`~warded.approve.digest.DigestError` if the action has no digest and
    :class:`ApprovalRejected` (``approval.malformed``) for any other bad field. ``nonce`` must be fresh and
    unpredictable (``secrets.token_hex(16)``).
    """
    _pattern(request_id, _ID, "request id")
    created = _time(created_at, "created_at")
    expires = _time(expires_at, "expires_at")
    if not expires > created:
        raise _malformed("expires_at must be after created_at")
    if tier is not None and not isinstance(tier, Tier):
        raise _malformed(f"tier must be a Tier, got {type(tier).__name__}")
    if any(not isinstance(r, Reason) for r in reasons):
        raise _malformed("reasons must be Reason values")
    digest = action_digest(agent_id, session_id, tool, arguments, expires, nonce)
    shown = _json_copy(dict(arguments if display_arguments is None else display_arguments), "display arguments")
    if any(not isinstance(t, Mapping) for t in taint):
        raise _malformed("each taint explanation must be a mapping")
    explained = tuple(MappingProxyType(_json_copy(dict(t), "taint explanation")) for t in taint)
    return ApprovalRequest(
        id=request_id,
        digest=digest,
        agent_id=agent_id,
        session_id=session_id,
        tool=tool,
        arguments=MappingProxyType(shown),
        tier=tier,
        reasons=tuple(reasons),
        taint=explained,
        created_at=created,
        expires_at=expires,
        nonce=nonce,
    )


def request_from_json(obj: object) -> ApprovalRequest:
    """Parse :meth:`ApprovalRequest.to_json` output strictly; ``approval.malformed`` on any deviation."""
    data = _exact_keys(obj, _REQUEST_KEYS, "approval request")
    if data["format"] != REQUEST_FORMAT:
        raise _malformed(f"unknown request format {data['format']!r:.40}")
    strings = {}
    for name in ("agent_id", "session_id", "tool"):
        value = data[name]
        if not isinstance(value, str) or not value:
            raise _malformed(f"{name} must be a non-empty string")
        strings[name] = value
    nonce = data["nonce"]
    if not isinstance(nonce, str) or not nonce or len(nonce) > MAX_NONCE_CHARS:
        raise _malformed("nonce is not well formed")
    if not isinstance(data["arguments"], dict):
        raise _malformed("arguments must be an object")
    tier_value = data["tier"]
    try:
        tier = None if tier_value is None else Tier(tier_value)
    except ValueError:
        raise _malformed(f"unknown tier {tier_value!r:.40}") from None
    reasons_raw = data["reasons"]
    if not isinstance(reasons_raw, list):
        raise _malformed("reasons must be a list")
    reasons = []
    for item in reasons_raw:
        reason = _exact_keys(item, frozenset({"rule_id", "message"}), "reason")
        if not isinstance(reason["rule_id"], str) or not isinstance(reason["message"], str):
            raise _malformed("reason fields must be strings")
        reasons.append(Reason(reason["rule_id"], reason["message"]))
    taint = data["taint"]
    if not isinstance(taint, list) or any(not isinstance(t, dict) for t in taint):
        raise _malformed("taint must be a list of objects")
    created = _time(data["created_at"], "created_at")
    expires = _time(data["expires_at"], "expires_at")
    if not expires > created:
        raise _malformed("expires_at must be after created_at")
    return ApprovalRequest(
        id=_pattern(data["id"], _ID, "request id"),
        digest=_pattern(data["digest"], HEX_DIGEST, "digest"),
        agent_id=strings["agent_id"],
        session_id=strings["session_id"],
        tool=strings["tool"],
        arguments=MappingProxyType(_json_copy(data["arguments"], "arguments")),
        tier=tier,
        reasons=tuple(reasons),
        taint=tuple(MappingProxyType(_json_copy(t, "taint explanation")) for t in taint),
        created_at=created,
        expires_at=expires,
        nonce=nonce,
    )


# -- the signed approval ------------------------------------------------------------------------


def approval_message(
    *,
    request_id: str,
    digest: str,
    verdict: ApprovalVerdict,
    approver: str,
    key_id: str,
    decided_at: float,
    expires_at: float,
) -> bytes:
    """The exact bytes an approver signs: :data:`APPROVAL_DOMAIN` + canonical JSON of every field."""
    try:
        return APPROVAL_DOMAIN + canonical_or_raise(
            {
                "format": APPROVAL_FORMAT,
                "request_id": request_id,
                "digest": digest,
                "verdict": ApprovalVerdict(verdict).value,
                "approver": approver,
                "key_id": key_id,
                "decided_at": float(decided_at),
                "expires_at": float(expires_at),
            }
        )
    except (ParseError, ValueError, TypeError, OverflowError) as exc:
        raise _malformed(f"cannot encode the approval message: {exc}") from None


@dataclass(frozen=True, slots=True)
class SignedApproval:
    """A human's signed verdict on one request. ``signature`` is lowercase hex of the Ed25519 signature."""

    request_id: str
    digest: str
    verdict: ApprovalVerdict
    approver: str
    key_id: str
    decided_at: float
    expires_at: float
    signature: str

    def message(self) -> bytes:
        """The bytes the signature covers."""
        return approval_message(
            request_id=self.request_id,
            digest=self.digest,
            verdict=self.verdict,
            approver=self.approver,
            key_id=self.key_id,
            decided_at=self.decided_at,
            expires_at=self.expires_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": APPROVAL_FORMAT,
            "request_id": self.request_id,
            "digest": self.digest,
            "verdict": self.verdict.value,
            "approver": self.approver,
            "key_id": self.key_id,
            "decided_at": self.decided_at,
            "expires_at": self.expires_at,
            "signature": self.signature,
        }


_APPROVAL_KEYS = frozenset(
    {"format", "request_id", "digest", "verdict", "approver", "key_id", "decided_at", "expires_at", "signature"}
)


def approval_from_json(obj: object) -> SignedApproval:
    """Parse :meth:`SignedApproval.to_json` output strictly; ``approval.malformed`` on any deviation.

    Times must be JSON floats (the form :meth:`SignedApproval.to_json` writes), so one value has one spelling.
    """
    data = _exact_keys(obj, _APPROVAL_KEYS, "approval")
    if data["format"] != APPROVAL_FORMAT:
        raise _malformed(f"unknown approval format {data['format']!r:.40}")
    try:
        verdict = ApprovalVerdict(data["verdict"])
    except ValueError:
        raise _malformed(f"verdict must be 'approve' or 'deny', got {data['verdict']!r:.40}") from None
    return SignedApproval(
        request_id=_pattern(data["request_id"], _ID, "request id"),
        digest=_pattern(data["digest"], HEX_DIGEST, "digest"),
        verdict=verdict,
        approver=_text(data["approver"], "approver name"),
        key_id=_pattern(data["key_id"], HEX_KEY_ID, "key id"),
        decided_at=_time(data["decided_at"], "decided_at", exact_float=True),
        expires_at=_time(data["expires_at"], "expires_at", exact_float=True),
        signature=_pattern(data["signature"], HEX_SIGNATURE, "signature"),
    )


def sign_approval(
    request: ApprovalRequest,
    signer: Signer,
    approver_name: str,
    decided_at: float,
    *,
    verdict: ApprovalVerdict = ApprovalVerdict.APPROVE,
) -> SignedApproval:
    """Sign ``verdict`` on ``request`` as ``approver_name`` at time ``decided_at`` (a value; no clock here).

    Refuses (``approval.expired``) to approve a request at or after its expiry.
    """
    if not isinstance(request, ApprovalRequest):
        raise _malformed(f"expected an ApprovalRequest, got {type(request).__name__}")
    if not isinstance(signer, Signer):
        raise _malformed(f"expected a warded Signer, got {type(signer).__name__}")
    verdict = ApprovalVerdict(verdict)
    name = _text(approver_name, "approver name")
    when = _time(decided_at, "decided_at")
    if verdict is ApprovalVerdict.APPROVE and when >= request.expires_at:
        raise ApprovalRejected(RejectCode.EXPIRED, f"request {request.id} expired before it was approved")
    message = approval_message(
        request_id=request.id,
        digest=request.digest,
        verdict=verdict,
        approver=name,
        key_id=signer.key_id,
        decided_at=when,
        expires_at=request.expires_at,
    )
    return SignedApproval(
        request_id=request.id,
        digest=request.digest,
        verdict=verdict,
        approver=name,
        key_id=signer.key_id,
        decided_at=when,
        expires_at=request.expires_at,
        signature=signer.sign(message).hex(),
    )


def _check_shape(request: object, approval: object) -> tuple[ApprovalRequest, SignedApproval]:
    """Refuse wrongly typed or truncated values before anything else looks at them.

    Both are re-validated field by field: they can be built by hand, not only by the strict parsers.
    """
    if not isinstance(request, ApprovalRequest):
        raise _malformed(f"expected an ApprovalRequest, got {type(request).__name__}")
    if not isinstance(approval, SignedApproval):
        raise _malformed(f"expected a SignedApproval, got {type(approval).__name__}")
    try:
        request_json = request.to_json()
        approval_json = approval.to_json()
    except (AttributeError, TypeError, ValueError) as exc:
        raise _malformed(f"cannot read the approval or its request: {exc}") from None
    checked_request = request_from_json(request_json)
    if checked_request.digest != request.digest:
        raise _malformed("request digest is not well formed")
    return checked_request, approval_from_json(approval_json)


def verify_signature(request: ApprovalRequest, approval: SignedApproval, approvers: Approvers) -> None:
    """Check that ``approval`` is a well-formed verdict on ``request``, signed by the configured approver it names.

    No time, verdict or use checks (see :func:`verify_approval` for those): this is what recording a signed
    approval or denial needs. Raises :class:`ApprovalRejected`: ``approval.malformed``,
    ``approval.unknown_signer``, ``approval.bad_signature`` or ``approval.digest_mismatch``.
    """
    _verify_signature(request, approval, approvers)


def _verify_signature(
    request: ApprovalRequest, approval: SignedApproval, approvers: Approvers
) -> tuple[ApprovalRequest, SignedApproval]:
    request, checked = _check_shape(request, approval)
    if not isinstance(approvers, Mapping):
        raise ApprovalRejected(RejectCode.UNKNOWN_SIGNER, "no approvers are configured")
    entry = approvers.get(checked.key_id)
    if entry is None:
        raise ApprovalRejected(RejectCode.UNKNOWN_SIGNER, f"key {checked.key_id} is not a configured approver")
    name, public_key = entry
    if not isinstance(public_key, Ed25519PublicKey):
        raise ApprovalRejected(RejectCode.UNKNOWN_SIGNER, f"approver key {checked.key_id} is not an Ed25519 key")
    if name != checked.approver:
        raise ApprovalRejected(
            RejectCode.UNKNOWN_SIGNER,
            f"key {checked.key_id} belongs to approver {name!r}, but the approval names {checked.approver!r}",
        )
    try:
        public_key.verify(bytes.fromhex(checked.signature), checked.message())
    except InvalidSignature:
        raise ApprovalRejected(RejectCode.BAD_SIGNATURE, f"signature by {checked.key_id} does not verify") from None
    if checked.request_id != request.id:
        raise ApprovalRejected(
            RejectCode.DIGEST_MISMATCH, f"approval is for request {checked.request_id}, not {request.id}"
        )
    if checked.digest != request.digest or checked.expires_at != request.expires_at:
        raise ApprovalRejected(RejectCode.DIGEST_MISMATCH, f"approval does not match request {request.id}")
    return request, checked


def verify_approval(
    request: ApprovalRequest,
    approval: SignedApproval,
    approvers: Approvers,
    now: float,
    used: Container[str],
    *,
    action_digest: str,
    max_skew: float = DEFAULT_MAX_SKEW_S,
) -> None:
    """Return ``None`` if ``approval`` lets the action with digest ``action_digest`` run now; raise otherwise.

    ``action_digest`` must be recomputed by the caller from the action about to run (its real arguments) with
    ``request.expires_at`` and ``request.nonce`` (:func:`~warded.approve.digest.digest_of_action`); never copy
    it from the request. ``used`` holds the nonces of requests whose approval already ran. Passing this check
    does not consume the approval: the caller must then mark ``request.nonce`` used atomically.

    Raises :class:`ApprovalRejected` with, in order of checking: ``approval.malformed``,
    ``approval.unknown_signer``, ``approval.bad_signature``, ``approval.digest_mismatch``, ``approval.denied``,
    ``approval.clock_skew``, ``approval.expired``, ``approval.replayed``.
    """
    now_f = _time(now, "now")
    if not isinstance(max_skew, int | float) or isinstance(max_skew, bool) or not 0 <= max_skew < math.inf:
        raise _malformed("max_skew must be a finite number >= 0")
    if not isinstance(action_digest, str) or HEX_DIGEST.fullmatch(action_digest) is None:
        raise _malformed("action_digest must be a lowercase hex sha256")
    request, checked = _verify_signature(request, approval, approvers)
    check_use(
        request,
        verdict=checked.verdict,
        approver=checked.approver,
        decided_at=checked.decided_at,
        now=now_f,
        used=used,
        action_digest=action_digest,
        max_skew=max_skew,
    )


def check_use(
    request: ApprovalRequest,
    *,
    verdict: ApprovalVerdict,
    approver: str,
    decided_at: float,
    now: float,
    used: Container[str],
    action_digest: str,
    max_skew: float,
) -> None:
    """The checks every kind of approval shares once its signature holds: the action is the one approved,
    the verdict approves, the times agree within ``max_skew`` and are before expiry, the nonce is unused."""
    if action_digest != request.digest:
        raise ApprovalRejected(
            RejectCode.DIGEST_MISMATCH, f"the action differs from the one approved in request {request.id}"
        )
    if verdict is ApprovalVerdict.DENY:
        raise ApprovalRejected(RejectCode.DENIED, f"{approver} denied request {request.id}")

    if decided_at > now + max_skew:
        raise ApprovalRejected(RejectCode.CLOCK_SKEW, f"approval is dated {decided_at - now:.1f} s in the future")
    if decided_at < request.created_at - max_skew:
        raise ApprovalRejected(RejectCode.CLOCK_SKEW, "approval is dated before its request was made")
    if now < request.created_at - max_skew:
        raise ApprovalRejected(RejectCode.CLOCK_SKEW, "the request is dated in the future of this clock")
    if decided_at >= request.expires_at:
        raise ApprovalRejected(RejectCode.EXPIRED, f"request {request.id} was approved after it expired")
    if now >= request.expires_at:
        raise ApprovalRejected(RejectCode.EXPIRED, f"request {request.id} expired {now - request.expires_at:.0f} s ago")
    if request.nonce in used:
        raise ApprovalRejected(RejectCode.REPLAYED, f"the approval of request {request.id} was already used")


# -- a human rendering ----------------------------------------------------------------------------


def _safe(text: str) -> str:
    """``text`` with every non-ASCII or unprintable character escaped, so a terminal shows what is there."""
    if text.isascii() and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=True)[1:-1]


def _when(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return f"{ts!r} (out of range)"


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render_request(request: ApprovalRequest, *, now: float | None = None, status: str | None = None) -> str:
    """A human rendering of ``request``: what would run, why it needs approval, where its values came from.

    Non-ASCII and control characters are shown escaped (``\\u0430``), so look-alike characters and terminal
    escape sequences cannot disguise an argument.
    """
    tier = request.tier.value if request.tier is not None else "unknown"
    lines = [f"approval request {_safe(request.id)}" + (f"  [{_safe(status)}]" if status else "")]
    lines.append(f"  agent:     {_safe(request.agent_id)}   session: {_safe(request.session_id)}")
    lines.append(f"  tool:      {_safe(request.tool)}   (tier: {tier})")
    lines.append("  arguments:")
    shown = json.dumps(dict(request.arguments), ensure_ascii=True, indent=2, sort_keys=True)
    lines.extend(f"    {line}" for line in shown.splitlines())
    lines.append("  why approval is needed:")
    if request.reasons:
        lines.extend(f"    - [{_safe(r.rule_id)}] {_safe(r.message)}" for r in request.reasons)
    else:
        lines.append("    - (no reason recorded)")
    lines.append("  where the values came from:")
    if request.taint:
        for item in request.taint:
            parts = [f"{_safe(str(k))}={json.dumps(v, ensure_ascii=True, sort_keys=True)}" for k, v in item.items()]
            lines.append("    - " + " ".join(parts))
    else:
        lines.append("    - (no taint explanation)")
    lines.append(f"  created:   {_when(request.created_at)}")
    expiry = f"  expires:   {_when(request.expires_at)}"
    if now is not None:
        left = request.expires_at - now
        expiry += f"  (in {_span(left)})" if left > 0 else f"  (EXPIRED {_span(left)} ago)"
    lines.append(expiry)
    lines.append(f"  digest:    {request.digest}")
    return "\n".join(lines)
