"""WebAuthn approvals without a browser: a software authenticator (P-256, as a security key signs) makes real
assertions, and every way one can be wrong is refused with its rule id. The browser tests
(tests/console/test_console_browser.py) run the same checks behind Chrome's virtual authenticator."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from warded.approve._encoding import b64url_decode, b64url_encode
from warded.approve.approvals import ApprovalRejected, ApprovalRequest, ApprovalVerdict, RejectCode, make_request
from warded.approve.credentials import CredentialStore, SQLiteCredentialStore
from warded.approve.methods import ApprovalMethod
from warded.approve.webauthn import (
    Credential,
    RelyingParty,
    WebAuthnApproval,
    approval_challenge,
    approval_record,
    check_assertion,
    verdict_from_json,
    verify_audited_approvals,
    verify_webauthn_approval,
    verify_webauthn_signature,
    webauthn_approval_from_json,
)
from warded.audit.chain import AuditEntry
from warded.core.types import Tier
from warded.errors import StoreError
from warded.policy.schema import ApprovalSpec

RP = RelyingParty("localhost", "warded", ("http://localhost:8787",))
NOW = 1_800_000_000.0


class SoftKey:
    """A minimal CTAP2-style authenticator: ES256, a counter, UV on or off."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = b64url_encode(secrets.token_bytes(16))
        self.count = 0
        numbers = self.private.public_key().public_numbers()
        self.cose = cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )

    def credential(self, approver: str = "carol") -> Credential:
        return Credential(self.credential_id, approver, self.cose, 0, NOW)

    def assert_(
        self, challenge: bytes, *, uv: bool = True, origin: str = "http://localhost:8787", rp_id: str = "localhost"
    ) -> str:
        self.count += 1
        flags = 0x01 | (0x04 if uv else 0)
        auth = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + self.count.to_bytes(4, "big")
        client = json.dumps(
            {"type": "webauthn.get", "challenge": b64url_encode(challenge), "origin": origin, "crossOrigin": False}
        ).encode()
        signature = self.private.sign(auth + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": self.credential_id,
                "rawId": self.credential_id,
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url_encode(client),
                    "authenticatorData": b64url_encode(auth),
                    "signature": b64url_encode(signature),
                },
            }
        )


def _request(amount: float = 120.0) -> ApprovalRequest:
    return make_request(
        request_id=f"r{int(amount)}",
        agent_id="mail-assistant",
        session_id="s1",
        tool="send_payment",
        arguments={"to_account": "GB33BUKB20201555555555", "amount": amount},
        created_at=NOW,
        expires_at=NOW + 900,
        nonce=secrets.token_hex(16),
        tier=Tier.FINANCIAL,
    )


def _approved(
    key: SoftKey, verdict: ApprovalVerdict = ApprovalVerdict.APPROVE
) -> tuple[ApprovalRequest, WebAuthnApproval]:
    request = _request()
    credential = key.credential()
    challenge = approval_challenge(request.digest, verdict)
    checked = check_assertion(key.assert_(challenge), challenge, credential, RP)
    return request, approval_record(request, verdict, checked, credential, RP, decided_at=NOW + 5)


def _code(exc: pytest.ExceptionInfo[ApprovalRejected]) -> RejectCode:
    return exc.value.code


def test_the_challenge_is_the_action_digest_and_a_denial_signs_another() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert approval_challenge(digest, ApprovalVerdict.APPROVE) == bytes.fromhex(digest)
    assert approval_challenge(digest, ApprovalVerdict.DENY) != bytes.fromhex(digest)


