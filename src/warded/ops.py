"""Operator actions behind the CLI: check a policy, pause/resume sessions, read and verify the log.

Each function opens what it needs from the policy file's ``audit`` section, does one thing,
records it in the audit log where it changes state, and closes cleanly.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TextIO

from warded import jsonio
from warded.approve.approvals import (
    ApprovalRejected,
    ApprovalRequest,
    ApprovalVerdict,
    RejectCode,
    SignedApproval,
    verify_signature,
)
from warded.approve.files import decide_in_store, render_stored_request
from warded.approve.methods import ApprovalMethod
from warded.approve.store import ApprovalStore
from warded.approve.webauthn import WebAuthnApproval, verify_audited_approvals, verify_webauthn_signature
from warded.audit.anchor import format_anchor, parse_anchors
from warded.audit.chain import DEFAULT_CHECKPOINT_EVERY, AuditEntry, Checkpoint, VerifyReport, VerifyRules
from warded.audit.keys import Signer, load_public_keys, public_key_path
from warded.audit.log import AuditLog, verify_store
from warded.audit.sqlite import SQLiteAuditStore
from warded.audit.store import AuditStore
from warded.config.store import ResolvedStore, StoreConfigError
from warded.errors import AuditError, StoreError
from warded.gateway._approvals import registered_credential, relying_party
from warded.gateway._stores import (
    check_migrated,
    migrate_postgres,
    open_approvals,
    open_audit_log,
    open_state,
    open_waker,
    resolved_store,
)
from warded.gateway.gateway import build_scanner
from warded.monitor.alerts import AlertView
from warded.monitor.alerts import list_alerts as read_alerts
from warded.monitor.store import MonitorStore
from warded.policy.compile import CompiledPolicy, load_policy
from warded.scan.pipeline import ScanPipeline
from warded.scan.registry import DEFAULT_SCANNERS, load_scanner
from warded.scan.types import Source
from warded.store.state import ALL_SESSIONS, Pause, StateStore


@dataclass(frozen=True, slots=True)
class Paths:
    db: str
    key: str


def paths_for(policy: CompiledPolicy) -> Paths:
    return Paths(policy.audit_path(policy.spec.audit.path), policy.audit_path(policy.spec.audit.key))


def check_policy(path: str) -> CompiledPolicy:
    """Load and compile; raises ``PolicyError`` (with file:line problems) if anything is wrong."""
    return load_policy(path)


def _resolved(policy: CompiledPolicy) -> ResolvedStore | None:
    """The policy's ``store:`` resolved; a PostgreSQL schema not yet migrated is refused, as at a gateway's start."""
    resolved = resolved_store(policy)
    if resolved is not None and resolved.postgres is not None:
        check_migrated(resolved.postgres, resolved.schema, timeout_s=resolved.timeout_s)
    return resolved


@contextmanager
def _admin(policy_path: str) -> Iterator[tuple[AuditLog, StateStore]]:
    """The policy's audit log and pause store, chosen as the gateway chooses them (``gateway._stores``)."""
    policy = load_policy(policy_path)
    resolved = _resolved(policy)
    with ExitStack() as opened:
        state = open_state(policy, resolved)
        opened.callback(state.close)
        audit = open_audit_log(policy, resolved)
        opened.callback(audit.close)  # closed first
        yield audit, state


@contextmanager
def _approvals(policy: CompiledPolicy) -> Iterator[tuple[ApprovalStore, ResolvedStore | None]]:
    """The policy's approval store (the SQLite file or PostgreSQL) and its resolved ``store:``."""
    resolved = _resolved(policy)
    store = open_approvals(policy, resolved)
    try:
        yield store, resolved
    finally:
        store.close()


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
    state = open_state(policy, resolved_store(policy))
    try:
        return state.list_pauses()
    finally:
        state.close()


#: What :func:`resolve_log` returns, followed by the policy path, for a log kept in PostgreSQL (the DSN
#: itself, which may hold a password from the environment, never travels).
PG_LOG = "postgres-log-of:"


