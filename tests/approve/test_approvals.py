"""Signed approvals: every refusal code, table-driven, and the acceptance path."""

from __future__ import annotations

import math
from collections.abc import Callable, Container
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from approve_helpers import (
    ALICE,
    APPROVERS,
    ARGS,
    BOB,
    CREATED,
    DECIDED,
    EXPIRES,
    MALLORY,
    NOW,
    new_request,
)

from warded.approve.approvals import (
    APPROVAL_DOMAIN,
    ApprovalRejected,
    ApprovalRequest,
    ApprovalVerdict,
    RejectCode,
    SignedApproval,
    approval_from_json,
    approval_message,
    make_request,
    render_request,
    request_from_json,
    sign_approval,
    verify_approval,
    verify_signature,
)
from warded.approve.digest import DigestError, action_digest
from warded.audit.keys import Signer
from warded.core.types import Reason, Tier
from warded.errors import WardedError

REQUEST = new_request()
APPROVAL = sign_approval(REQUEST, ALICE, "alice", DECIDED)
GOOD_DIGEST = action_digest("mail-assistant", "s1", "send_payment", ARGS, EXPIRES, REQUEST.nonce)


def signed_raw(
    signer: Signer,
    name: str,
    request: ApprovalRequest,
    decided_at: float,
    verdict: ApprovalVerdict = ApprovalVerdict.APPROVE,
) -> SignedApproval:
    """Sign without sign_approval's own checks (to build approvals a careless or hostile signer could make)."""
    message = approval_message(
        request_id=request.id,
        digest=request.digest,
        verdict=verdict,
        approver=name,
        key_id=signer.key_id,
        decided_at=decided_at,
        expires_at=request.expires_at,
    )
    return SignedApproval(
        request.id, request.digest, verdict, name, signer.key_id, decided_at, request.expires_at,
        signer.sign(message).hex(),
    )  # fmt: skip


@dataclass
class Case:
    code: RejectCode | None
    approval: Any = APPROVAL
    request: Any = REQUEST
    approvers: Any = field(default_factory=lambda: APPROVERS)
    now: Any = NOW
    used: Container[str] = frozenset()
    digest: Any = GOOD_DIGEST


def _flip_signature(approval: SignedApproval) -> SignedApproval:
    sig = bytearray(bytes.fromhex(approval.signature))
    sig[5] ^= 0x01
    return replace(approval, signature=sig.hex())


OTHER = new_request(request_id="r0002", nonce="m" * 32)
LATER = new_request(expires_at=EXPIRES + 1)

