"""Per-action capability tokens: a single-use, expiring, signed permission to run one exact call.

The gateway issues a token for every ALLOW (or approved) decision, bound to the action digest
(:func:`~warded.approve.digest.action_digest` over agent, session, tool, arguments, the token's expiry and
nonce). The tool side checks it with a :class:`TokenVerifier` before running, so a call that bypassed the
agent-side check, or whose arguments changed since the decision, is refused by the tool itself.

Token format (ASCII, compact)::

    wct1.<base64url(payload)>.<base64url(signature)>

``payload`` is canonical JSON ``{"dig": <hex sha256>, "exp": <float>, "kid": <key id>, "nonce": <str>, "v": 1}``;
``signature`` is Ed25519 over :data:`CAPABILITY_DOMAIN` + ``payload``. Base64url is unpadded and must be the
canonical spelling, and the payload must be canonical JSON, so one token has exactly one encoding: any changed
byte is refused.
"""

from __future__ import annotations

import heapq
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warded.approve._encoding import (
    HEX_DIGEST,
    HEX_KEY_ID,
    ParseError,
    b64url_decode,
    b64url_encode,
    canonical_or_raise,
    finite_float,
    strict_json_loads,
)
from warded.approve.digest import DigestError, action_digest
from warded.audit.keys import Signer
from warded.core.types import Reason
from warded.errors import WardedError

__all__ = [
    "CAPABILITY_DOMAIN",
    "TOKEN_PREFIX",
    "CapabilityRejected",
    "TokenClaims",
    "TokenCode",
    "TokenVerifier",
    "issue_token",
    "read_claims",
]

CAPABILITY_DOMAIN = b"warded-capability-v1\n"
"""Prefix of every signed token payload, so the issuing key signs nothing else by accident."""

TOKEN_PREFIX = "wct1"  # noqa: S105 - a format tag, not a password
MAX_TOKEN_CHARS = 1024
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_PAYLOAD_KEYS = frozenset({"dig", "exp", "kid", "nonce", "v"})
_SIGNATURE_BYTES = 64


class TokenCode(StrEnum):
    """Why a token was refused. The values are stable rule ids."""

    MALFORMED = "capability.malformed"
    UNKNOWN_SIGNER = "capability.unknown_signer"
    BAD_SIGNATURE = "capability.bad_signature"
    DIGEST_MISMATCH = "capability.digest_mismatch"
    EXPIRED = "capability.expired"
    REPLAYED = "capability.replayed"
    CLOCK_SKEW = "capability.clock_skew"
    CAPACITY = "capability.capacity"


