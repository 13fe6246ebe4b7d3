"""Operator actions behind the CLI: check a policy, pause/resume sessions, read and verify the log.

Each function opens what it needs from the policy file's ``audit`` section, does one thing,
records it in the audit log where it changes state, and closes cleanly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from warded.audit.chain import AuditEntry, VerifyReport
from warded.audit.keys import generate_keypair, load_public_keys, public_key_path
from warded.audit.log import AuditLog, open_sqlite_log, verify_store
from warded.errors import AuditError
from warded.policy.compile import CompiledPolicy, load_policy
from warded.store.sqlite import SQLiteAuditStore
from warded.store.state import ALL_SESSIONS, Pause, SQLiteStateStore


@dataclass(frozen=True, slots=True)
class Paths:
    db: str
    key: str


def paths_for(policy: CompiledPolicy) -> Paths:
    return Paths(policy.audit_path(policy.spec.audit.path), policy.audit_path(policy.spec.audit.key))


def check_policy(path: str) -> CompiledPolicy:
    """Load and compile; raises ``PolicyError`` (with file:line problems) if anything is wrong."""
    return load_policy(path)


@contextmanager
def _admin(policy_path: str) -> Iterator[tuple[AuditLog, SQLiteStateStore]]:
    policy = load_policy(policy_path)
    paths = paths_for(policy)
    if not os.path.exists(paths.key):
        generate_keypair(paths.key)
    audit = open_sqlite_log(
        paths.db,
        paths.key,
        checkpoint_every=policy.spec.audit.checkpoint_every,
        checkpoint_seconds=policy.spec.audit.checkpoint_seconds,
    )
    state = SQLiteStateStore(paths.db)
    try:
        yield audit, state
    finally:
        try:
            audit.close()
        finally:
            state.close()


def pause_session(policy_path: str, agent_id: str, session_id: str | None, reason: str) -> bool:
    """The kill switch. ``session_id=None`` pauses every session of the agent."""
    session = session_id if session_id is not None else ALL_SESSIONS
    with _admin(policy_path) as (audit, state):
        newly = state.pause(agent_id, session, reason, "operator.pause", time.time())
        audit.append(
            "session_paused",
            {
                "agent_id": agent_id,
                "session_id": session,
                "rule_id": "operator.pause",
                "reason": reason,
                "by": "cli",
            },
        )
        return newly


def resume_session(policy_path: str, agent_id: str, session_id: str | None) -> bool:
    session = session_id if session_id is not None else ALL_SESSIONS
    with _admin(policy_path) as (audit, state):
        resumed = state.resume(agent_id, session)
        audit.append(
            "session_resumed",
            {"agent_id": agent_id, "session_id": session, "by": "cli", "was_paused": resumed},
        )
        return resumed


def list_pauses(policy_path: str) -> list[Pause]:
    policy = load_policy(policy_path)
    state = SQLiteStateStore(paths_for(policy).db)
    try:
        return state.list_pauses()
    finally:
        state.close()


def resolve_log(policy_path: str | None, db: str | None, pubkeys: Sequence[str]) -> tuple[str, list[str]]:
    """The audit database and the public keys to trust, from flags or the policy file."""
    if db is None:
        if policy_path is None:
            raise AuditError("name the audit database with --db, or a policy file with --policy")
        paths = paths_for(load_policy(policy_path))
        db = paths.db
        if not pubkeys:
            pubkeys = [str(public_key_path(paths.key))]
    if not pubkeys:
        raise AuditError("name at least one trusted public key with --pubkey")
    if not os.path.exists(db):
        raise AuditError(f"audit database {db!r} does not exist")
    return db, list(pubkeys)


def verify_log(db: str, pubkeys: Sequence[str]) -> VerifyReport:
    """Verify the whole log; raises ``VerificationError`` naming the first bad entry."""
    keys = load_public_keys(pubkeys)
    store = SQLiteAuditStore(db)
    try:
        return verify_store(store, keys)
    finally:
        store.close()


def tail_log(db: str, n: int) -> list[AuditEntry]:
    store = SQLiteAuditStore(db)
    try:
        return store.tail(n)
    finally:
        store.close()


def show_entry(db: str, seq: int) -> AuditEntry | None:
    store = SQLiteAuditStore(db)
    try:
        return store.get(seq)
    finally:
        store.close()