CASES: dict[str, Case] = {
    "accepted": Case(None),
    "accepted by a second approver": Case(None, approval=sign_approval(REQUEST, BOB, "bob", DECIDED)),
    "accepted at the edge of the skew": Case(None, approval=sign_approval(REQUEST, ALICE, "alice", NOW + 29)),
    "accepted just before expiry": Case(None, now=EXPIRES - 0.001),
    "other nonces used": Case(None, used=frozenset({"x" * 32})),
    # unknown signer
    "unknown key": Case(RejectCode.UNKNOWN_SIGNER, approval=sign_approval(REQUEST, MALLORY, "mallory", DECIDED)),
    "unknown key claiming a known name": Case(
        RejectCode.UNKNOWN_SIGNER, approval=sign_approval(REQUEST, MALLORY, "alice", DECIDED)
    ),
    "known key under another name": Case(
        RejectCode.UNKNOWN_SIGNER, approval=sign_approval(REQUEST, ALICE, "bob", DECIDED)
    ),
    "no approvers configured": Case(RejectCode.UNKNOWN_SIGNER, approvers={}),
    "approver entry is not a key": Case(RejectCode.UNKNOWN_SIGNER, approvers={ALICE.key_id: ("alice", "pem")}),
    # bad signature
    "forged: another key under alice's key id": Case(
        RejectCode.BAD_SIGNATURE,
        approval=replace(sign_approval(REQUEST, MALLORY, "alice", DECIDED), key_id=ALICE.key_id),
    ),
    "signature bit flipped": Case(RejectCode.BAD_SIGNATURE, approval=_flip_signature(APPROVAL)),
    "decided_at edited": Case(RejectCode.BAD_SIGNATURE, approval=replace(APPROVAL, decided_at=DECIDED + 1)),
    "verdict edited deny to approve": Case(
        RejectCode.BAD_SIGNATURE,
        approval=replace(
            sign_approval(REQUEST, ALICE, "alice", DECIDED, verdict=ApprovalVerdict.DENY),
            verdict=ApprovalVerdict.APPROVE,
        ),
    ),
    "digest edited": Case(RejectCode.BAD_SIGNATURE, approval=replace(APPROVAL, digest=OTHER.digest)),
    "request id edited": Case(RejectCode.BAD_SIGNATURE, approval=replace(APPROVAL, request_id="r0002")),
    "expiry extended": Case(RejectCode.BAD_SIGNATURE, approval=replace(APPROVAL, expires_at=EXPIRES + 3600)),
    # digest mismatch
    "argument changed after approval": Case(
        RejectCode.DIGEST_MISMATCH,
        digest=action_digest(
            "mail-assistant", "s1", "send_payment", ARGS | {"to": "eve@evil.example"}, EXPIRES, REQUEST.nonce
        ),
    ),
    "amount changed after approval": Case(
        RejectCode.DIGEST_MISMATCH,
        digest=action_digest("mail-assistant", "s1", "send_payment", ARGS | {"amount": 1205.0}, EXPIRES, REQUEST.nonce),
    ),
    "another session": Case(
        RejectCode.DIGEST_MISMATCH,
        digest=action_digest("mail-assistant", "s2", "send_payment", ARGS, EXPIRES, REQUEST.nonce),
    ),
    "approval of another request": Case(
        RejectCode.DIGEST_MISMATCH, approval=sign_approval(OTHER, ALICE, "alice", DECIDED)
    ),
    "approval of a request with another expiry": Case(
        RejectCode.DIGEST_MISMATCH, approval=sign_approval(LATER, ALICE, "alice", DECIDED)
    ),
    # denied
    "denied": Case(
        RejectCode.DENIED, approval=sign_approval(REQUEST, BOB, "bob", DECIDED, verdict=ApprovalVerdict.DENY)
    ),
    # clock skew
    "approval dated in the future": Case(
        RejectCode.CLOCK_SKEW, approval=sign_approval(REQUEST, ALICE, "alice", NOW + 31)
    ),
    "approval dated before the request": Case(
        RejectCode.CLOCK_SKEW, approval=signed_raw(ALICE, "alice", REQUEST, CREATED - 31)
    ),
    "gateway clock behind the request": Case(
        RejectCode.CLOCK_SKEW, approval=signed_raw(ALICE, "alice", REQUEST, CREATED), now=CREATED - 31
    ),
    # expired
    "used at expiry": Case(RejectCode.EXPIRED, now=EXPIRES),
    "used long after expiry": Case(RejectCode.EXPIRED, now=EXPIRES + 86_400),
    "approved after expiry": Case(
        RejectCode.EXPIRED, approval=signed_raw(ALICE, "alice", REQUEST, EXPIRES + 1), now=EXPIRES - 1
    ),
    # replayed
    "replayed": Case(RejectCode.REPLAYED, used=frozenset({REQUEST.nonce})),
    # malformed
    "approval is None": Case(RejectCode.MALFORMED, approval=None),
    "approval is a dict": Case(RejectCode.MALFORMED, approval=APPROVAL.to_json()),
    "request is None": Case(RejectCode.MALFORMED, request=None),
    "signature truncated": Case(RejectCode.MALFORMED, approval=replace(APPROVAL, signature=APPROVAL.signature[:-2])),
    "signature in upper case": Case(
        RejectCode.MALFORMED, approval=replace(APPROVAL, signature=APPROVAL.signature.upper())
    ),
    "signature empty": Case(RejectCode.MALFORMED, approval=replace(APPROVAL, signature="")),
    "key id truncated": Case(RejectCode.MALFORMED, approval=replace(APPROVAL, key_id=ALICE.key_id[:8])),
    "verdict unknown": Case(RejectCode.MALFORMED, approval=replace(APPROVAL, verdict="maybe")),  # type: ignore[arg-type]
    "decided_at not a number": Case(RejectCode.MALFORMED, approval=replace(APPROVAL, decided_at="soon")),  # type: ignore[arg-type]
    "decided_at NaN": Case(RejectCode.MALFORMED, approval=replace(APPROVAL, decided_at=math.nan)),
    "approver name empty": Case(RejectCode.MALFORMED, approval=replace(APPROVAL, approver="")),
    "approver name with escape codes": Case(RejectCode.MALFORMED, approval=replace(APPROVAL, approver="al\x1b[2Kice")),
    "request digest garbled": Case(RejectCode.MALFORMED, request=replace(REQUEST, digest="zz")),
    "request tier garbled": Case(RejectCode.MALFORMED, request=replace(REQUEST, tier="root")),  # type: ignore[arg-type]
    "action digest garbled": Case(RejectCode.MALFORMED, digest="0" * 63),
    "action digest missing": Case(RejectCode.MALFORMED, digest=None),
    "now is NaN": Case(RejectCode.MALFORMED, now=math.nan),
}