def test_an_approval_verifies_and_lets_exactly_that_action_run_once() -> None:
    key = SoftKey()
    request, record = _approved(key)
    creds = {key.credential_id: key.credential()}
    verify_webauthn_approval(
        request,
        record,
        creds,
        RP,
        now=NOW + 10,
        used=set(),
        action_digest=request.digest,
        max_skew=30,
    )
    with pytest.raises(ApprovalRejected) as exc:
        verify_webauthn_approval(
            request,
            record,
            creds,
            RP,
            now=NOW + 10,
            used={request.nonce},
            action_digest=request.digest,
            max_skew=30,
        )
    assert _code(exc) is RejectCode.REPLAYED
    other = _request(121.0)
    with pytest.raises(ApprovalRejected) as exc:
        verify_webauthn_approval(
            request,
            record,
            creds,
            RP,
            now=NOW + 10,
            used=set(),
            action_digest=other.digest,
            max_skew=30,
        )
    assert _code(exc) is RejectCode.DIGEST_MISMATCH
    with pytest.raises(ApprovalRejected) as exc:
        verify_webauthn_approval(
            request,
            record,
            creds,
            RP,
            now=NOW + 901,
            used=set(),
            action_digest=request.digest,
            max_skew=30,
        )
    assert _code(exc) is RejectCode.EXPIRED


def test_a_denial_never_reads_as_an_approval() -> None:
    key = SoftKey()
    request, record = _approved(key, ApprovalVerdict.DENY)
    creds = {key.credential_id: key.credential()}
    verify_webauthn_signature(request, record, creds, RP)
    with pytest.raises(ApprovalRejected) as exc:
        verify_webauthn_signature(request, replace(record, verdict=ApprovalVerdict.APPROVE), creds, RP)
    assert _code(exc) is RejectCode.DIGEST_MISMATCH


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("unregistered", RejectCode.UNKNOWN_SIGNER),
        ("other_approver", RejectCode.UNKNOWN_SIGNER),
        ("other_key", RejectCode.BAD_SIGNATURE),
        ("signature", RejectCode.BAD_SIGNATURE),
        ("counter", RejectCode.BAD_SIGNATURE),
        ("other_request", RejectCode.DIGEST_MISMATCH),
        ("origin", RejectCode.BAD_SIGNATURE),
    ],
)
def test_a_tampered_or_foreign_stored_assertion_is_refused(change: str, code: RejectCode) -> None:
    key = SoftKey()
    request, record = _approved(key)
    creds: dict[str, Credential] = {key.credential_id: key.credential()}
    if change == "unregistered":
        creds = {}
    elif change == "other_approver":
        creds = {key.credential_id: key.credential("mallory")}
    elif change == "other_key":
        creds = {key.credential_id: replace(key.credential(), public_key=SoftKey().cose)}
    elif change == "signature":
        raw = bytearray(b64url_decode(record.signature))
        raw[-1] ^= 1
        record = replace(record, signature=b64url_encode(bytes(raw)))
    elif change == "counter":
        record = replace(record, sign_count=record.sign_count + 5)
    elif change == "other_request":
        request = replace(_request(), id=record.request_id)
    elif change == "origin":
        record = replace(record, origin="http://evil.example")
    with pytest.raises(ApprovalRejected) as exc:
        verify_webauthn_signature(request, record, creds, RP)
    assert _code(exc) is code


def test_fresh_assertions_are_refused_without_uv_for_another_challenge_site_or_counter() -> None:
    key = SoftKey()
    credential = key.credential()
    challenge = secrets.token_bytes(32)
    with pytest.raises(ApprovalRejected) as exc:
        check_assertion(key.assert_(challenge, uv=False), challenge, credential, RP)
    assert _code(exc) is RejectCode.USER_NOT_VERIFIED
    with pytest.raises(ApprovalRejected) as exc:
        check_assertion(key.assert_(secrets.token_bytes(32)), challenge, credential, RP)
    assert _code(exc) is RejectCode.DIGEST_MISMATCH
    with pytest.raises(ApprovalRejected) as exc:
        check_assertion(key.assert_(challenge, origin="http://evil.example"), challenge, credential, RP)
    assert _code(exc) is RejectCode.BAD_SIGNATURE
    with pytest.raises(ApprovalRejected) as exc:
        check_assertion(key.assert_(challenge, rp_id="evil.example"), challenge, credential, RP)
    assert _code(exc) is RejectCode.BAD_SIGNATURE
    good = key.assert_(challenge)
    assert check_assertion(good, challenge, credential, RP).sign_count == key.count
    with pytest.raises(ApprovalRejected) as exc:  # the same assertion once its counter is stored
        check_assertion(good, challenge, replace(credential, sign_count=key.count), RP)
    assert _code(exc) is RejectCode.REPLAYED
    with pytest.raises(ApprovalRejected) as exc:
        check_assertion(SoftKey().assert_(challenge), challenge, credential, RP)
    assert _code(exc) is RejectCode.UNKNOWN_SIGNER
    for junk in ("", "[]", "{", '{"id": "x", "response": {}}', "x" * 100_000):
        with pytest.raises(ApprovalRejected) as exc:
            check_assertion(junk, challenge, credential, RP)
        assert _code(exc) is RejectCode.MALFORMED


