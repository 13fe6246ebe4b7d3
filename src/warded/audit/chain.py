"""The audit hash chain and its signed checkpoints: pure functions, no I/O, no clock.

Entry ``n`` (``n >= 1``) carries ``hash = sha256(canonical_json({"body", "kind", "prev", "seq", "ts"}))``
where ``prev`` is the hash of entry ``n - 1`` (:data:`GENESIS_HASH` for entry 1). Editing, deleting,
inserting or reordering entries breaks the chain. A :class:`Checkpoint` is an Ed25519 signature over
``(seq, head_hash, ts, key_id)``; it pins the chain up to ``seq`` so that cutting entries off the end
(truncation) is detected too. Entries after the last checkpoint are not covered: :class:`VerifyReport`
reports how many there are.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warded.audit.canonical import canonical_json, canonical_str
from warded.errors import AuditError, VerificationError

__all__ = [
    "CHECKPOINT_DOMAIN",
    "GENESIS_HASH",
    "AuditEntry",
    "Checkpoint",
    "VerifyReport",
    "checkpoint_message",
    "decode_body",
    "entry_hash",
    "entry_hash_canonical",
    "verify_chain",
    "verify_checkpoint",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of entry 1."""

CHECKPOINT_DOMAIN = b"warded-audit-checkpoint-v1\n"
"""Prefix of every signed checkpoint message, so the key signs nothing else by accident."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One link of the chain.

    ``body_json`` holds the exact stored body bytes when the entry comes from a store; hashing uses those
    bytes, so a stored body rewritten into different-but-equivalent JSON is still detected. When it is
    ``None`` the hash is computed over ``canonical_json(body)``.
    """

    seq: int
    ts: float
    kind: str
    body: dict[str, Any]
    prev_hash: str
    hash: str
    body_json: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signature by key ``key_id`` over the chain head ``(seq, head_hash)`` at time ``ts``."""

    seq: int
    head_hash: str
    ts: float
    key_id: str
    signature_hex: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a successful verification established.

    ``unsigned_tail`` entries follow the last checkpoint: they are hash-chained but not signed, so
    removing them (truncation) or rewriting them wholesale would not be detected.
    """

    entries: int
    checkpoints: int
    head_seq: int
    head_hash: str
    last_checkpoint_seq: int | None
    unsigned_tail: int

    def summary(self) -> str:
        """A human description, including the truncation caveat when there is an unsigned tail."""
        text = f"audit log OK: {self.entries} entries, {self.checkpoints} checkpoints, head seq {self.head_seq}"
        if self.last_checkpoint_seq is None:
            text += "; no checkpoint"
        else:
            text += f"; last checkpoint at seq {self.last_checkpoint_seq}"
        if self.unsigned_tail:
            text += (
                f". WARNING: {self.unsigned_tail} entries after the last checkpoint are not signed; "
                "their truncation or wholesale rewrite would not be detected"
            )
        return text


def entry_hash(prev_hash: str, seq: int, ts: float, kind: str, body: Mapping[str, Any]) -> str:
    """sha256 hex of ``canonical_json({"prev", "seq", "ts", "kind", "body"})``."""
    if not isinstance(body, dict):
        raise AuditError(f"entry body must be a dict, got {type(body).__name__}")
    return entry_hash_canonical(prev_hash, seq, ts, kind, canonical_json(body))


def entry_hash_canonical(prev_hash: str, seq: int, ts: float, kind: str, body_json: bytes) -> str:
    """:func:`entry_hash` given the body already encoded; equal to it when ``body_json`` is canonical."""
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise AuditError(f"seq must be an int, got {type(seq).__name__}")
    if not isinstance(ts, float) or not math.isfinite(ts):
        raise AuditError(f"ts must be a finite float, got {ts!r}")
    if not isinstance(body_json, bytes):
        raise AuditError(f"body_json must be bytes, got {type(body_json).__name__}")
    # Sorted keys: body, kind, prev, seq, ts. Same bytes as canonical_json of the dict.
    digest = hashlib.sha256(b'{"body":')
    digest.update(body_json)
    digest.update(
        b"".join(
            (
                b',"kind":',
                canonical_str(kind),
                b',"prev":',
                canonical_str(prev_hash),
                b',"seq":',
                int.__repr__(seq).encode("ascii"),
                b',"ts":',
                float.__repr__(ts).encode("ascii"),
                b"}",
            )
        )
    )
    return digest.hexdigest()


def checkpoint_message(seq: int, head_hash: str, ts: float, key_id: str) -> bytes:
    """The bytes a checkpoint signature covers: domain prefix + canonical JSON of its fields."""
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise AuditError(f"checkpoint seq must be an int >= 1, got {seq!r}")
    if not isinstance(ts, float):
        raise AuditError(f"checkpoint ts must be a float, got {ts!r}")
    fields = {"head_hash": head_hash, "key_id": key_id, "seq": seq, "ts": ts}
    return CHECKPOINT_DOMAIN + canonical_json(fields)