def _audit_store(db: str) -> AuditStore:
    """The audit store ``db`` names: a SQLite file, or the PostgreSQL log of a policy (:data:`PG_LOG`)."""
    if not db.startswith(PG_LOG):
        return SQLiteAuditStore(db)
    resolved = resolved_store(load_policy(db[len(PG_LOG) :]))
    if resolved is None or resolved.postgres is None:
        raise AuditError("the policy names no PostgreSQL store")
    from warded.audit.postgres import PostgresAuditStore  # noqa: PLC0415 - psycopg only when configured

    return PostgresAuditStore(
        resolved.postgres, schema=resolved.schema, pool_size=1, timeout_s=max(resolved.timeout_s, 30.0)
    )


def migrate_store(policy_path: str) -> str:
    """``warded store migrate``: create or upgrade the PostgreSQL schema the policy's ``store:`` names;
    returns ``schema: room vN, ...``."""
    resolved = resolved_store(load_policy(policy_path))
    if resolved is None or resolved.postgres is None:
        raise StoreConfigError(f"{policy_path}: no store.postgres to migrate (SQLite files create their own tables)")
    versions = migrate_postgres(resolved.postgres, resolved.schema)
    return f"{resolved.schema}: " + ", ".join(f"{room} v{v}" for room, v in sorted(versions.items()))


def resolve_log(policy_path: str | None, db: str | None, pubkeys: Sequence[str]) -> tuple[str, list[str]]:
    """The audit database and the public keys to trust, from flags or the policy file."""
    if db is None:
        if policy_path is None:
            raise AuditError("name the audit database with --db, or a policy file with --policy")
        policy = load_policy(policy_path)
        paths = paths_for(policy)
        store = policy.spec.store
        db = PG_LOG + policy_path if store is not None and store.postgres is not None else paths.db
        if not pubkeys:
            pubkeys = [str(public_key_path(paths.key))]
    if not pubkeys:
        raise AuditError("name at least one trusted public key with --pubkey")
    if not db.startswith(PG_LOG) and not os.path.exists(db):
        raise AuditError(f"audit database {db!r} does not exist")
    return db, list(pubkeys)


def verify_log(
    db: str,
    pubkeys: Sequence[str],
    *,
    policy_path: str | None = None,
    checkpoint_every: int | None = None,
    allow_empty: bool = False,
    expect_stopped: bool = False,
    anchor_paths: Sequence[str] = (),
) -> VerifyReport:
    """Verify the whole log; raises ``VerificationError`` naming the first bad entry.

    The gap accepted between checkpoints comes from the schedules the log declares; for a log that declares
    none, from ``checkpoint_every``, else the policy's ``audit.checkpoint_every``, else the default. Each
    anchor file's heads must be in the log (``AuditError`` if a file cannot be read or parsed).
    """
    if checkpoint_every is None:
        checkpoint_every = (
            load_policy(policy_path).spec.audit.checkpoint_every
            if policy_path is not None
            else DEFAULT_CHECKPOINT_EVERY
        )
    rules = VerifyRules(checkpoint_every=checkpoint_every, allow_empty=allow_empty, expect_stopped=expect_stopped)
    anchors: list[Checkpoint] = []
    for path in anchor_paths:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(1 << 20)
        except OSError as exc:
            raise AuditError(f"cannot read anchor file {path!r}: {exc}") from exc
        anchors.extend(parse_anchors(text))
    keys = load_public_keys(pubkeys)
    store = _audit_store(db)
    try:
        return verify_store(store, keys, rules, anchors)
    finally:
        store.close()


def anchor_line(report: VerifyReport) -> str:
    """The anchor to keep after a successful verification: the last signed head, one line."""
    if report.last_checkpoint is None:
        raise AuditError("the log has no checkpoint to anchor")
    return format_anchor(report.last_checkpoint)


