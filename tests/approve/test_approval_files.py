"""Approval files and the CLI's library functions: strict parsing, approve/deny/show, submit from elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from approve_helpers import ALICE, APPROVERS, ARGS, BOB, DECIDED, EXPIRES, MALLORY, NOW, new_request

from warded.approve.approvals import (
    ApprovalRejected,
    ApprovalVerdict,
    RejectCode,
    SignedApproval,
    sign_approval,
    verify_approval,
)
from warded.approve.digest import action_digest
from warded.approve.files import (
    approve_request,
    decode_approval,
    deny_request,
    encode_approval,
    read_approval_file,
    show_request,
    submit_approval,
    write_approval_file,
)
from warded.approve.keys import load_approvers
from warded.approve.store import RequestStatus, SQLiteApprovalStore
from warded.audit.keys import generate_keypair, public_key_path
from warded.errors import KeyFileError, StoreError

APPROVAL = sign_approval(new_request(), ALICE, "alice", DECIDED)
DATA = encode_approval(APPROVAL)
DIGEST = action_digest("mail-assistant", "s1", "send_payment", ARGS, EXPIRES, "n" * 32)


def malformed(data: bytes) -> None:
    with pytest.raises(ApprovalRejected) as info:
        decode_approval(data)
    assert info.value.code is RejectCode.MALFORMED


def test_format_is_canonical_json_and_a_newline() -> None:
    assert DATA.endswith(b"}\n")
    assert b" " not in DATA
    obj = json.loads(DATA)
    assert list(obj) == sorted(obj)
    assert obj["format"] == "warded-approval/1"
    assert decode_approval(DATA) == APPROVAL


def test_every_truncation_is_refused() -> None:
    for cut in range(len(DATA)):
        malformed(DATA[:cut])


def edited(**changes: Any) -> bytes:
    obj = json.loads(DATA) | changes
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def without(key: str) -> bytes:
    obj = {k: v for k, v in json.loads(DATA).items() if k != key}
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(edited(extra=1), id="extra key"),
        pytest.param(without("signature"), id="missing signature"),
        pytest.param(without("expires_at"), id="missing expiry"),
        pytest.param(edited(decided_at=int(DECIDED)), id="integer time"),
        pytest.param(edited(decided_at=str(DECIDED)), id="string time"),
        pytest.param(edited(verdict="APPROVE"), id="verdict case"),
        pytest.param(edited(verdict=True), id="verdict bool"),
        pytest.param(edited(signature=APPROVAL.signature.upper()), id="signature upper case"),
        pytest.param(edited(signature=APPROVAL.signature[:-2]), id="signature short"),
        pytest.param(edited(key_id=None), id="key id null"),
        pytest.param(edited(format="warded-approval/2"), id="format"),
        pytest.param(edited(approver=["alice"]), id="approver list"),
        pytest.param(edited(request_id=""), id="request id empty"),
        pytest.param(DATA[:-1], id="no final newline"),
        pytest.param(DATA + b"\n", id="two newlines"),
        pytest.param(DATA[:-1] + b" \n", id="trailing space"),
        pytest.param(b"\xef\xbb\xbf" + DATA, id="byte order mark"),
        pytest.param(json.dumps(json.loads(DATA), indent=2).encode() + b"\n", id="pretty printed"),
        pytest.param(json.dumps(json.loads(DATA)).encode() + b"\n", id="spaces"),
        pytest.param(
            json.dumps(dict(reversed(list(json.loads(DATA).items()))), separators=(",", ":")).encode() + b"\n",
            id="keys unsorted",
        ),
        pytest.param(DATA[:-2] + b',"verdict":"approve"}\n', id="duplicate key"),
        pytest.param(DATA.replace(b'"decided_at":', b'"decided_at": ', 1), id="space in object"),
        pytest.param(b"[]\n", id="array"),
        pytest.param(b"null\n", id="null"),
        pytest.param(b"\xff\n", id="invalid UTF-8"),
        pytest.param(b"{" + b" " * 20_000 + b"}\n", id="too large"),
        pytest.param(b"", id="empty"),
    ],
)
def test_malformed_files_are_refused(data: bytes) -> None:
    malformed(data)


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(ApprovalRejected):
        decode_approval(DATA.decode())  # type: ignore[arg-type]
    with pytest.raises(ApprovalRejected):
        encode_approval(APPROVAL.to_json())  # type: ignore[arg-type]


def test_write_and_read(tmp_path: Path) -> None:
    path = tmp_path / "approval.json"
    write_approval_file(path, APPROVAL)
    assert path.read_bytes() == DATA
    assert read_approval_file(path) == APPROVAL
    with pytest.raises(StoreError, match="overwrite"):
        write_approval_file(path, APPROVAL)
    with pytest.raises(ApprovalRejected) as info:
        read_approval_file(tmp_path / "missing.json")
    assert info.value.code is RejectCode.MALFORMED


# -- the CLI flow ---------------------------------------------------------------------------------


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, Path]:
    """A database holding one pending request, and alice's key file."""
    db = str(tmp_path / "warded.db")
    with SQLiteApprovalStore(db) as store:
        store.save_request(new_request())
    key = tmp_path / "alice.key"
    generate_keypair(key)
    return db, key