def test_stored_records_parse_strictly_by_format() -> None:
    key = SoftKey()
    _, record = _approved(key)
    assert verdict_from_json(record.to_json()) == record
    for broken in (
        {**record.to_json(), "extra": 1},
        {**record.to_json(), "signature": "not base64!"},
        {**record.to_json(), "decided_at": 5},
        {**record.to_json(), "sign_count": -1},
        {k: v for k, v in record.to_json().items() if k != "origin"},
    ):
        with pytest.raises(ApprovalRejected) as exc:
            webauthn_approval_from_json(broken)
        assert _code(exc) is RejectCode.MALFORMED


def test_policy_methods_per_tier() -> None:
    both = frozenset(ApprovalMethod)
    assert ApprovalSpec().methods_for(Tier.FINANCIAL) == both
    spec = ApprovalSpec.model_validate({"methods": {"financial": ["webauthn"]}}, strict=False)
    assert spec.methods_for(Tier.FINANCIAL) == {ApprovalMethod.WEBAUTHN}
    assert spec.methods_for(Tier.WRITE) == both
    assert spec.methods_for(None) == {ApprovalMethod.WEBAUTHN}  # unknown tier: only what every tier accepts
    assert ApprovalSpec.model_validate({"methods": ["ed25519"]}, strict=False).methods_for(None) == {
        ApprovalMethod.ED25519
    }