class CapabilityRejected(WardedError):
    """A capability token was refused; the tool must not run. ``code`` says why."""

    def __init__(self, code: TokenCode, detail: str) -> None:
        self.code = TokenCode(code)
        self.detail = detail
        super().__init__(f"{self.code.value}: {detail}")

    @property
    def reason(self) -> Reason:
        return Reason(self.code.value, self.detail)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token says, parsed but NOT verified (see :func:`read_claims`)."""

    digest: str
    expires_at: float
    key_id: str
    nonce: str


def _payload(digest: str, expires_at: float, key_id: str, nonce: str) -> bytes:
    return canonical_or_raise({"dig": digest, "exp": expires_at, "kid": key_id, "nonce": nonce, "v": 1})


def issue_token(signer: Signer, digest: str, expires_at: float, nonce: str) -> str:
    """A token allowing the one call whose digest is ``digest`` (computed with this ``expires_at`` and ``nonce``).

    ``nonce`` must be fresh and unpredictable: 16 to 128 characters of ``[A-Za-z0-9_-]``
    (``secrets.token_urlsafe(16)``). Pure apart from the signature.
    """
    if not isinstance(signer, Signer):
        raise CapabilityRejected(TokenCode.MALFORMED, f"expected a warded Signer, got {type(signer).__name__}")
    if not isinstance(digest, str) or HEX_DIGEST.fullmatch(digest) is None:
        raise CapabilityRejected(TokenCode.MALFORMED, "digest must be a lowercase hex sha256")
    if not isinstance(nonce, str) or _NONCE.fullmatch(nonce) is None:
        raise CapabilityRejected(TokenCode.MALFORMED, "nonce must be 16-128 characters of [A-Za-z0-9_-]")
    try:
        expiry = finite_float(expires_at, "expires_at")
        payload = _payload(digest, expiry, signer.key_id, nonce)
    except ParseError as exc:
        raise CapabilityRejected(TokenCode.MALFORMED, str(exc)) from None
    signature = signer.sign(CAPABILITY_DOMAIN + payload)
    return f"{TOKEN_PREFIX}.{b64url_encode(payload)}.{b64url_encode(signature)}"


def _split(token: object) -> tuple[TokenClaims, bytes, bytes]:
    """Parse a token strictly into its claims, signed payload bytes and signature bytes."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise ParseError("not a capability token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise ParseError(f"not a {TOKEN_PREFIX} token")
    payload = b64url_decode(parts[1])
    signature = b64url_decode(parts[2])
    if len(signature) != _SIGNATURE_BYTES:
        raise ParseError("signature has the wrong length")
    data: Any = strict_json_loads(payload)
    if not isinstance(data, dict) or set(data) != _PAYLOAD_KEYS:
        raise ParseError("payload does not have exactly the fields dig, exp, kid, nonce, v")
    if type(data["v"]) is not int or data["v"] != 1:
        raise ParseError("unknown token version")
    if type(data["exp"]) is not float:
        raise ParseError("exp must be a float")
    claims = TokenClaims(
        digest=data["dig"] if isinstance(data["dig"], str) else "",
        expires_at=finite_float(data["exp"], "exp"),
        key_id=data["kid"] if isinstance(data["kid"], str) else "",
        nonce=data["nonce"] if isinstance(data["nonce"], str) else "",
    )
    if HEX_DIGEST.fullmatch(claims.digest) is None or HEX_KEY_ID.fullmatch(claims.key_id) is None:
        raise ParseError("digest or key id is not well formed")
    if _NONCE.fullmatch(claims.nonce) is None:
        raise ParseError("nonce is not well formed")
    if _payload(claims.digest, claims.expires_at, claims.key_id, claims.nonce) != payload:
        raise ParseError("payload is not canonical JSON")
    return claims, payload, signature


def read_claims(token: str) -> TokenClaims:
    """The claims of ``token`` WITHOUT verifying it (to learn the expiry and nonce that its digest covers).

    Raises :class:`CapabilityRejected` (``capability.malformed``) if it does not parse. Never trust the result
    before :meth:`TokenVerifier.verify` has accepted the token.
    """
    try:
        return _split(token)[0]
    except ParseError as exc:
        raise CapabilityRejected(TokenCode.MALFORMED, str(exc)) from None


