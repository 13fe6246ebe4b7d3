"""The audit hash chain and its signed checkpoints: pure functions, no I/O, no clock.

Entry ``n`` (``n >= 1``) carries ``hash = sha256(canonical_json({"body", "kind", "prev", "seq", "ts"}))``
where ``prev`` is the hash of entry ``n - 1`` (:data:`GENESIS_HASH` for entry 1). Editing, deleting,
inserting or reordering entries breaks the chain. A :class:`Checkpoint` is an Ed25519 signature over
``(seq, head_hash, ts, key_id)``; it pins the chain up to ``seq`` so that cutting entries off the end
(truncation) is detected too.

Checkpoints are also *due*: a writer signs every entry whose seq is a multiple of its ``checkpoint_every``
(N), signs its opening entry and signs the head at a clean shutdown. Each writer records its schedule in its
opening entry (body key :data:`SCHEDULE_KEY`), which the opening checkpoint signs. So a log whose
checkpoints were deleted, or whose signed end was cut off, is refused: between two checkpoints (and after
the last one) there may be at most N entries, N being the largest schedule declared in the signed part of
the log (or :attr:`VerifyRules.checkpoint_every` when it declares none). The at most N entries after the
last checkpoint (what a crash may leave) are reported as the unsigned tail: their truncation or rewriting
is detectable only against an external anchor (a checkpoint kept outside the log, see :func:`verify_chain`).
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
    "SCHEDULE_KEY",
    "AuditEntry",
    "Checkpoint",
    "VerifyReport",
    "VerifyRules",
    "checkpoint_message",
    "decode_body",
    "encode_entry",
    "entry_hash",
    "entry_hash_canonical",
    "verify_chain",
    "verify_checkpoint",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of entry 1."""

CHECKPOINT_DOMAIN = b"warded-audit-checkpoint-v1\n"
"""Prefix of every signed checkpoint message, so the key signs nothing else by accident."""

SCHEDULE_KEY = "$audit"
"""Body key of the entries a writer appends about itself: ``{"writer", "checkpoint_every",
"checkpoint_seconds", "key_id"}`` when it opens, ``{"writer", "closed": true}`` at a clean shutdown."""

