"""Capability tokens: single use, bound to one call's digest, expiring, refused when forged."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from approve_helpers import ALICE, MALLORY

from warded.approve._encoding import b64url_decode, b64url_encode
from warded.approve.capability import (
    CAPABILITY_DOMAIN,
    CapabilityRejected,
    TokenCode,
    TokenVerifier,
    issue_token,
    read_claims,
)
from warded.approve.digest import action_digest

T0 = 1_700_000_000.0
ARGS: dict[str, Any] = {"path": "/srv/report.txt", "mode": "w"}
NONCE = "tok_nonce_0123456789"
EXP = T0 + 60.0
DIGEST = action_digest("agent", "s1", "write_file", ARGS, EXP, NONCE)
KEYS = {ALICE.key_id: ALICE.public_key}


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def verifier(clock: Clock | None = None, **kwargs: Any) -> TokenVerifier:
    return TokenVerifier(KEYS, clock or Clock(), **kwargs)


def token(signer: Any = ALICE, digest: str = DIGEST, exp: float = EXP, nonce: str = NONCE) -> str:
    return issue_token(signer, digest, exp, nonce)


def resign(payload: bytes, signer: Any = ALICE) -> str:
    """A token with an arbitrary payload, correctly signed: only the parser's strictness refuses it."""
    sig = signer.sign(CAPABILITY_DOMAIN + payload)
    return f"wct1.{b64url_encode(payload)}.{b64url_encode(sig)}"


def expect(code: TokenCode, tok: str, digest: str = DIGEST, v: TokenVerifier | None = None) -> None:
    with pytest.raises(CapabilityRejected) as info:
        (verifier() if v is None else v).verify(tok, digest)
    assert info.value.code is code, info.value
    assert info.value.reason.rule_id == code.value


def test_accepts_once() -> None:
    v = verifier()
    tok = token()
    v.verify(tok, DIGEST)
    expect(TokenCode.REPLAYED, tok, v=v)


def test_verify_action_recomputes_the_digest() -> None:
    v = verifier()
    v.verify_action(token(), agent_id="agent", session_id="s1", tool="write_file", arguments=ARGS)
    with pytest.raises(CapabilityRejected) as info:
        v.verify_action(
            token(nonce="another_nonce_000000"),
            agent_id="agent",
            session_id="s1",
            tool="write_file",
            arguments=ARGS | {"path": "/etc/passwd"},
        )
    assert info.value.code is TokenCode.DIGEST_MISMATCH
    with pytest.raises(CapabilityRejected) as info:
        v.verify_action(token(), agent_id="agent", session_id="s1", tool="write_file", arguments={"x": b"raw"})
    assert info.value.code is TokenCode.DIGEST_MISMATCH


def test_token_is_compact_and_its_claims_readable() -> None:
    tok = token()
    assert tok.isascii() and len(tok) < 300
    claims = read_claims(tok)
    assert (claims.digest, claims.expires_at, claims.key_id, claims.nonce) == (DIGEST, EXP, ALICE.key_id, NONCE)


OTHER_DIGEST = action_digest("agent", "s1", "write_file", ARGS | {"mode": "a"}, EXP, NONCE)
PAYLOAD = b64url_decode(token().split(".")[1])
GOOD_PAYLOAD = json.loads(PAYLOAD)


def payload_with(**changes: Any) -> bytes:
    data = GOOD_PAYLOAD | changes
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


