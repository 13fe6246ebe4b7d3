"""The checkpoint schedule verify derives from the log itself, and anchors (pure: entries in, report out)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warded.audit.anchor import format_anchor, parse_anchor, parse_anchors
from warded.audit.chain import GENESIS_HASH, SCHEDULE_KEY, AuditEntry, Checkpoint, VerifyRules, entry_hash, verify_chain
from warded.audit.keys import Signer
from warded.errors import AuditError, VerificationError

SIGNER = Signer(Ed25519PrivateKey.generate())
KEYS = {SIGNER.key_id: SIGNER.public_key}


def chain(bodies: list[dict[str, Any]]) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq, body in enumerate(bodies, start=1):
        digest = entry_hash(prev, seq, float(seq), "e", body)
        out.append(AuditEntry(seq, float(seq), "e", body, prev, digest))
        prev = digest
    return out


def start(every: int) -> dict[str, Any]:
    return {SCHEDULE_KEY: {"writer": "w", "checkpoint_every": every, "checkpoint_seconds": 60.0, "key_id": "k"}}


def signed(entries: list[AuditEntry], *seqs: int) -> list[Checkpoint]:
    return [SIGNER.sign_checkpoint(s, entries[s - 1].hash, 100.0 + s) for s in seqs]


@pytest.mark.parametrize(
    ("bodies", "seqs", "rules", "match"),
    [
        pytest.param(
            [start(2)] + [{}] * 5, (1, 2), VerifyRules(checkpoint_every=1000), "entries 3..6", id="declared-n-wins"
        ),
        pytest.param(
            [start(2), {}, start(1_000_000)] + [{}] * 5,
            (1, 2),
            VerifyRules(),
            "entries 3..8",
            id="schedule-declared-in-the-unsigned-tail-is-ignored",
        ),
        pytest.param([{}] * 5, (5,), VerifyRules(checkpoint_every=4), "entries 1..5", id="fallback-n-first-gap"),
        pytest.param(
            [start(4), {}, {SCHEDULE_KEY: {"writer": "w", "closed": True}}],
            (1,),
            VerifyRules(),
            "entry 3 records a clean shutdown",
            id="unsigned-clean-shutdown",
        ),
        pytest.param([start(4), {}], (1,), VerifyRules(expect_stopped=True), "clean shutdown", id="expect-stopped"),
    ],
)
def test_schedule_violations(
    bodies: list[dict[str, Any]], seqs: tuple[int, ...], rules: VerifyRules, match: str
) -> None:
    entries = chain(bodies)
    with pytest.raises(VerificationError, match=match):
        verify_chain(entries, signed(entries, *seqs), KEYS, rules)


def test_within_schedule_passes_and_reports_tail() -> None:
    entries = chain([start(3), {}, {}, {}, {}])
    report = verify_chain(entries, signed(entries, 1, 3), KEYS)
    assert (report.unsigned_tail, report.checkpoint_every, report.last_checkpoint_seq) == (2, 3, 3)
    assert report.last_checkpoint is not None and report.last_checkpoint.seq == 3


def test_anchor_pins_the_head() -> None:
    entries = chain([start(3), {}, {}])
    cps = signed(entries, 1, 3)
    assert verify_chain(entries, cps, KEYS, anchors=[cps[1]]).anchored_seq == 3
    with pytest.raises(VerificationError, match="rolled back"):
        verify_chain(entries[:1], cps[:1], KEYS, anchors=[cps[1]])
    other = chain([start(3), {"x": 1}, {}])
    with pytest.raises(VerificationError, match="differs from the anchored head"):
        verify_chain(other, signed(other, 1, 3), KEYS, anchors=[cps[1]])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("warded-anchor/2 seq=1", id="other-format"),
        pytest.param("warded-anchor/1 seq=0 head=" + "0" * 64, id="truncated"),
        pytest.param(
            "warded-anchor/1 seq=1 head=" + "0" * 64 + " ts=1.0 key=ab sig=" + "0" * 127, id="short-signature"
        ),
        pytest.param("warded-anchor/1 seq=1 head=" + "G" * 64 + " ts=1.0 key=ab sig=" + "0" * 128, id="bad-hex"),
    ],
)
def test_malformed_anchor_is_refused(text: str) -> None:
    with pytest.raises(AuditError):
        parse_anchor(text)


def test_anchor_file_round_trip() -> None:
    entries = chain([start(3)])
    (cp,) = signed(entries, 1)
    line = format_anchor(cp)
    assert parse_anchor(line) == cp
    assert parse_anchors(f"# kept in ticket 7\n{line}\n\n{line}\n") == [cp, cp]
    with pytest.raises(AuditError, match="no anchor"):
        parse_anchors("# nothing\n")


def test_rules_refuse_bad_n() -> None:
    with pytest.raises(AuditError, match="checkpoint_every"):
        VerifyRules(checkpoint_every=0)
