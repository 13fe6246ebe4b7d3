"""Anchors: a signed head of the audit log kept outside it, so that rolling the log back is detectable.

An anchor is a checkpoint (seq, head hash, time, key id, Ed25519 signature) written as one line of text,
short enough for a ticket or a chat message::

    warded-anchor/1 seq=1042 head=<64 hex> ts=1700000000.5 key=<key id> sig=<128 hex>

Whoever keeps the line can later check that the log still contains that head, entry for entry
(``warded audit verify --anchor FILE``): a log truncated below it, or replaced by another (older, or
rewritten) log, is refused, even if every checkpoint inside the log was deleted. Pure: text in, values out.
"""

from __future__ import annotations

import math
import re

from warded.audit.chain import Checkpoint
from warded.errors import AuditError

__all__ = ["ANCHOR_FORMAT", "format_anchor", "parse_anchor", "parse_anchors"]

ANCHOR_FORMAT = "warded-anchor/1"

_LINE = re.compile(
    r"warded-anchor/1 seq=(?P<seq>[1-9][0-9]{0,18}) head=(?P<head>[0-9a-f]{64}) "
    r"ts=(?P<ts>[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?) key=(?P<key>[0-9a-f]{1,128}) sig=(?P<sig>[0-9a-f]{128})"
)
_MAX_LINES = 1000


def format_anchor(checkpoint: Checkpoint) -> str:
    """The one-line text form of a checkpoint (no trailing newline)."""
    cp = checkpoint
    if not isinstance(cp.ts, float) or not math.isfinite(cp.ts):
        raise AuditError(f"checkpoint ts must be a finite float, got {cp.ts!r}")
    ts = float.__repr__(cp.ts)
    line = f"{ANCHOR_FORMAT} seq={cp.seq} head={cp.head_hash} ts={ts} key={cp.key_id} sig={cp.signature_hex}"
    parsed = _LINE.fullmatch(line)
    if parsed is None:
        raise AuditError("this checkpoint cannot be written as an anchor (malformed fields)")
    return line


def parse_anchor(text: str) -> Checkpoint:
    """Parse one anchor line (surrounding whitespace ignored); raise AuditError if it is not one.

    The signature is not checked here: :func:`warded.audit.chain.verify_chain` checks it against the
    trusted keys, so an anchor signed by another key is refused there.
    """
    if not isinstance(text, str):
        raise AuditError(f"an anchor is text, got {type(text).__name__}")
    match = _LINE.fullmatch(text.strip())
    if match is None:
        raise AuditError(f"not a {ANCHOR_FORMAT} line: {text.strip()[:80]!r}")
    ts = float(match["ts"])
    if not math.isfinite(ts):
        raise AuditError("anchor ts is not a finite number")
    return Checkpoint(
        seq=int(match["seq"]),
        head_hash=match["head"],
        ts=ts,
        key_id=match["key"],
        signature_hex=match["sig"],
    )


def parse_anchors(text: str) -> list[Checkpoint]:
    """Every anchor in a file: one per non-blank line, ``#`` comments allowed; at least one required."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise AuditError("the anchor file holds no anchor")
    if len(lines) > _MAX_LINES:
        raise AuditError(f"the anchor file holds more than {_MAX_LINES} lines")
    return [parse_anchor(line) for line in lines]