class TokenVerifier:
    """The tool side's check: a token runs its one call once, before it expires. Thread-safe.

    Used nonces are kept until their token expires, then forgotten (an expired token is refused anyway).
    Memory is bounded: tokens may live at most ``max_ttl_s`` ahead of this clock, and once ``max_entries``
    unexpired nonces are held, new tokens are refused (``capability.capacity``) rather than old ones forgotten,
    which would allow a replay.
    """

    def __init__(
        self,
        public_keys: Mapping[str, Ed25519PublicKey],
        clock: Callable[[], float],
        *,
        max_ttl_s: float = 900.0,
        max_entries: int = 100_000,
    ) -> None:
        keys = dict(public_keys)
        for kid, key in keys.items():
            if not isinstance(key, Ed25519PublicKey):
                raise CapabilityRejected(TokenCode.UNKNOWN_SIGNER, f"key {kid!r} is not an Ed25519 public key")
        if not isinstance(max_ttl_s, int | float) or not 0 < max_ttl_s < math.inf:
            raise CapabilityRejected(TokenCode.MALFORMED, "max_ttl_s must be a positive finite number")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise CapabilityRejected(TokenCode.MALFORMED, "max_entries must be an int >= 1")
        self._keys = keys
        self._clock = clock
        self._max_ttl = float(max_ttl_s)
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._used: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []
        self._latest = -math.inf  # the clock never runs backwards here: a stepped-back clock cannot revive a nonce

    @property
    def used_count(self) -> int:
        """How many used nonces are held now (not ``__len__``: an empty verifier must not be falsy)."""
        with self._lock:
            return len(self._used)

    def verify(self, token: str, action_digest: str) -> None:
        """Accept ``token`` for the call with digest ``action_digest`` once; raise :class:`CapabilityRejected`.

        Checks, in order: well-formed (``capability.malformed``), known key (``capability.unknown_signer``),
        signature (``capability.bad_signature``), digest (``capability.digest_mismatch``), expiry
        (``capability.expired``), lifetime (``capability.clock_skew``), first use (``capability.replayed``),
        room (``capability.capacity``). A token that fails any check is not consumed.
        """
        try:
            claims, payload, signature = _split(token)
        except ParseError as exc:
            raise CapabilityRejected(TokenCode.MALFORMED, str(exc)) from None
        key = self._keys.get(claims.key_id)
        if key is None:
            raise CapabilityRejected(TokenCode.UNKNOWN_SIGNER, f"key {claims.key_id} is not a known issuer")
        try:
            key.verify(signature, CAPABILITY_DOMAIN + payload)
        except InvalidSignature:
            raise CapabilityRejected(TokenCode.BAD_SIGNATURE, "token signature does not verify") from None
        if not isinstance(action_digest, str) or claims.digest != action_digest:
            raise CapabilityRejected(TokenCode.DIGEST_MISMATCH, "token is for another call")
        with self._lock:
            reading = self._clock()
            if isinstance(reading, bool) or not isinstance(reading, int | float) or not math.isfinite(reading):
                raise CapabilityRejected(TokenCode.CLOCK_SKEW, "the verifier's clock gave no usable time")
            self._latest = now = max(self._latest, float(reading))
            if now >= claims.expires_at:
                raise CapabilityRejected(TokenCode.EXPIRED, f"token expired {now - claims.expires_at:.1f} s ago")
            if claims.expires_at - now > self._max_ttl:
                raise CapabilityRejected(
                    TokenCode.CLOCK_SKEW, f"token expires {claims.expires_at - now:.0f} s ahead, over the limit"
                )
            self._forget_expired(now)
            if claims.nonce in self._used:
                raise CapabilityRejected(TokenCode.REPLAYED, "token was already used")
            if len(self._used) >= self._max_entries:
                raise CapabilityRejected(TokenCode.CAPACITY, "too many unexpired tokens in use; refusing")
            self._used[claims.nonce] = claims.expires_at
            heapq.heappush(self._expiry, (claims.expires_at, claims.nonce))

    def verify_action(
        self, token: str, *, agent_id: str, session_id: str, tool: str, arguments: Mapping[str, Any]
    ) -> None:
        """Recompute the digest of this call with the token's expiry and nonce, then :meth:`verify` it."""
        claims = read_claims(token)
        try:
            digest = action_digest(agent_id, session_id, tool, arguments, claims.expires_at, claims.nonce)
        except DigestError as exc:
            raise CapabilityRejected(TokenCode.DIGEST_MISMATCH, f"the call cannot be digested: {exc}") from None
        self.verify(token, digest)

    def _forget_expired(self, now: float) -> None:
        heap = self._expiry
        while heap and heap[0][0] <= now:
            _, nonce = heapq.heappop(heap)
            self._used.pop(nonce, None)