@contextmanager
def _passkey_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[CredentialStore]:
    if kind == "sqlite":
        with SQLiteCredentialStore(str(tmp_path / "passkeys.db")) as lite:
            yield lite
        return
    from warded.approve.pg_credentials import PostgresCredentialStore  # noqa: PLC0415 - psycopg only here
    from warded.store._postgres import migrate  # noqa: PLC0415

    dsn, schema = request.getfixturevalue("pg_schema")
    migrate(dsn, schema, rooms=["approve"])
    with PostgresCredentialStore(dsn, schema=schema) as pg:
        yield pg


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_enrolment_codes_are_single_use_and_expire(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    key = SoftKey()
    with _passkey_store(kind, tmp_path, request) as store:
        code = store.create_enrolment("carol", NOW, 60)
        assert store.peek_enrolment(code, NOW) == "carol"
        assert store.peek_enrolment(code, NOW + 61) is None
        with pytest.raises(StoreError):
            store.register(code, key.credential("mallory"), NOW)  # the code enrols carol only
        store.register(code, key.credential(), NOW)
        with pytest.raises(StoreError):
            store.register(code, SoftKey().credential(), NOW)  # spent
        assert store.get(key.credential_id) == key.credential()
        assert store.advance(key.credential_id, 0, 3)
        assert not store.advance(key.credential_id, 0, 4)  # someone stored another counter meanwhile
        assert not store.advance(key.credential_id, 3, 3)  # not forward
        late = store.create_enrolment("dave", NOW, 60)
        with pytest.raises(StoreError):
            store.register(late, replace(SoftKey().credential(), approver="dave"), NOW + 61)
        again = store.create_enrolment("carol", NOW, 60)
        with pytest.raises(StoreError, match="already registered"):
            store.register(again, replace(key.credential(), sign_count=9), NOW)
        assert store.peek_enrolment(again, NOW) == "carol"  # the failed registration spent nothing
        assert [c.credential_id for c in store.for_approver("carol")] == [key.credential_id]
        assert store.revoke(key.credential_id) == replace(key.credential(), sign_count=3)
        assert store.get(key.credential_id) is None and store.revoke(key.credential_id) is None


def test_a_passkey_enrolled_on_one_replica_verifies_on_another(pg_schema: tuple[str, str]) -> None:
    """With ``store.postgres`` the console and every gateway replica share the passkeys and their counters
    (review: they were in each machine's own SQLite file, so a replica could not verify an approval)."""
    from warded.approve.pg_credentials import PostgresCredentialStore  # noqa: PLC0415 - psycopg only here
    from warded.store._postgres import migrate  # noqa: PLC0415

    dsn, schema = pg_schema
    migrate(dsn, schema, rooms=["approve"])
    key = SoftKey()
    with PostgresCredentialStore(dsn, schema=schema) as console, PostgresCredentialStore(dsn, schema=schema) as replica:
        console.register(console.create_enrolment("carol", NOW, 60), key.credential(), NOW)
        assert replica.get(key.credential_id) == key.credential()
        assert replica.advance(key.credential_id, 0, 5)
        assert not console.advance(key.credential_id, 0, 6)  # a cloned authenticator's stale counter
        assert console.get(key.credential_id) == replace(key.credential(), sign_count=5)


def test_the_passkey_store_refuses_an_unmigrated_schema(pg_schema: tuple[str, str]) -> None:
    from warded.approve.pg_credentials import PostgresCredentialStore  # noqa: PLC0415 - psycopg only here

    dsn, schema = pg_schema
    with pytest.raises(StoreError, match="warded store migrate"):
        PostgresCredentialStore(dsn, schema=schema)


def _audited(key: SoftKey, record: WebAuthnApproval, seq: int = 2) -> list[AuditEntry]:
    def entry(n: int, kind: str, body: dict[str, Any]) -> AuditEntry:
        return AuditEntry(n, NOW, kind, body, "0" * 64, "0" * 64)

    registration = {
        "approver": "carol",
        "method": "webauthn",
        "credential_id": key.credential_id,
        "public_key": b64url_encode(key.cose),
        "rp_id": "localhost",
    }
    return [
        entry(1, "approver_registered", registration),
        entry(seq, "approval_decided", {"method": "webauthn", "approval": record.to_json()}),
    ]


def test_the_audit_log_alone_proves_each_passkey_verdict() -> None:
    key = SoftKey()
    _, first = _approved(key)
    _, second = _approved(key)
    log = _audited(key, first) + _audited(key, second, seq=3)[1:]
    assert verify_audited_approvals(log) == (1, 2)
    with pytest.raises(ApprovalRejected) as exc:  # the counter went backwards: a cloned key or a replay
        verify_audited_approvals(_audited(key, second) + _audited(key, first, seq=3)[1:])
    assert _code(exc) is RejectCode.REPLAYED and "audit entry 3" in exc.value.detail
    with pytest.raises(ApprovalRejected) as exc:  # never registered in this log
        verify_audited_approvals(_audited(key, first)[1:])
    assert _code(exc) is RejectCode.UNKNOWN_SIGNER
    tampered = replace(first, digest=hashlib.sha256(b"another action").hexdigest())
    with pytest.raises(ApprovalRejected) as exc:
        verify_audited_approvals(_audited(key, tampered))
    assert _code(exc) is RejectCode.DIGEST_MISMATCH
    with pytest.raises(ApprovalRejected) as exc:  # a registration of another key under the same id
        verify_audited_approvals(_audited(SoftKey(), replace(first, credential_id=first.credential_id)))
    assert _code(exc) in (RejectCode.UNKNOWN_SIGNER, RejectCode.BAD_SIGNATURE)


def test_both_approval_stores_keep_a_passkey_verdict_exactly(tmp_path: Path, pg_schema: tuple[str, str]) -> None:
    from warded.approve.pg_store import PostgresApprovalStore  # noqa: PLC0415 - psycopg only here
    from warded.approve.store import SQLiteApprovalStore  # noqa: PLC0415

    key = SoftKey()
    request, record = _approved(key)
    dsn, schema = pg_schema
    with (
        SQLiteApprovalStore(str(tmp_path / "approvals.db")) as lite,
        PostgresApprovalStore(dsn, schema=schema) as pg,
    ):
        for store in (lite, pg):
            store.save_request(request)
            store.record_verdict(record)
            assert store.load_verdict(request.id) == record
            assert store.status(request.id) == "approved"
            assert store.consume(request, NOW + 10) and not store.consume(request, NOW + 11)
