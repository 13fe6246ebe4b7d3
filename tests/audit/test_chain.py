"""Hash chain and checkpoint verification (pure, in memory)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from warded.audit.canonical import canonical_json
from warded.audit.chain import (
    CHECKPOINT_DOMAIN,
    GENESIS_HASH,
    AuditEntry,
    Checkpoint,
    VerifyRules,
    checkpoint_message,
    entry_hash,
    entry_hash_canonical,
    verify_chain,
    verify_checkpoint,
)
from warded.audit.keys import Signer
from warded.errors import AuditError, VerificationError

SIGNER = Signer(Ed25519PrivateKey.generate())
KEYS: dict[str, Ed25519PublicKey] = {SIGNER.key_id: SIGNER.public_key}


def make_entries(n: int, start_ts: float = 1_700_000_000.0) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        body: dict[str, Any] = {"i": seq, "tool": "fs.read", "nested": {"x": [seq, 1.5, None]}}
        ts = start_ts + seq
        digest = entry_hash(prev, seq, ts, "decision", body)
        entries.append(AuditEntry(seq, ts, "decision", body, prev, digest))
        prev = digest
    return entries


def sign(entries: list[AuditEntry], seq: int, signer: Signer = SIGNER) -> Checkpoint:
    return signer.sign_checkpoint(seq, entries[seq - 1].hash, 1_800_000_000.0 + seq)


def rechain(entries: list[AuditEntry]) -> list[AuditEntry]:
    """Recompute every hash, as an attacker without the signing key could."""
    out: list[AuditEntry] = []
    prev = GENESIS_HASH
    for position, entry in enumerate(entries, start=1):
        digest = entry_hash(prev, position, entry.ts, entry.kind, entry.body)
        out.append(AuditEntry(position, entry.ts, entry.kind, entry.body, prev, digest))
        prev = digest
    return out


def expect_bad(entries: list[AuditEntry], checkpoints: list[Checkpoint], seq: int | None, match: str) -> None:
    with pytest.raises(VerificationError, match=match) as info:
        verify_chain(entries, checkpoints, KEYS)
    assert info.value.seq == seq


def test_entry_hash_is_sha256_of_canonical_record() -> None:
    body = {"b": [1, 2], "a": "é"}
    record = {"prev": GENESIS_HASH, "seq": 1, "ts": 12.5, "kind": "k", "body": body}
    expected = hashlib.sha256(canonical_json(record)).hexdigest()
    assert entry_hash(GENESIS_HASH, 1, 12.5, "k", body) == expected
    assert entry_hash_canonical(GENESIS_HASH, 1, 12.5, "k", canonical_json(body)) == expected


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((GENESIS_HASH, True, 1.0, "k", {}), "seq must be an int"),
        ((GENESIS_HASH, 1, 1, "k", {}), "ts must be a finite float"),
        ((GENESIS_HASH, 1, float("nan"), "k", {}), "ts must be a finite float"),
        ((GENESIS_HASH, 1, 1.0, 5, {}), "expected a string"),
        ((None, 1, 1.0, "k", {}), "expected a string"),
        ((GENESIS_HASH, 1, 1.0, "k", []), "body must be a dict"),
        ((GENESIS_HASH, 1, 1.0, "k", {"x": float("inf")}), "finite"),
    ],
)
def test_entry_hash_rejects_bad_fields(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(AuditError, match=match):
        entry_hash(*args)


def test_valid_log_report() -> None:
    entries = make_entries(10)
    report = verify_chain(entries, [sign(entries, 4), sign(entries, 8)], KEYS)
    assert (report.entries, report.checkpoints, report.head_seq) == (10, 2, 10)
    assert report.head_hash == entries[-1].hash
    assert report.last_checkpoint_seq == 8
    assert report.unsigned_tail == 2
    assert "WARNING: 2 entries after the last checkpoint are not signed" in report.summary()


def test_fully_signed_log_has_no_warning() -> None:
    entries = make_entries(3)
    report = verify_chain(entries, [sign(entries, 3)], KEYS)
    assert report.unsigned_tail == 0
    assert "WARNING" not in report.summary()


def test_log_without_any_checkpoint_is_refused() -> None:
    # Every checkpoint deleted: nothing in the log is signed, so nothing in it can be trusted.
    expect_bad(make_entries(5), [], None, "no checkpoint: 5 entries and none signed")


def test_empty_log_is_refused_unless_expected() -> None:
    expect_bad([], [], None, "the log is empty")
    report = verify_chain([], [], KEYS, VerifyRules(allow_empty=True))
    assert (report.entries, report.head_seq, report.head_hash, report.unsigned_tail) == (
        0,
        0,
        GENESIS_HASH,
        0,
    )


def test_empty_log_with_checkpoint_is_truncation() -> None:
    entries = make_entries(2)
    expect_bad([], [sign(entries, 2)], 1, "truncated")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ts", 1_700_000_003.5),
        ("kind", "decisioN"),
        ("body", {"i": 3, "tool": "fs.write", "nested": {"x": [3, 1.5, None]}}),
        ("prev_hash", "1" * 64),
        ("hash", "f" * 64),
        ("seq", "3"),
        ("ts", None),
        ("kind", None),
        ("body", ["not", "a", "dict"]),
    ],
)
def test_edited_field_names_that_entry(field: str, value: Any) -> None:
    entries = make_entries(6)
    checkpoints = [sign(entries, 6)]
    changed: dict[str, Any] = {field: value}
    entries[2] = dataclasses.replace(entries[2], **changed)
    expect_bad(entries, checkpoints, 3, "entry 3")


def test_edit_without_checkpoint_is_still_detected() -> None:
    entries = make_entries(4)
    entries[3] = dataclasses.replace(entries[3], body={"i": 999})
    expect_bad(entries, [], 4, "hash mismatch")


def test_equivalent_but_non_canonical_stored_body_is_detected() -> None:
    # Regression: re-canonicalising the parsed body would hide "1E+16" written over "1e+16".
    body = {"amount": 1e16}
    digest = entry_hash(GENESIS_HASH, 1, 5.0, "k", body)
    honest = AuditEntry(1, 5.0, "k", body, GENESIS_HASH, digest, body_json=b'{"amount":1e+16}')
    signed = [SIGNER.sign_checkpoint(1, digest, 6.0)]
    assert verify_chain([honest], signed, KEYS).entries == 1
    forged = dataclasses.replace(honest, body_json=b'{"amount":1E+16}')
    expect_bad([forged], signed, 1, "hash mismatch")


@pytest.mark.parametrize("deleted", [1, 2, 5])
def test_deletion(deleted: int) -> None:
    entries = make_entries(6)
    checkpoints = [sign(entries, 6)]
    del entries[deleted - 1]
    expect_bad(entries, checkpoints, deleted, f"entry {deleted} missing")


def test_deleting_several_names_the_first() -> None:
    entries = make_entries(8)
    expect_bad(entries[:2] + entries[5:], [], 3, "entries 3..5 missing")


def test_insertion_with_renumbering() -> None:
    entries = make_entries(5)
    checkpoints = [sign(entries, 5)]
    forged_body = {"forged": True}
    forged_hash = entry_hash(entries[1].hash, 3, 1.0, "decision", forged_body)
    forged = AuditEntry(3, 1.0, "decision", forged_body, entries[1].hash, forged_hash)
    renumbered = [dataclasses.replace(e, seq=e.seq + 1) for e in entries[2:]]
    expect_bad([*entries[:2], forged, *renumbered], checkpoints, 4, "prev_hash")


def test_duplicate_entry() -> None:
    entries = make_entries(4)
    expect_bad([entries[0], entries[1], entries[1], entries[2]], [], 3, "appears again or out of order")


def test_reorder() -> None:
    entries = make_entries(5)
    swapped = [entries[0], entries[2], entries[1], entries[3], entries[4]]
    expect_bad(swapped, [sign(entries, 5)], 2, "entry 2 missing")


def test_reorder_keeping_seq_numbers() -> None:
    entries = make_entries(5)
    a, b = entries[1], entries[3]
    entries[1] = dataclasses.replace(b, seq=2)
    entries[3] = dataclasses.replace(a, seq=4)
    expect_bad(entries, [], 2, "prev_hash")


@pytest.mark.parametrize("keep", [0, 1, 3, 5])
def test_truncation_before_checkpoint(keep: int) -> None:
    entries = make_entries(6)
    checkpoints = [sign(entries, 2), sign(entries, 6)]
    expect_bad(entries[:keep], checkpoints, keep + 1, "truncated")


def test_truncation_of_unsigned_tail_is_only_reported() -> None:
    entries = make_entries(6)
    report = verify_chain(entries[:5], [sign(entries, 4)], KEYS)
    assert report.unsigned_tail == 1


def test_rewritten_chain_is_caught_by_the_covering_checkpoint() -> None:
    entries = make_entries(8)
    checkpoints = [sign(entries, 2), sign(entries, 6)]
    entries[3] = dataclasses.replace(entries[3], body={"i": "rewritten"})
    expect_bad(rechain(entries), checkpoints, 6, "signed head hash differs")


def test_rewrite_of_the_unsigned_tail_is_not_detectable_but_reported() -> None:
    entries = make_entries(8)
    checkpoints = [sign(entries, 6)]
    entries[7] = dataclasses.replace(entries[7], body={"i": "rewritten"})
    assert verify_chain(rechain(entries), checkpoints, KEYS).unsigned_tail == 2


def test_bad_signature() -> None:
    entries = make_entries(4)
    cp = sign(entries, 3)
    flipped = ("0" if cp.signature_hex[0] != "0" else "1") + cp.signature_hex[1:]
    expect_bad(entries, [dataclasses.replace(cp, signature_hex=flipped)], 3, "does not verify")


@pytest.mark.parametrize(
    ("field", "value"),
    [("ts", 1.0), ("key_id", "0" * 16), ("signature_hex", "zz"), ("signature_hex", None), ("key_id", 7)],
)
def test_tampered_checkpoint_fields(field: str, value: Any) -> None:
    entries = make_entries(4)
    changed: dict[str, Any] = {field: value}
    cp = dataclasses.replace(sign(entries, 3), **changed)
    expect_bad(entries, [cp], 3, "checkpoint at seq 3")


def test_unknown_key() -> None:
    entries = make_entries(3)
    other = Signer(Ed25519PrivateKey.generate())
    expect_bad(entries, [sign(entries, 2, other)], 2, "unknown key id")


def test_checkpoint_over_wrong_head() -> None:
    entries = make_entries(4)
    cp = SIGNER.sign_checkpoint(3, entries[1].hash, 5.0)
    expect_bad(entries, [cp], 3, "signed head hash differs from entry 3")


def test_checkpoint_moved_to_another_seq() -> None:
    entries = make_entries(4)
    cp = dataclasses.replace(sign(entries, 2), seq=3)
    expect_bad(entries, [cp], 3, "does not verify")


@pytest.mark.parametrize("seq", [0, -1, "2", None, True])
def test_checkpoint_with_invalid_seq(seq: Any) -> None:
    entries = make_entries(3)
    cp = dataclasses.replace(sign(entries, 2), seq=seq)
    expect_bad(entries, [cp], None, "invalid seq")


def test_first_problem_wins() -> None:
    entries = make_entries(6)
    bad_cp = dataclasses.replace(sign(entries, 4), signature_hex="00" * 64)
    entries[1] = dataclasses.replace(entries[1], kind="edited")
    expect_bad(entries, [bad_cp], 2, "entry 2")
    entries = make_entries(6)
    expect_bad(entries[:5], [bad_cp, sign(entries, 6)], 4, "checkpoint at seq 4")


def test_streams_entries_and_stops_at_first_problem() -> None:
    entries = make_entries(50)
    entries[2] = dataclasses.replace(entries[2], kind="edited")
    pulled: list[int] = []

    def stream() -> Iterator[AuditEntry]:
        for entry in entries:
            pulled.append(entry.seq)
            yield entry

    with pytest.raises(VerificationError):
        verify_chain(stream(), [], KEYS)
    assert pulled == [1, 2, 3]


def test_checkpoint_message_is_domain_separated_and_canonical() -> None:
    message = checkpoint_message(3, "ab" * 32, 7.5, "0123456789abcdef")
    assert message.startswith(CHECKPOINT_DOMAIN)
    assert message[len(CHECKPOINT_DOMAIN) :] == canonical_json(
        {"seq": 3, "head_hash": "ab" * 32, "ts": 7.5, "key_id": "0123456789abcdef"}
    )
    assert checkpoint_message(3, "ab" * 32, 7.5, "0123456789abcdef") == message
    assert checkpoint_message(4, "ab" * 32, 7.5, "0123456789abcdef") != message


@pytest.mark.parametrize(("seq", "ts"), [(0, 1.0), (True, 1.0), (1, 1), (1, float("nan"))])
def test_checkpoint_message_rejects_bad_fields(seq: Any, ts: Any) -> None:
    with pytest.raises(AuditError):
        checkpoint_message(seq, "ab" * 32, ts, "k")


def test_verify_checkpoint() -> None:
    cp = SIGNER.sign_checkpoint(1, GENESIS_HASH, 2.0)
    verify_checkpoint(cp, KEYS)  # a valid checkpoint: returns without raising
    with pytest.raises(VerificationError, match="does not verify") as info:
        verify_checkpoint(dataclasses.replace(cp, head_hash="1" * 64), KEYS)
    assert info.value.seq == 1