@pytest.mark.parametrize("name", list(CASES))
def test_verify_approval(name: str) -> None:
    case = CASES[name]

    def run() -> None:
        verify_approval(case.request, case.approval, case.approvers, case.now, case.used, action_digest=case.digest)

    if case.code is None:
        run()
        return
    with pytest.raises(ApprovalRejected) as info:
        run()
    assert info.value.code is case.code, info.value
    assert isinstance(info.value, WardedError)
    assert info.value.reason.rule_id == case.code.value
    assert case.code.value in info.value.diagnostics()


def test_every_code_is_exercised() -> None:
    # Passkey-only codes are exercised in tests/approve/test_webauthn.py and tests/console/.
    passkey_only = {RejectCode.USER_NOT_VERIFIED, RejectCode.METHOD_NOT_ALLOWED}
    assert {c.code for c in CASES.values()} == {*RejectCode, None} - passkey_only


def test_codes_are_stable() -> None:
    assert sorted(c.value for c in RejectCode) == [
        "approval.bad_signature",
        "approval.clock_skew",
        "approval.denied",
        "approval.digest_mismatch",
        "approval.expired",
        "approval.malformed",
        "approval.method_not_allowed",
        "approval.replayed",
        "approval.unknown_signer",
        "approval.user_not_verified",
    ]


def test_skew_tolerance_is_a_parameter() -> None:
    early = sign_approval(REQUEST, ALICE, "alice", NOW + 10)
    verify_approval(REQUEST, early, APPROVERS, NOW, (), action_digest=GOOD_DIGEST)
    with pytest.raises(ApprovalRejected) as info:
        verify_approval(REQUEST, early, APPROVERS, NOW, (), action_digest=GOOD_DIGEST, max_skew=5)
    assert info.value.code is RejectCode.CLOCK_SKEW
    with pytest.raises(ApprovalRejected) as info:
        verify_approval(REQUEST, early, APPROVERS, NOW, (), action_digest=GOOD_DIGEST, max_skew=-1)
    assert info.value.code is RejectCode.MALFORMED


def test_verify_signature_ignores_time_and_verdict() -> None:
    denial = sign_approval(REQUEST, ALICE, "alice", DECIDED, verdict=ApprovalVerdict.DENY)
    verify_signature(REQUEST, denial, APPROVERS)
    verify_signature(REQUEST, signed_raw(ALICE, "alice", REQUEST, EXPIRES + 10), APPROVERS)
    with pytest.raises(ApprovalRejected) as info:
        verify_signature(REQUEST, _flip_signature(APPROVAL), APPROVERS)
    assert info.value.code is RejectCode.BAD_SIGNATURE


def test_signed_message_is_domain_separated() -> None:
    assert APPROVAL.message().startswith(APPROVAL_DOMAIN)
    ALICE.public_key.verify(bytes.fromhex(APPROVAL.signature), APPROVAL.message())


# -- signing --------------------------------------------------------------------------------------


def test_sign_refuses_to_approve_an_expired_request() -> None:
    with pytest.raises(ApprovalRejected) as info:
        sign_approval(REQUEST, ALICE, "alice", EXPIRES)
    assert info.value.code is RejectCode.EXPIRED
    # a late denial is harmless and allowed
    assert sign_approval(REQUEST, ALICE, "alice", EXPIRES, verdict=ApprovalVerdict.DENY).verdict is ApprovalVerdict.DENY


@pytest.mark.parametrize("name", ["", "x" * 129, "a\nb", "\u202eevil", 7])
def test_sign_refuses_bad_approver_names(name: Any) -> None:
    with pytest.raises(ApprovalRejected) as info:
        sign_approval(REQUEST, ALICE, name, DECIDED)
    assert info.value.code is RejectCode.MALFORMED


def test_sign_refuses_non_signers() -> None:
    with pytest.raises(ApprovalRejected):
        sign_approval(REQUEST, "key.pem", "alice", DECIDED)  # type: ignore[arg-type]
    with pytest.raises(ApprovalRejected):
        sign_approval(REQUEST.to_json(), ALICE, "alice", DECIDED)  # type: ignore[arg-type]


# -- requests -------------------------------------------------------------------------------------