REFUSALS: dict[str, tuple[TokenCode, str, str]] = {
    "forged: another key": (TokenCode.UNKNOWN_SIGNER, token(signer=MALLORY), DIGEST),
    "forged: another key under the issuer's id": (
        TokenCode.BAD_SIGNATURE,
        resign(PAYLOAD, MALLORY),
        DIGEST,
    ),
    "payload edited, signature kept": (
        TokenCode.BAD_SIGNATURE,
        ".".join(
            [
                "wct1",
                b64url_encode(payload_with(exp=EXP + 3000)),
                token().split(".")[2],
            ]
        ),
        DIGEST,
    ),
    "signature of another token": (
        TokenCode.BAD_SIGNATURE,
        ".".join([*token().split(".")[:2], token(nonce="another_nonce_000000").split(".")[2]]),
        DIGEST,
    ),
    "wrong digest": (TokenCode.DIGEST_MISMATCH, token(), OTHER_DIGEST),
    "token for another call": (TokenCode.DIGEST_MISMATCH, token(digest=OTHER_DIGEST), DIGEST),
    "expired": (TokenCode.EXPIRED, token(exp=T0), DIGEST),
    "expired long ago": (TokenCode.EXPIRED, token(exp=T0 - 3600), DIGEST),
    "lives too long": (TokenCode.CLOCK_SKEW, token(exp=T0 + 901), DIGEST),
    "empty": (TokenCode.MALFORMED, "", DIGEST),
    "two parts": (TokenCode.MALFORMED, "wct1." + token().split(".")[1], DIGEST),
    "four parts": (TokenCode.MALFORMED, token() + ".x", DIGEST),
    "other prefix": (TokenCode.MALFORMED, "wct2" + token()[4:], DIGEST),
    "upper-case prefix": (TokenCode.MALFORMED, "WCT1" + token()[4:], DIGEST),
    "padded base64": (TokenCode.MALFORMED, token() + "==", DIGEST),
    "standard base64 alphabet": (TokenCode.MALFORMED, token().replace("-", "+").replace("_", "/") + "+/", DIGEST),
    "truncated signature": (TokenCode.MALFORMED, token()[:-4], DIGEST),
    "non-ASCII": (TokenCode.MALFORMED, token()[:-1] + "é", DIGEST),
    "too long": (TokenCode.MALFORMED, token() + "A" * 2000, DIGEST),
    "payload with whitespace": (TokenCode.MALFORMED, resign(json.dumps(GOOD_PAYLOAD, sort_keys=True).encode()), DIGEST),
    "payload with an extra field": (TokenCode.MALFORMED, resign(payload_with(aud="x")), DIGEST),
    "payload missing a field": (
        TokenCode.MALFORMED,
        resign(
            json.dumps(
                {k: v for k, v in GOOD_PAYLOAD.items() if k != "nonce"}, sort_keys=True, separators=(",", ":")
            ).encode()
        ),
        DIGEST,
    ),
    "payload with integer expiry": (TokenCode.MALFORMED, resign(payload_with(exp=int(EXP))), DIGEST),
    "payload version 2": (TokenCode.MALFORMED, resign(payload_with(v=2)), DIGEST),
    "payload version true": (TokenCode.MALFORMED, resign(payload_with(v=True)), DIGEST),
    "payload short nonce": (TokenCode.MALFORMED, resign(payload_with(nonce="short")), DIGEST),
    "payload digest upper case": (TokenCode.MALFORMED, resign(payload_with(dig=DIGEST.upper())), DIGEST),
    "payload not JSON": (TokenCode.MALFORMED, resign(b"\xff\xfe"), DIGEST),
    "payload a list": (TokenCode.MALFORMED, resign(b"[]"), DIGEST),
    "payload with a duplicate key": (TokenCode.MALFORMED, resign(PAYLOAD[:-1] + b',"v":1}'), DIGEST),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_refusals(name: str) -> None:
    code, tok, digest = REFUSALS[name]
    expect(code, tok, digest)


def test_non_string_token_is_malformed() -> None:
    expect(TokenCode.MALFORMED, None, DIGEST)  # type: ignore[arg-type]
    expect(TokenCode.MALFORMED, token().encode(), DIGEST)  # type: ignore[arg-type]


def test_a_refused_token_is_not_consumed() -> None:
    v = verifier()
    tok = token()
    expect(TokenCode.DIGEST_MISMATCH, tok, OTHER_DIGEST, v=v)
    v.verify(tok, DIGEST)


def test_used_nonces_are_forgotten_after_expiry() -> None:
    clock = Clock()
    v = verifier(clock)
    for i in range(10):
        v.verify(token(digest=DIGEST, nonce=f"nonce_{i:016d}", exp=T0 + 10 + i), DIGEST)
    assert v.used_count == 10
    clock.now = T0 + 15
    v.verify(token(nonce="nonce_later_00000000", exp=T0 + 100), DIGEST)
    assert v.used_count == 5  # nonces 5..9 and the new one; 0..4 expired at or before T0 + 15


def test_a_stepped_back_clock_cannot_revive_a_token() -> None:
    clock = Clock()
    v = verifier(clock)
    tok = token(exp=T0 + 10)
    v.verify(tok, DIGEST)
    clock.now = T0 + 20
    v.verify(token(nonce="nonce_purge_00000000", exp=T0 + 30), DIGEST)  # purges the first nonce
    clock.now = T0 + 5  # the system clock steps back
    expect(TokenCode.EXPIRED, tok, v=v)


def test_capacity_refuses_rather_than_forgets() -> None:
    v = verifier(max_entries=3)
    for i in range(3):
        v.verify(token(nonce=f"nonce_{i:016d}"), DIGEST)
    expect(TokenCode.CAPACITY, token(nonce="nonce_overflow_00000"), v=v)
    expect(TokenCode.REPLAYED, token(nonce=f"nonce_{0:016d}"), v=v)


def test_broken_clock_is_refused() -> None:
    v = TokenVerifier(KEYS, lambda: float("nan"))
    expect(TokenCode.CLOCK_SKEW, token(), v=v)


def test_threads_racing_for_one_token_succeed_once() -> None:
    v = verifier()
    tok = token()
    start = threading.Barrier(16)
    results: list[str] = []
    lock = threading.Lock()

    def use() -> None:
        start.wait()
        try:
            v.verify(tok, DIGEST)
            outcome = "ok"
        except CapabilityRejected as exc:
            outcome = exc.code.value
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1
    assert results.count("capability.replayed") == 15


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((ALICE, "0" * 63, EXP, NONCE), {}),
        ((ALICE, DIGEST, float("inf"), NONCE), {}),
        ((ALICE, DIGEST, "soon", NONCE), {}),
        ((ALICE, DIGEST, EXP, "short"), {}),
        ((ALICE, DIGEST, EXP, "has space in it 0000"), {}),
        (("not a signer", DIGEST, EXP, NONCE), {}),
    ],
)
def test_issue_refuses_bad_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(CapabilityRejected) as info:
        issue_token(*args, **kwargs)
    assert info.value.code is TokenCode.MALFORMED


def test_verifier_configuration_is_checked() -> None:
    with pytest.raises(CapabilityRejected):
        TokenVerifier({"k": "not a key"}, Clock())  # type: ignore[dict-item]
    with pytest.raises(CapabilityRejected):
        verifier(max_ttl_s=0)
    with pytest.raises(CapabilityRejected):
        verifier(max_entries=0)


def test_read_claims_refuses_garbage() -> None:
    with pytest.raises(CapabilityRejected):
        read_claims("nonsense")
