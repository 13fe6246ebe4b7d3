"""Approvals signed by a passkey or security key (WebAuthn), verified with py_webauthn.

An approval is a WebAuthn *assertion* whose challenge is the request's action digest (the 32 bytes of
:func:`~warded.approve.digest.action_digest`): the authenticator signs exactly that action, with its expiry and
nonce. A denial signs ``sha256(DENY_DOMAIN + digest)`` instead, so an assertion made to deny can never be
presented as an approval. User verification (PIN or biometric) is required; the relying party id and the
origin are checked; the signature counter must move forward when it is recorded.

What is stored (:class:`WebAuthnApproval`, format ``warded-webauthn-approval/1``) is everything needed to
check it again later and offline: the client data, the authenticator data, the signature, and the credential
public key it verified under. The key is only trusted if it is the one registered for that credential
(:class:`Credential`, kept by :mod:`warded.approve.credentials`).

Pure: no clock, no disk. Every refusal raises :class:`~warded.approve.approvals.ApprovalRejected`.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse, WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from warded.approve._encoding import HEX_DIGEST, ParseError, b64url_decode, b64url_encode, strict_json_loads
from warded.approve.approvals import (
    ApprovalRejected,
    ApprovalRequest,
    ApprovalVerdict,
    RejectCode,
    SignedApproval,
    approval_from_json,
    check_use,
)
from warded.approve.methods import ApprovalMethod
from warded.audit.chain import AuditEntry

__all__ = [
    "DENY_DOMAIN",
    "WEBAUTHN_APPROVAL_FORMAT",
    "AnyApproval",
    "Assertion",
    "Credential",
    "RelyingParty",
    "WebAuthnApproval",
    "approval_challenge",
    "approval_record",
    "assertion_options",
    "check_assertion",
    "check_registration",
    "method_of",
    "registration_options",
    "sign_count_advances",
    "verdict_from_json",
    "verify_audited_approvals",
    "verify_webauthn_approval",
    "verify_webauthn_signature",
    "webauthn_approval_from_json",
]

WEBAUTHN_APPROVAL_FORMAT = "warded-webauthn-approval/1"
DENY_DOMAIN = b"warded-webauthn-deny-v1\n"
"""Hashed before the digest to make a denial's challenge, so a denial never reads as an approval."""

MAX_PART_CHARS = 16_384
"""Bound on each base64url part of a stored assertion (client data, authenticator data, signature, key)."""

_FLAG_UV = 0x04


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who passkeys are registered with: the id (a domain, e.g. ``localhost``) and the accepted origins."""

    rp_id: str
    name: str
    origins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Credential:
    """A registered passkey: whose it is, its COSE public key, the last signature counter seen."""

    credential_id: str  # base64url
    approver: str
    public_key: bytes  # COSE_Key
    sign_count: int
    created_at: float

    @property
    def key_hash(self) -> str:
        """sha256 of the public key, hex: what the audit log records at registration."""
        return hashlib.sha256(self.public_key).hexdigest()


@dataclass(frozen=True, slots=True)
class Assertion:
    """A verified assertion: the credential, the new counter, and the parts kept for offline checking."""

    credential_id: str
    sign_count: int
    client_data_json: str
    authenticator_data: str
    signature: str
    user_handle: str | None
    origin: str


@dataclass(frozen=True, slots=True)
class WebAuthnApproval:
    """A human's verdict on one request, signed by a passkey. Parts are base64url, as WebAuthn sends them."""

    request_id: str
    digest: str
    verdict: ApprovalVerdict
    approver: str
    credential_id: str
    decided_at: float
    expires_at: float
    rp_id: str
    origin: str
    client_data_json: str
    authenticator_data: str
    signature: str
    user_handle: str | None
    credential_public_key: str
    sign_count: int

    @property
    def key_id(self) -> str:
        """The credential id (the stores keep it where an Ed25519 approval keeps its key id)."""
        return self.credential_id

    def to_json(self) -> dict[str, Any]:
        return {
            "format": WEBAUTHN_APPROVAL_FORMAT,
            "request_id": self.request_id,
            "digest": self.digest,
            "verdict": self.verdict.value,
            "approver": self.approver,
            "credential_id": self.credential_id,
            "decided_at": self.decided_at,
            "expires_at": self.expires_at,
            "rp_id": self.rp_id,
            "origin": self.origin,
            "client_data_json": self.client_data_json,
            "authenticator_data": self.authenticator_data,
            "signature": self.signature,
            "user_handle": self.user_handle,
            "credential_public_key": self.credential_public_key,
            "sign_count": self.sign_count,
        }