def test_request_binds_the_real_arguments_and_shows_the_redacted_ones() -> None:
    secret = {"to": "carol@example.com", "api_key": "sk-live-123"}
    shown = {"to": "carol@example.com", "api_key": {"$secret": "sha256-salted:..."}}
    request = make_request(
        request_id="r9", agent_id="a", session_id="s", tool="t", arguments=secret, display_arguments=shown,
        created_at=1.0, expires_at=2.0, nonce="q" * 32,
    )  # fmt: skip
    assert request.digest == action_digest("a", "s", "t", secret, 2.0, "q" * 32)
    assert dict(request.arguments) == shown
    assert "sk-live" not in render_request(request)


def test_request_is_detached_from_the_callers_values() -> None:
    args: dict[str, Any] = {"to": ["x@example.com"]}
    taint: dict[str, Any] = {"argument": "to"}
    request = new_request(arguments=args, taint=(taint,))
    args["to"].append("eve@example.com")
    taint["argument"] = "changed"
    assert request.arguments["to"] == ["x@example.com"]
    assert request.taint[0]["argument"] == "to"
    with pytest.raises(TypeError):
        request.arguments["to"] = "y"  # type: ignore[index]


def test_request_json_round_trip() -> None:
    again = request_from_json(REQUEST.to_json())
    assert again.to_json() == REQUEST.to_json()
    assert again.tier is Tier.FINANCIAL
    assert again.reasons == REQUEST.reasons


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("nonce"),
        lambda d: d.update(extra=1),
        lambda d: d.update(format="warded-approval-request/2"),
        lambda d: d.update(tier="root"),
        lambda d: d.update(reasons=[{"rule_id": "x"}]),
        lambda d: d.update(reasons="x"),
        lambda d: d.update(taint=["x"]),
        lambda d: d.update(arguments=[]),
        lambda d: d.update(expires_at=d["created_at"]),
        lambda d: d.update(created_at="yesterday"),
        lambda d: d.update(digest="A" * 64),
        lambda d: d.update(id="has space"),
        lambda d: d.update(agent_id=""),
        lambda d: d.update(nonce=""),
    ],
)
def test_request_from_json_is_strict(mutate: Callable[[dict[str, Any]], Any]) -> None:
    data = REQUEST.to_json()
    mutate(data)
    with pytest.raises(ApprovalRejected) as info:
        request_from_json(data)
    assert info.value.code is RejectCode.MALFORMED


def test_request_from_json_refuses_non_objects() -> None:
    values: list[object] = [None, [], "x", 1]
    for value in values:
        with pytest.raises(ApprovalRejected):
            request_from_json(value)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"request_id": "bad id"}, ApprovalRejected),
        ({"expires_at": CREATED}, ApprovalRejected),
        ({"expires_at": math.inf}, ApprovalRejected),
        ({"tier": "financial"}, ApprovalRejected),
        ({"reasons": ("not a reason",)}, ApprovalRejected),
        ({"taint": ("not a mapping",)}, ApprovalRejected),
        ({"taint": ({"x": b"bytes"},)}, ApprovalRejected),
        ({"display_arguments": {"x": object()}}, ApprovalRejected),
        ({"arguments": {"blob": b"\x00"}}, DigestError),
        ({"tool": ""}, DigestError),
    ],
)
def test_make_request_refuses_bad_fields(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        new_request(**changes)


def test_approval_json_round_trip() -> None:
    assert approval_from_json(APPROVAL.to_json()) == APPROVAL


# -- rendering ------------------------------------------------------------------------------------


def test_render_shows_what_a_human_needs() -> None:
    text = render_request(REQUEST, now=NOW, status="pending")
    for needle in (
        "r0001",
        "pending",
        "send_payment",
        "financial",
        "carol@example.com",
        "120.5",
        "flow.untrusted_value",
        "tool:read_inbox",
        "2023-11-14 22:13:20 UTC",  # created
        "(in 8 min)",
        REQUEST.digest,
        "mail-assistant",
    ):
        assert needle in text, needle
    assert "EXPIRED" in render_request(REQUEST, now=EXPIRES + 5)


def test_render_escapes_look_alikes_and_terminal_codes() -> None:
    request = new_request(
        arguments={"to": "bob@ex\u0430mple.com", "note": "ok\x1b[2J\rapproved"},  # Cyrillic a
        reasons=(Reason("r\x1b[31m", "m\u202egnp.exe"),),
        tool="send\u200bmail",
    )
    text = render_request(request)
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\u202e" not in text and "\u200b" not in text
    assert "\\u0430" in text  # the Cyrillic letter is visible as an escape
    assert "send\\u200bmail" in text


def test_render_without_reasons_or_taint() -> None:
    text = render_request(new_request(reasons=(), taint=(), tier=None))
    assert "(no reason recorded)" in text
    assert "(no taint explanation)" in text
    assert "tier: unknown" in text
