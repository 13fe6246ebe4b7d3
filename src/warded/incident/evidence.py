"""Evidence for a record: an audit range, verified, with the signed checkpoint that covers it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from warded import ops
from warded.errors import WardedError
from warded.incident.model import Affected, Checkpoint, Evidence

#: At most this many entries are listed (seq, kind, hash) in a record; the range itself may be longer.
MAX_LISTED = 200


def from_audit(policy_path: str, first: int, last: int) -> tuple[Evidence, Affected, list[Mapping[str, Any]]]:
    """Verify the policy's audit log, then describe entries ``first..last``: their hashes, the chain head
    at ``last`` and the first signed checkpoint at or after it. Also what they name (agent, tool, ...)."""
    if first < 1 or last < first:
        raise WardedError(f"bad audit range {first}..{last}: want 1 <= FROM <= TO")
    db, keys = ops.resolve_log(policy_path, None, [])
    ops.verify_log(db, keys, policy_path=policy_path)  # evidence from a log that does not verify is no evidence
    store = ops._audit_store(db)
    try:
        entries = [store.get(seq) for seq in range(first, last + 1)]
        if any(e is None for e in entries):
            raise WardedError(f"the audit log has no entries {first}..{last} (its head is {store.head()[0]})")
        checkpoint = next((c for c in store.checkpoints() if c.seq >= last), None)
    finally:
        store.close()
    found = [e for e in entries if e is not None]
    bodies: list[Mapping[str, Any]] = [e.body for e in found]
    evidence = Evidence(
        audit_from=first,
        audit_to=last,
        chain_head=found[-1].hash,
        checkpoint=None
        if checkpoint is None
        else Checkpoint(
            seq=checkpoint.seq,
            head_hash=checkpoint.head_hash,
            ts=float(checkpoint.ts),
            key_id=checkpoint.key_id,
            signature=checkpoint.signature_hex,
        ),
        entries=[{"seq": e.seq, "kind": e.kind, "hash": e.hash} for e in found[:MAX_LISTED]],
    )
    return evidence, _affected(bodies), bodies


def _first(bodies: list[Mapping[str, Any]], *path: str) -> str | None:
    for body in bodies:
        value: Any = body
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value:
            return value
    return None


def _affected(bodies: list[Mapping[str, Any]]) -> Affected:
    return Affected(
        agent=_first(bodies, "action", "agent_id") or _first(bodies, "agent_id"),
        tool=_first(bodies, "action", "tool") or _first(bodies, "tool"),
        mcp_server=_first(bodies, "server"),
        tool_digest=_first(bodies, "digest"),
        policy_sha256=_first(bodies, "policy_sha256"),
    )