_KEYS = frozenset(WebAuthnApproval.__dataclass_fields__) | {"format"}


def _malformed(detail: str) -> ApprovalRejected:
    return ApprovalRejected(RejectCode.MALFORMED, detail)


def _b64(value: object, what: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > MAX_PART_CHARS or (not value and not empty):
        raise _malformed(f"{what} must be a base64url string of at most {MAX_PART_CHARS} characters")
    try:
        b64url_decode(value)
    except ParseError:
        raise _malformed(f"{what} is not unpadded base64url") from None
    return value


def _str(value: object, what: str, limit: int = 512) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise _malformed(f"{what} must be a printable string of at most {limit} characters")
    return value


def _float(value: object, what: str) -> float:
    if type(value) is not float or not math.isfinite(value):
        raise _malformed(f"{what} must be a finite JSON number with a fraction")
    return value


def webauthn_approval_from_json(obj: object) -> WebAuthnApproval:
    """Parse :meth:`WebAuthnApproval.to_json` output strictly; ``approval.malformed`` on any deviation."""
    if not isinstance(obj, dict) or set(obj) != _KEYS:
        raise _malformed("not a warded-webauthn-approval/1 record (keys missing or unexpected)")
    if obj["format"] != WEBAUTHN_APPROVAL_FORMAT:
        raise _malformed(f"unknown approval format {obj['format']!r:.40}")
    try:
        verdict = ApprovalVerdict(obj["verdict"])
    except ValueError:
        raise _malformed("verdict must be 'approve' or 'deny'") from None
    digest = obj["digest"]
    if not isinstance(digest, str) or HEX_DIGEST.fullmatch(digest) is None:
        raise _malformed("digest is not well formed")
    count = obj["sign_count"]
    if type(count) is not int or not 0 <= count < 2**32:
        raise _malformed("sign_count must be an unsigned 32-bit integer")
    handle = obj["user_handle"]
    return WebAuthnApproval(
        request_id=_str(obj["request_id"], "request id", 128),
        digest=digest,
        verdict=verdict,
        approver=_str(obj["approver"], "approver", 128),
        credential_id=_b64(obj["credential_id"], "credential id"),
        decided_at=_float(obj["decided_at"], "decided_at"),
        expires_at=_float(obj["expires_at"], "expires_at"),
        rp_id=_str(obj["rp_id"], "rp_id", 253),
        origin=_str(obj["origin"], "origin"),
        client_data_json=_b64(obj["client_data_json"], "client data"),
        authenticator_data=_b64(obj["authenticator_data"], "authenticator data"),
        signature=_b64(obj["signature"], "signature"),
        user_handle=None if handle is None else _b64(handle, "user handle", empty=True),
        credential_public_key=_b64(obj["credential_public_key"], "credential public key"),
        sign_count=count,
    )


def approval_challenge(digest: str, verdict: ApprovalVerdict) -> bytes:
    """The challenge an authenticator signs for ``verdict`` on the request with action digest ``digest``."""
    if not isinstance(digest, str) or HEX_DIGEST.fullmatch(digest) is None:
        raise _malformed("digest is not a lowercase hex sha256")
    raw = bytes.fromhex(digest)
    return raw if ApprovalVerdict(verdict) is ApprovalVerdict.APPROVE else hashlib.sha256(DENY_DOMAIN + raw).digest()


# -- registration --------------------------------------------------------------------------------


def registration_options(
    rp: RelyingParty, approver: str, user_id: bytes, exclude: Sequence[str] = ()
) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.create`` (JSON) and the challenge to expect back."""
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_id=user_id,
        user_name=approver,
        user_display_name=approver,
        challenge=challenge,
        timeout=120_000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=b64url_decode(c)) for c in exclude],
    )
    return options_to_json(options), challenge


def check_registration(response: str, challenge: bytes, rp: RelyingParty, approver: str, now: float) -> Credential:
    """Verify a registration response (user verification required); the new credential, or ApprovalRejected."""
    _bounded(response)
    try:
        verified = verify_registration_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            require_user_verification=True,
        )
    except InvalidRegistrationResponse as exc:
        code = RejectCode.USER_NOT_VERIFIED if "verif" in str(exc).lower() else RejectCode.BAD_SIGNATURE
        raise ApprovalRejected(code, f"registration refused: {exc}") from None
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise _malformed(f"registration response is malformed: {exc}") from None
    return Credential(
        credential_id=b64url_encode(verified.credential_id),
        approver=approver,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        created_at=now,
    )


# -- assertions ----------------------------------------------------------------------------------


def assertion_options(rp: RelyingParty, challenge: bytes, allow: Sequence[str] = ()) -> str:
    """Options for ``navigator.credentials.get`` (JSON) signing ``challenge``; ``allow``: credential ids."""
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=120_000,
        allow_credentials=[PublicKeyCredentialDescriptor(id=b64url_decode(c)) for c in allow],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def _bounded(response: object) -> None:
    if not isinstance(response, str) or len(response) > 4 * MAX_PART_CHARS:
        raise _malformed(f"a WebAuthn response must be JSON text of at most {4 * MAX_PART_CHARS} characters")


def _parts(response: str) -> dict[str, Any]:
    """The fields of an assertion response, read strictly (one JSON parser for all of warded's input)."""
    try:
        data = strict_json_loads(response)
    except ParseError as exc:
        raise _malformed(f"assertion is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("response"), dict) or not isinstance(data.get("id"), str):
        raise _malformed("assertion must be a PublicKeyCredential object with id and response")
    inner = data["response"]
    out: dict[str, Any] = {"id": _b64(data["id"], "credential id")}
    for key in ("clientDataJSON", "authenticatorData", "signature"):
        out[key] = _b64(inner.get(key), key)
    handle = inner.get("userHandle")
    out["userHandle"] = None if handle in (None, "") else _b64(handle, "userHandle")
    return out


def _origin(client_data_json: str) -> str:
    try:
        data = json.loads(b64url_decode(client_data_json))
    except (ParseError, ValueError) as exc:
        raise _malformed(f"client data is not JSON: {exc}") from None
    origin = data.get("origin") if isinstance(data, dict) else None
    return _str(origin, "client data origin")


def _verify(
    *,
    credential_id: str,
    client_data_json: str,
    authenticator_data: str,
    signature: str,
    user_handle: str | None,
    challenge: bytes,
    rp_id: str,
    origins: Sequence[str],
    public_key: bytes,
    current_count: int,
) -> int:
    """py_webauthn's assertion check (signature, challenge, type, origin, rp id hash, UP and UV flags)."""
    flags = b64url_decode(authenticator_data)[32:33]
    if not flags:
        raise _malformed("authenticator data is truncated")
    if not flags[0] & _FLAG_UV:
        raise ApprovalRejected(RejectCode.USER_NOT_VERIFIED, "the authenticator did not verify the user")
    response: dict[str, Any] = {
        "id": credential_id,
        "rawId": credential_id,
        "type": "public-key",
        "response": {
            "clientDataJSON": client_data_json,
            "authenticatorData": authenticator_data,
            "signature": signature,
        },
    }
    if user_handle is not None:
        response["response"]["userHandle"] = user_handle
    try:
        client = json.loads(b64url_decode(client_data_json))
    except (ParseError, ValueError) as exc:
        raise _malformed(f"client data is not JSON: {exc}") from None
    if not isinstance(client, dict) or client.get("challenge") != b64url_encode(challenge):
        raise ApprovalRejected(RejectCode.DIGEST_MISMATCH, "the assertion signs another challenge (another action)")
    try:
        verified = verify_authentication_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=list(origins),
            credential_public_key=public_key,
            credential_current_sign_count=current_count,
            require_user_verification=True,
        )
    except InvalidAuthenticationResponse as exc:
        text = str(exc)
        if "sign count" in text.lower():
            raise ApprovalRejected(RejectCode.REPLAYED, f"signature counter did not advance: {text}") from None
        raise ApprovalRejected(RejectCode.BAD_SIGNATURE, f"assertion refused: {text}") from None
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise _malformed(f"assertion is malformed: {exc}") from None
    return int(verified.new_sign_count)


def sign_count_advances(old: int, new: int) -> bool:
    """WebAuthn's clone check: the counter moves forward, or the authenticator keeps none (both zero)."""
    return new > old or (new == 0 and old == 0)


def check_assertion(response: str, challenge: bytes, credential: Credential, rp: RelyingParty) -> Assertion:
    """Verify a fresh assertion over ``challenge`` by ``credential`` (user verified, counter advancing).

    The caller stores the new counter atomically (compare-and-set on the old one), so a replayed or cloned
    assertion is refused even when two arrive together.
    """
    _bounded(response)
    parts = _parts(response)
    if parts["id"] != credential.credential_id:
        raise ApprovalRejected(RejectCode.UNKNOWN_SIGNER, "the assertion is by another credential")
    count = _verify(
        credential_id=parts["id"],
        client_data_json=parts["clientDataJSON"],
        authenticator_data=parts["authenticatorData"],
        signature=parts["signature"],
        user_handle=parts["userHandle"],
        challenge=challenge,
        rp_id=rp.rp_id,
        origins=rp.origins,
        public_key=credential.public_key,
        current_count=credential.sign_count,
    )
    if not sign_count_advances(credential.sign_count, count):
        raise ApprovalRejected(RejectCode.REPLAYED, "signature counter did not advance (replay or cloned key)")
    return Assertion(
        credential_id=parts["id"],
        sign_count=count,
        client_data_json=parts["clientDataJSON"],
        authenticator_data=parts["authenticatorData"],
        signature=parts["signature"],
        user_handle=parts["userHandle"],
        origin=_origin(parts["clientDataJSON"]),
    )


def approval_record(
    request: ApprovalRequest,
    verdict: ApprovalVerdict,
    assertion: Assertion,
    credential: Credential,
    rp: RelyingParty,
    *,
    decided_at: float,
) -> WebAuthnApproval:
    """The stored form of a verified assertion on ``request``. Refuses to approve at or after expiry."""
    if verdict is ApprovalVerdict.APPROVE and decided_at >= request.expires_at:
        raise ApprovalRejected(RejectCode.EXPIRED, f"request {request.id} expired before it was approved")
    return WebAuthnApproval(
        request_id=request.id,
        digest=request.digest,
        verdict=verdict,
        approver=credential.approver,
        credential_id=credential.credential_id,
        decided_at=float(decided_at),
        expires_at=request.expires_at,
        rp_id=rp.rp_id,
        origin=assertion.origin,
        client_data_json=assertion.client_data_json,
        authenticator_data=assertion.authenticator_data,
        signature=assertion.signature,
        user_handle=assertion.user_handle,
        credential_public_key=b64url_encode(credential.public_key),
        sign_count=assertion.sign_count,
    )


# -- checking a stored approval, later and offline -------------------------------------------------


def verify_webauthn_signature(
    request: ApprovalRequest,
    approval: WebAuthnApproval,
    credentials: Mapping[str, Credential],
    rp: RelyingParty,
) -> None:
    """Check a stored WebAuthn verdict on ``request`` again: the credential is registered to the approver it
    names, with the public key stored beside the assertion; the assertion verifies under it, over the challenge
    of this request's digest and verdict, user verified, for this relying party and one of its origins.

    No time or use checks (:func:`verify_webauthn_approval` adds them). Raises :class:`ApprovalRejected`.
    """
    if not isinstance(approval, WebAuthnApproval) or not isinstance(request, ApprovalRequest):
        raise _malformed("expected an ApprovalRequest and a WebAuthnApproval")
    approval = webauthn_approval_from_json(approval.to_json())  # re-validate a value built by hand
    credential = credentials.get(approval.credential_id)
    if credential is None:
        raise ApprovalRejected(RejectCode.UNKNOWN_SIGNER, "the credential is not a registered approver passkey")
    if credential.approver != approval.approver:
        raise ApprovalRejected(
            RejectCode.UNKNOWN_SIGNER,
            f"the credential belongs to {credential.approver!r}, but the approval names {approval.approver!r}",
        )
    if b64url_encode(credential.public_key) != approval.credential_public_key:
        raise ApprovalRejected(RejectCode.BAD_SIGNATURE, "the stored public key is not the registered one")
    if approval.request_id != request.id:
        raise ApprovalRejected(RejectCode.DIGEST_MISMATCH, f"approval is for {approval.request_id}, not {request.id}")
    if approval.digest != request.digest or approval.expires_at != request.expires_at:
        raise ApprovalRejected(RejectCode.DIGEST_MISMATCH, f"approval does not match request {request.id}")
    if approval.rp_id != rp.rp_id or approval.origin not in rp.origins:
        raise ApprovalRejected(RejectCode.BAD_SIGNATURE, "the assertion was made for another site")
    _verify(
        credential_id=approval.credential_id,
        client_data_json=approval.client_data_json,
        authenticator_data=approval.authenticator_data,
        signature=approval.signature,
        user_handle=approval.user_handle,
        challenge=approval_challenge(request.digest, approval.verdict),
        rp_id=rp.rp_id,
        origins=rp.origins,
        public_key=credential.public_key,
        current_count=0,  # the counter was checked when the verdict was recorded
    )
    if _stored_count(approval.authenticator_data) != approval.sign_count:
        raise ApprovalRejected(RejectCode.BAD_SIGNATURE, "the recorded counter is not the signed one")


def _stored_count(authenticator_data: str) -> int:
    raw = b64url_decode(authenticator_data)
    return int.from_bytes(raw[33:37], "big")


def verify_webauthn_approval(
    request: ApprovalRequest,
    approval: WebAuthnApproval,
    credentials: Mapping[str, Credential],
    rp: RelyingParty,
    *,
    now: float,
    used: Container[str],
    action_digest: str,
    max_skew: float,
) -> None:
    """Return ``None`` if ``approval`` lets the action with digest ``action_digest`` run now; raise otherwise.

    :func:`verify_webauthn_signature`, then the checks every approval shares
    (:func:`~warded.approve.approvals.check_use`): same action, an approval (not a denial), within its times,
    nonce unused.
    """
    verify_webauthn_signature(request, approval, credentials, rp)
    check_use(
        request,
        verdict=approval.verdict,
        approver=approval.approver,
        decided_at=approval.decided_at,
        now=now,
        used=used,
        action_digest=action_digest,
        max_skew=max_skew,
    )


AnyApproval = SignedApproval | WebAuthnApproval
"""A recorded verdict: signed by an Ed25519 key file, or by a passkey."""


def verdict_from_json(obj: object) -> AnyApproval:
    """Parse a stored verdict of either kind strictly, by its ``format``."""
    if isinstance(obj, dict) and obj.get("format") == WEBAUTHN_APPROVAL_FORMAT:
        return webauthn_approval_from_json(obj)
    return approval_from_json(obj)


def method_of(approval: AnyApproval) -> ApprovalMethod:
    return ApprovalMethod.WEBAUTHN if isinstance(approval, WebAuthnApproval) else ApprovalMethod.ED25519


def verify_audited_approvals(entries: Iterable[AuditEntry]) -> tuple[int, int]:
    """Re-check, from the audit log alone, every passkey verdict it records (``approval_decided`` entries with
    ``method: webauthn``): the credential was registered earlier in the same log (``approver_registered``) to
    the same approver with the same public key and relying party; the assertion verifies under that key over
    the challenge of the digest and verdict it names, user verified; each credential's counter moves forward.

    Returns ``(registrations, verdicts)`` counted; raises :class:`ApprovalRejected` naming the first bad entry.
    Pure (the chain itself is ``warded audit verify``'s business).
    """
    registered: dict[str, tuple[str, str, str]] = {}
    counters: dict[str, int] = {}
    registrations = verdicts = 0
    for entry in entries:
        body = entry.body
        if entry.kind == "approver_registered" and body.get("method") == ApprovalMethod.WEBAUTHN.value:
            cid, approver, key, rp_id = (body.get(k) for k in ("credential_id", "approver", "public_key", "rp_id"))
            if not all(isinstance(v, str) for v in (cid, approver, key, rp_id)):
                raise _malformed(f"audit entry {entry.seq}: registration without credential, approver, key or rp")
            registered[str(cid)] = (str(approver), str(key), str(rp_id))
            registrations += 1
            continue
        if entry.kind == "approver_revoked" and isinstance(body.get("credential_id"), str):
            registered.pop(str(body["credential_id"]), None)  # verdicts after this are not its
            continue
        if entry.kind != "approval_decided" or body.get("method") != ApprovalMethod.WEBAUTHN.value:
            continue
        try:
            record = webauthn_approval_from_json(body.get("approval"))
            known = registered.get(record.credential_id)
            if known is None:
                raise ApprovalRejected(RejectCode.UNKNOWN_SIGNER, "the credential was never registered in this log")
            if known != (record.approver, record.credential_public_key, record.rp_id):
                raise ApprovalRejected(RejectCode.UNKNOWN_SIGNER, "approver, key or site differ from the registration")
            _verify(
                credential_id=record.credential_id,
                client_data_json=record.client_data_json,
                authenticator_data=record.authenticator_data,
                signature=record.signature,
                user_handle=record.user_handle,
                challenge=approval_challenge(record.digest, record.verdict),
                rp_id=record.rp_id,
                origins=(record.origin,),
                public_key=b64url_decode(record.credential_public_key),
                current_count=0,
            )
            if _stored_count(record.authenticator_data) != record.sign_count:
                raise ApprovalRejected(RejectCode.BAD_SIGNATURE, "the recorded counter is not the signed one")
            last = counters.get(record.credential_id)
            if last is not None and not sign_count_advances(last, record.sign_count):
                raise ApprovalRejected(RejectCode.REPLAYED, "the signature counter went backwards (cloned key?)")
            counters[record.credential_id] = record.sign_count
        except ApprovalRejected as exc:
            raise ApprovalRejected(exc.code, f"audit entry {entry.seq}: {exc.detail}") from None
        verdicts += 1
    return registrations, verdicts