DEFAULT_CHECKPOINT_EVERY = 1000


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
class VerifyRules:
    """What :func:`verify_chain` expects of a log beyond a valid chain.

    ``checkpoint_every`` is the largest gap between checkpoints accepted when the signed part of the log
    declares no schedule of its own (a log written without :meth:`~warded.audit.log.AuditLog.start`).
    ``allow_empty`` accepts a log with no entries at all (otherwise an empty log is refused: it is what
    deleting every row looks like). ``expect_stopped`` says every writer has shut down: the log must then
    end with a signed clean shutdown, so a log cut back to an earlier checkpoint is refused.
    """

    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    allow_empty: bool = False
    expect_stopped: bool = False

    def __post_init__(self) -> None:
        every = self.checkpoint_every
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise AuditError(f"checkpoint_every must be an int >= 1, got {every!r}")


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a successful verification established.

    ``unsigned_tail`` entries follow the last checkpoint (at most ``checkpoint_every``, what a crash may
    leave): they are hash-chained but not signed, so removing or rewriting them is detected only by an
    anchor taken later. ``last_checkpoint`` is the signed head to export as the next anchor;
    ``anchored_seq`` the highest anchor the log was checked against.
    """

    entries: int
    checkpoints: int
    head_seq: int
    head_hash: str
    last_checkpoint_seq: int | None
    unsigned_tail: int
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    last_checkpoint: Checkpoint | None = None
    anchored_seq: int | None = None

    def summary(self) -> str:
        """A human description, including the truncation caveat when there is an unsigned tail."""
        text = f"audit log OK: {self.entries} entries, {self.checkpoints} checkpoints, head seq {self.head_seq}"
        if self.last_checkpoint_seq is None:
            text += "; no checkpoint (empty log)"
        else:
            text += f"; last checkpoint at seq {self.last_checkpoint_seq}"
        if self.anchored_seq is not None:
            text += f"; contains the anchored head at seq {self.anchored_seq}"
        if self.unsigned_tail:
            text += (
                f". WARNING: {self.unsigned_tail} entries after the last checkpoint are not signed (up to "
                f"{self.checkpoint_every} are accepted, e.g. after a crash); their truncation or rewrite is "
                "detected only against an anchor taken after them"
            )
        return text


def encode_entry(kind: object, ts: object, body: object) -> tuple[float, bytes]:
    """Check an entry about to be appended and encode its body: ``(ts, canonical body JSON)``.

    Every audit store calls this before it chains anything, so each refuses the same inputs (AuditError).
    """
    if not isinstance(kind, str) or not kind:
        raise AuditError("entry kind must be a non-empty string")
    if not isinstance(body, Mapping):
        raise AuditError(f"entry body must be a mapping, got {type(body).__name__}")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise AuditError(f"entry ts must be a number, got {type(ts).__name__}")
    return float(ts), canonical_json(body if isinstance(body, dict) else dict(body))


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
    rules: VerifyRules | None = None,
    anchors: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Verify a whole log, streaming ``entries`` (seq order, from 1) one at a time.

    Raises VerificationError whose ``seq`` names the first bad entry: an edited entry, a missing,
    inserted, duplicated or reordered one, a checkpoint with a bad signature or unknown key or whose
    ``head_hash`` differs from the entry at its seq, or a checkpoint beyond the end of the log
    (truncation; ``seq`` is then the first missing entry). Then the schedule (see the module docstring):
    an empty log (unless ``rules.allow_empty``), a non-empty log without a checkpoint, more than N entries
    without a checkpoint anywhere (a deleted checkpoint) or at the end (a deleted last checkpoint, or
    entries forged after it), and a clean shutdown not followed by a checkpoint are refused.

    ``anchors`` are signed heads kept outside the log (:func:`warded.audit.anchor.parse_anchor`): each must
    be signed by a trusted key and the log must contain its head, entry for entry, so a log rolled back
    past an anchor, or replaced by another log, is refused.
    """
    rules = rules if rules is not None else VerifyRules()
    by_seq: dict[int, list[tuple[Checkpoint, str | None]]] = {}
    for cp in checkpoints:
        if not isinstance(cp.seq, int) or isinstance(cp.seq, bool) or cp.seq < 1:
            raise VerificationError(f"checkpoint with invalid seq {cp.seq!r}", seq=None)
        by_seq.setdefault(cp.seq, []).append((cp, _checkpoint_problem(cp, public_keys)))
    anchored: dict[int, list[Checkpoint]] = {}
    for given in anchors:
        problem = _checkpoint_problem(given, public_keys)
        if problem is not None or not isinstance(given.seq, int) or isinstance(given.seq, bool) or given.seq < 1:
            raise VerificationError(f"anchor at seq {given.seq!r}: {problem or 'invalid seq'}", seq=None)
        anchored.setdefault(given.seq, []).append(given)

    declared: list[tuple[int, int]] = []  # (seq, checkpoint_every) of each writer's opening entry
    closed: list[int] = []  # seqs of clean-shutdown entries
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
        if any(a.head_hash != computed for a in anchored.get(seq, ())):
            raise VerificationError(
                f"entry {seq} differs from the anchored head at seq {seq}: the log was replaced or rewritten",
                seq=seq,
            )
        schedule = entry.body.get(SCHEDULE_KEY) if isinstance(entry.body, dict) else None
        if isinstance(schedule, dict):
            every = schedule.get("checkpoint_every")
            if isinstance(every, int) and not isinstance(every, bool) and every >= 1:
                declared.append((seq, every))
            if schedule.get("closed") is True:
                closed.append(seq)
        prev = computed
        expected += 1

    head_seq = expected - 1
    if anchored and max(anchored) > head_seq:
        raise VerificationError(
            f"log rolled back: it ends at seq {head_seq} but the anchor pins seq {max(anchored)}",
            seq=head_seq + 1,
        )
    beyond = [s for s in by_seq if s > head_seq]
    if beyond:
        raise VerificationError(
            f"log truncated: it ends at seq {head_seq} but a checkpoint covers seq {min(beyond)}",
            seq=head_seq + 1,
        )
    signed = sorted(set(by_seq) | set(anchored))
    if head_seq == 0 and not rules.allow_empty:
        raise VerificationError("the log is empty (every entry deleted?); pass allow_empty if that is expected")
    if head_seq > 0 and not signed:
        raise VerificationError(
            f"no checkpoint: {head_seq} entries and none signed (the checkpoints were deleted)", seq=None
        )
    last_signed = signed[-1] if signed else 0
    every = max((n for s, n in declared if s <= last_signed), default=rules.checkpoint_every)
    previous = 0
    for seq in [*signed, head_seq]:
        if seq - previous > every:
            where = "after the last one" if seq == head_seq and seq not in by_seq else f"before seq {seq}"
            raise VerificationError(
                f"checkpoint missing: entries {previous + 1}..{seq} ({seq - previous}) have none {where}, but "
                f"one is due every {every} entries (a checkpoint was deleted, or entries were cut and forged)",
                seq=previous + every + 1,
            )
        previous = seq
    unsigned_closes = [s for s in closed if s > last_signed]
    if unsigned_closes:
        raise VerificationError(
            f"entry {unsigned_closes[0]} records a clean shutdown but no checkpoint signs it "
            "(its closing checkpoint was deleted)",
            seq=unsigned_closes[0],
        )
    if rules.expect_stopped and head_seq > 0 and (head_seq not in closed or last_signed < head_seq):
        raise VerificationError(
            f"the log does not end with a signed clean shutdown (it ends at seq {head_seq}, last signed "
            f"{last_signed}): the writer crashed, is still running, or the end of the log was cut off",
            seq=head_seq,
        )
    last_checkpoint = by_seq[max(by_seq)][0][0] if by_seq else None
    return VerifyReport(
        entries=head_seq,
        checkpoints=len(checkpoints),
        head_seq=head_seq,
        head_hash=prev,
        last_checkpoint_seq=max(by_seq) if by_seq else None,
        unsigned_tail=head_seq - last_signed,
        checkpoint_every=every,
        last_checkpoint=last_checkpoint,
        anchored_seq=max(anchored) if anchored else None,
    )


def decode_body(raw: bytes) -> dict[str, Any] | None:
    """Parse stored body bytes; ``None`` if they are not a JSON object (the hash check will then fail)."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