def approvers_for(key: Path, name: str = "alice") -> Any:
    return load_approvers({name: public_key_path(key)})


def test_approve_then_use_once(setup: tuple[str, Path]) -> None:
    db, key = setup
    approval = approve_request(db, "r0001", key, "alice", NOW)
    approvers = approvers_for(key)
    with SQLiteApprovalStore(db) as store:
        assert store.status("r0001") == RequestStatus.APPROVED
        request = store.load_request("r0001")
        assert request is not None
        assert store.load_verdict("r0001") == approval
        verify_approval(request, approval, approvers, NOW + 1, store.used_nonces, action_digest=DIGEST)
        assert store.consume(request, NOW + 1)
        with pytest.raises(ApprovalRejected) as info:
            verify_approval(request, approval, approvers, NOW + 2, store.used_nonces, action_digest=DIGEST)
        assert info.value.code is RejectCode.REPLAYED


def test_argument_changed_after_approval_is_refused(setup: tuple[str, Path]) -> None:
    db, key = setup
    approval = approve_request(db, "r0001", key, "alice", NOW)
    with SQLiteApprovalStore(db) as store:
        request = store.load_request("r0001")
        assert request is not None
        changed = action_digest("mail-assistant", "s1", "send_payment", ARGS | {"to": "eve@evil.example"},
                                request.expires_at, request.nonce)  # fmt: skip
        with pytest.raises(ApprovalRejected) as info:
            verify_approval(request, approval, approvers_for(key), NOW, store.used_nonces, action_digest=changed)
        assert info.value.code is RejectCode.DIGEST_MISMATCH


def test_deny_is_final(setup: tuple[str, Path]) -> None:
    db, key = setup
    denial = deny_request(db, "r0001", key, "alice", NOW)
    assert denial.verdict is ApprovalVerdict.DENY
    with pytest.raises(StoreError, match="already denied"):
        approve_request(db, "r0001", key, "alice", NOW)
    with SQLiteApprovalStore(db) as store:
        request = store.load_request("r0001")
        assert request is not None
        with pytest.raises(ApprovalRejected) as info:
            verify_approval(request, denial, approvers_for(key), NOW, (), action_digest=DIGEST)
        assert info.value.code is RejectCode.DENIED


def test_approve_writes_an_approval_file(setup: tuple[str, Path], tmp_path: Path) -> None:
    db, key = setup
    out = tmp_path / "r0001.approval"
    approval = approve_request(db, "r0001", key, "alice", NOW, out_path=out)
    assert read_approval_file(out) == approval