def verify_checkpoint(checkpoint: Checkpoint, public_keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Check a checkpoint's signature by the key its ``key_id`` names; raise VerificationError if bad."""
    problem = _checkpoint_problem(checkpoint, public_keys)
    if problem is not None:
        seq = checkpoint.seq if isinstance(checkpoint.seq, int) else None
        raise VerificationError(f"checkpoint at seq {checkpoint.seq!r}: {problem}", seq=seq)


def _checkpoint_problem(cp: Checkpoint, public_keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    if not isinstance(cp.key_id, str):
        return "key id is not a string"
    key = public_keys.get(cp.key_id)
    if key is None:
        return f"signed by unknown key id {cp.key_id!r}"
    if not isinstance(cp.signature_hex, str):
        return "signature is not a string"
    try:
        signature = bytes.fromhex(cp.signature_hex)
        message = checkpoint_message(cp.seq, cp.head_hash, cp.ts, cp.key_id)
    except (ValueError, AuditError):
        return "malformed checkpoint (bad signature hex or fields)"
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return f"signature does not verify with key {cp.key_id}"
    return None


def verify_chain(
    entries: Iterable[AuditEntry],
    checkpoints: Sequence[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey],
) -> VerifyReport:
    """Verify a whole log, streaming ``entries`` (seq order, from 1) one at a time.

    Raises VerificationError whose ``seq`` names the first bad entry: an edited entry, a missing,
    inserted, duplicated or reordered one, a checkpoint with a bad signature or unknown key or whose
    ``head_hash`` differs from the entry at its seq, or a checkpoint beyond the end of the log
    (truncation; ``seq`` is then the first missing entry).
    """
    by_seq: dict[int, list[tuple[Checkpoint, str | None]]] = {}
    for cp in checkpoints:
        if not isinstance(cp.seq, int) or isinstance(cp.seq, bool) or cp.seq < 1:
            raise VerificationError(f"checkpoint with invalid seq {cp.seq!r}", seq=None)
        by_seq.setdefault(cp.seq, []).append((cp, _checkpoint_problem(cp, public_keys)))

    expected = 1
    prev = GENESIS_HASH
    for entry in entries:
        seq = entry.seq
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise VerificationError(f"entry {expected}: seq is {seq!r}, not an integer", seq=expected)
        if seq != expected:
            if seq > expected:
                missing = f"entry {expected}" if seq == expected + 1 else f"entries {expected}..{seq - 1}"
                message = f"{missing} missing: the log jumps from seq {expected - 1} to {seq}"
            else:
                message = f"entry {seq} appears again or out of order where entry {expected} was expected"
            raise VerificationError(message, seq=expected)
        if entry.prev_hash != prev:
            raise VerificationError(
                f"entry {seq}: prev_hash does not match the hash of entry {seq - 1} "
                "(an entry was edited, inserted, deleted or moved)",
                seq=seq,
            )
        try:
            if entry.body_json is not None:
                computed = entry_hash_canonical(entry.prev_hash, seq, entry.ts, entry.kind, entry.body_json)
            else:
                computed = entry_hash(entry.prev_hash, seq, entry.ts, entry.kind, entry.body)
        except AuditError as exc:
            raise VerificationError(f"entry {seq}: malformed ({exc}); it was edited", seq=seq) from exc
        if computed != entry.hash:
            raise VerificationError(f"entry {seq}: hash mismatch, the entry was edited", seq=seq)
        for cp, problem in by_seq.get(seq, ()):
            if problem is not None:
                raise VerificationError(f"checkpoint at seq {seq}: {problem}", seq=seq)
            if cp.head_hash != computed:
                raise VerificationError(f"checkpoint at seq {seq}: signed head hash differs from entry {seq}", seq=seq)
        prev = computed
        expected += 1

    head_seq = expected - 1
    beyond = [s for s in by_seq if s > head_seq]
    if beyond:
        raise VerificationError(
            f"log truncated: it ends at seq {head_seq} but a checkpoint covers seq {min(beyond)}",
            seq=head_seq + 1,
        )
    last_checkpoint_seq = max(by_seq) if by_seq else None
    return VerifyReport(
        entries=head_seq,
        checkpoints=len(checkpoints),
        head_seq=head_seq,
        head_hash=prev,
        last_checkpoint_seq=last_checkpoint_seq,
        unsigned_tail=head_seq - (last_checkpoint_seq or 0),
    )


def decode_body(raw: bytes) -> dict[str, Any] | None:
    """Parse stored body bytes; ``None`` if they are not a JSON object (the hash check will then fail)."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