def write_anchor(path: str, line: str) -> None:
    """Append ``line`` to the anchor file ``path`` (a file keeps every anchor taken; all are checked)."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as exc:
        raise AuditError(f"cannot write anchor file {path!r}: {exc}") from exc


def tail_log(db: str, n: int) -> list[AuditEntry]:
    store = _audit_store(db)
    try:
        return store.tail(n)
    finally:
        store.close()


def show_entry(db: str, seq: int) -> AuditEntry | None:
    store = _audit_store(db)
    try:
        return store.get(seq)
    finally:
        store.close()


# -- content guard -----------------------------------------------------------------------------

SCAN_EXIT = {"allow": 0, "flag": 1, "block": 3}


def scan_pipeline(policy_path: str | None) -> ScanPipeline:
    """The pipeline a policy file configures, or the built-in defaults without one."""
    if policy_path is not None:
        return build_scanner(load_policy(policy_path))
    return ScanPipeline([load_scanner(name) for name in DEFAULT_SCANNERS]).warm_up()


def scan_jsonl(pipeline: ScanPipeline, lines: Iterable[str], out: TextIO) -> str:
    """Scan ``{"id", "text", "source"}`` lines, write one result line each; return the worst verdict.

    A line that is not strict JSON (:mod:`warded.jsonio`: no key twice, no NaN), lacks ``text``, or names
    an unknown ``source`` is answered with a ``block`` verdict and an ``error``: nothing unreadable passes as clean.
    """
    worst = "allow"
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record: dict[str, object]
        item: object = None
        try:
            item = jsonio.loads(line, refuse_lone_surrogates=False)  # the scanners judge the text itself
            if not isinstance(item, dict):
                raise ValueError("each line must be a JSON object")
            text = item.get("text")
            if not isinstance(text, str):
                raise ValueError("'text' must be a string")
            source = Source(item.get("source", "user"))
            result = pipeline.scan(text, source)
            record = {"id": item.get("id"), **result.to_json()}
        except (jsonio.JsonRefused, ValueError, TypeError) as exc:
            ident = item.get("id") if isinstance(item, dict) else None
            record = {"id": ident, "verdict": "block", "score": 1.0, "findings": [], "error": f"line {number}: {exc}"}
        out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        verdict = str(record["verdict"])
        if SCAN_EXIT[verdict] > SCAN_EXIT[worst]:
            worst = verdict
    return worst


# -- approvals ---------------------------------------------------------------------------------


def _approver_name(policy: CompiledPolicy, key_path: str, name: str | None) -> str:
    """The configured approver whose public key matches ``key_path`` (or ``name`` if given)."""
    if name is not None:
        return name
    signer = Signer.from_file(key_path)
    entry = policy.approvers.get(signer.key_id)
    if entry is None:
        raise ApprovalRejected(
            RejectCode.UNKNOWN_SIGNER, f"key {signer.key_id} is not one of the policy's approvers (approval.approvers)"
        )
    return str(entry[0])


def decide_request(
    policy_path: str,
    request_id: str,
    key_path: str,
    *,
    approve: bool,
    name: str | None = None,
    out_path: str | None = None,
) -> SignedApproval:
    """Sign an approval (or a denial) of a pending request with an approver's private key, record it in the
    policy's approval store, wake the replicas waiting on it (``store.redis``) and audit the verdict."""
    policy = load_policy(policy_path)
    approver = _approver_name(policy, key_path, name)
    Signer.from_file(key_path)  # a bad key file is refused before any store is opened
    verdict = ApprovalVerdict.APPROVE if approve else ApprovalVerdict.DENY
    with _approvals(policy) as (store, resolved):
        request = store.load_request(request_id)
        if (
            approve
            and request is not None
            and ApprovalMethod.ED25519 not in policy.spec.approval.methods_for(request.tier)
        ):
            raise ApprovalRejected(
                RejectCode.METHOD_NOT_ALLOWED,
                f"the policy accepts only passkey approvals (warded console) for request {request_id}'s tier",
            )
        signed = decide_in_store(
            store,
            request_id,
            key_path,
            approver,
            time.time(),
            verdict=verdict,
            out_path=out_path,
            approvers=policy.approvers,
        )
    waker = open_waker(resolved)
    if waker is not None:
        try:
            waker.notify(request_id)
        finally:
            waker.close()
    with _admin(policy_path) as (audit, _state):
        audit.append(
            "approval_decided",
            {
                "request_id": request_id,
                "verdict": signed.verdict.value,
                "approver": signed.approver,
                "key_id": signed.key_id,
            },
        )
    return signed