def test_approve_refuses_expired_unknown_and_decided_requests(setup: tuple[str, Path]) -> None:
    db, key = setup
    with pytest.raises(ApprovalRejected) as info:
        approve_request(db, "r0001", key, "alice", EXPIRES)
    assert info.value.code is RejectCode.EXPIRED
    with pytest.raises(StoreError, match="no approval request"):
        approve_request(db, "r9999", key, "alice", NOW)
    approve_request(db, "r0001", key, "alice", NOW)
    with pytest.raises(StoreError, match="already approved"):
        approve_request(db, "r0001", key, "alice", NOW)


def test_approve_with_an_unconfigured_key_records_nothing(setup: tuple[str, Path], tmp_path: Path) -> None:
    db, _ = setup
    other = tmp_path / "mallory.key"
    generate_keypair(other)
    with pytest.raises(ApprovalRejected) as info:
        approve_request(db, "r0001", other, "mallory", NOW, approvers=APPROVERS)
    assert info.value.code is RejectCode.UNKNOWN_SIGNER
    with SQLiteApprovalStore(db) as store:
        assert store.status("r0001") == RequestStatus.PENDING


def test_approve_with_a_bad_key_file(setup: tuple[str, Path], tmp_path: Path) -> None:
    db, _ = setup
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with pytest.raises(KeyFileError):
        approve_request(db, "r0001", bad, "alice", NOW)


def test_submit_an_approval_signed_elsewhere(setup: tuple[str, Path]) -> None:
    db, _ = setup
    request = new_request()
    submit_approval(db, sign_approval(request, BOB, "bob", DECIDED), APPROVERS, NOW)
    with SQLiteApprovalStore(db) as store:
        assert store.status("r0001") == RequestStatus.APPROVED


@pytest.mark.parametrize(
    ("approval", "now", "code"),
    [
        (sign_approval(new_request(), MALLORY, "mallory", DECIDED), NOW, RejectCode.UNKNOWN_SIGNER),
        (sign_approval(new_request(), ALICE, "alice", DECIDED), EXPIRES, RejectCode.EXPIRED),
        (sign_approval(new_request(expires_at=EXPIRES + 5), ALICE, "alice", DECIDED), NOW, RejectCode.DIGEST_MISMATCH),
    ],
)
def test_submit_refuses(setup: tuple[str, Path], approval: SignedApproval, now: float, code: RejectCode) -> None:
    db, _ = setup
    with pytest.raises(ApprovalRejected) as info:
        submit_approval(db, approval, APPROVERS, now)
    assert info.value.code is code
    with SQLiteApprovalStore(db) as store:
        assert store.status("r0001") == RequestStatus.PENDING


def test_submit_for_unknown_request(setup: tuple[str, Path]) -> None:
    db, _ = setup
    with pytest.raises(StoreError):
        submit_approval(db, sign_approval(new_request(request_id="r0404"), ALICE, "alice", DECIDED), APPROVERS, NOW)


def test_show_request(setup: tuple[str, Path]) -> None:
    db, key = setup
    text = show_request(db, "r0001", now=NOW)
    for needle in ("send_payment", "financial", "carol@example.com", "flow.untrusted_value", "tool:read_inbox",
                   "expires:", "pending"):  # fmt: skip
        assert needle in text
    approve_request(db, "r0001", key, "alice", NOW)
    assert "approve by alice" in show_request(db, "r0001")
    with pytest.raises(StoreError):
        show_request(db, "r9999")


def test_load_approvers(tmp_path: Path) -> None:
    key = tmp_path / "a.key"
    kid = generate_keypair(key)
    approvers = load_approvers({"alice": public_key_path(key)})
    assert list(approvers) == [kid]
    assert approvers[kid][0] == "alice"
    with pytest.raises(KeyFileError, match="configured twice"):
        load_approvers({"alice": public_key_path(key), "alice2": public_key_path(key)})
    with pytest.raises(KeyFileError):
        load_approvers({"": public_key_path(key)})
    with pytest.raises(KeyFileError):
        load_approvers({"alice": tmp_path / "missing.pub"})