def describe_request(policy_path: str, request_id: str) -> str:
    with _approvals(load_policy(policy_path)) as (store, _resolved):
        return render_stored_request(store, request_id, now=time.time())


def pending_requests(policy_path: str) -> list[ApprovalRequest]:
    with _approvals(load_policy(policy_path)) as (store, _resolved):
        return store.pending(time.time())


def verify_recorded_approval(policy_path: str, request_id: str) -> str:
    """Re-check the verdict recorded for ``request_id`` offline: an Ed25519 signature under the policy's
    approver keys, or a passkey assertion under the registered credential's public key (WebAuthn). Raises
    ``ApprovalRejected`` (or ``StoreError``) naming what does not hold; returns a one-line summary."""
    policy = load_policy(policy_path)
    with _approvals(policy) as (store, _resolved):
        request = store.load_request(request_id)
        verdict = store.load_verdict(request_id)
        status = store.status(request_id)
    if request is None:
        raise StoreError(f"no approval request {request_id!r}")
    if verdict is None:
        raise StoreError(f"approval request {request_id} has no recorded verdict (status {status})")
    if isinstance(verdict, WebAuthnApproval):
        credentials = registered_credential(policy, verdict.credential_id)
        verify_webauthn_signature(request, verdict, credentials, relying_party(policy))
        how = f"passkey assertion by credential {verdict.credential_id[:16]}… (user verified, rp {verdict.rp_id})"
    else:
        verify_signature(request, verdict, policy.approvers)
        how = f"Ed25519 signature by key {verdict.key_id}"
    return f"request {request_id}: {verdict.verdict.value} by {verdict.approver} verifies: {how}; status {status}"


def verify_audited_passkey_approvals(policy_path: str) -> str:
    """Re-check every passkey verdict the policy's audit log records, from the log alone
    (:func:`~warded.approve.webauthn.verify_audited_approvals`); ``warded audit verify`` checks the chain."""
    db, _keys = resolve_log(policy_path, None, [])
    store = _audit_store(db)
    try:
        registrations, verdicts = verify_audited_approvals(store.iter_entries())
    finally:
        store.close()
    return f"audit log: {verdicts} passkey verdicts verify against {registrations} audited passkey registrations"


# -- alerts (issue 12) ---------------------------------------------------------------------------


def list_alerts(
    policy_path: str | None, db: str | None, *, agent_id: str | None = None, rule: str | None = None
) -> list[AlertView]:
    """``warded alerts list``: every alert in the audit log (monitor, BOM, breakers, MCP pins), oldest first."""
    resolved, _ = resolve_log(policy_path, db, ["-"])
    store = _audit_store(resolved)
    try:
        return read_alerts(store.iter_entries(), agent_id=agent_id, rule=rule)
    finally:
        store.close()


def clear_monitor_flag(policy_path: str, agent_id: str) -> bool:
    """``warded alerts clear AGENT``: lift the require-approval flag an anomaly left on the agent, in the state
    store every worker and replica reads (the SQLite file or Redis), with an ``agent_flag_cleared`` entry."""
    policy = load_policy(policy_path)
    with _admin(policy_path) as (audit, state):
        cleared = state.unflag(agent_id)
        db = paths_for(policy).db
        if os.path.exists(db):  # a flag an earlier version kept in the monitor's own table
            store = MonitorStore(db)
            try:
                cleared = store.clear_flag(agent_id) or cleared
            finally:
                store.close()
        audit.append("agent_flag_cleared", {"agent_id": agent_id, "by": "cli", "was_flagged": cleared})
        return cleared
