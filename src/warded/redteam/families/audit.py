"""``audit``: change a copy of the audit log without the signing key and have ``warded audit verify``
accept it. Delete checkpoints (one, the last, all after a point), delete or edit entries, truncate, rewrite
bodies and recompute the whole hash chain, alone or combined. Oracle: the copy's contents differ from the
log the gateway wrote (a gateway that stopped cleanly, so nothing a crash leaves explains the change).
The verifier is warded's own (in-process runs) or any command (``--verify-cmd``, for a deployed version).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
import tempfile
from typing import Any

from hypothesis import strategies as st

from warded.audit.chain import GENESIS_HASH, entry_hash_canonical
from warded.core.types import Action
from warded.errors import AuditError
from warded.redteam.families._context import Context
from warded.redteam.model import Plan
from warded.redteam.targets import TargetError

FAMILY = "audit"

OPS = ("delete_checkpoint", "delete_checkpoints_after", "delete_last_checkpoint", "truncate", "delete_entry",
       "edit_entry", "rewrite_chain")  # fmt: skip


def _copy(src: str, dst: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(src + suffix):
            shutil.copy(src + suffix, dst + suffix)


def _dump(db: str) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        entries = conn.execute("SELECT * FROM audit_entries ORDER BY seq").fetchall()
        checkpoints = conn.execute("SELECT * FROM audit_checkpoints ORDER BY seq").fetchall()
        return entries, checkpoints
    finally:
        conn.close()


def tamper(db: str, ops: list[tuple[str, int]]) -> None:
    """Apply ``ops`` to the SQLite audit log at ``db`` (what someone with write access but no key can do)."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for op, k in ops:
            seqs = [r[0] for r in conn.execute("SELECT seq FROM audit_entries ORDER BY seq")]
            checks = [r[0] for r in conn.execute("SELECT DISTINCT seq FROM audit_checkpoints ORDER BY seq")]
            if op == "delete_checkpoint" and checks:
                conn.execute("DELETE FROM audit_checkpoints WHERE seq = ?", (checks[k % len(checks)],))
            elif op == "delete_checkpoints_after" and checks:
                conn.execute("DELETE FROM audit_checkpoints WHERE seq > ?", (checks[k % len(checks)],))
            elif op == "delete_last_checkpoint" and checks:
                conn.execute("DELETE FROM audit_checkpoints WHERE seq = ?", (checks[-1],))
            elif op == "truncate" and seqs:
                cut = seqs[k % len(seqs)]
                conn.execute("DELETE FROM audit_entries WHERE seq > ?", (cut,))
                conn.execute("DELETE FROM audit_checkpoints WHERE seq > ?", (cut,))
            elif op == "delete_entry" and seqs:
                conn.execute("DELETE FROM audit_entries WHERE seq = ?", (seqs[k % len(seqs)],))
            elif op == "edit_entry" and seqs:
                conn.execute(
                    "UPDATE audit_entries SET body = replace(body, 'allow', 'deny') WHERE seq = ?",
                    (seqs[k % len(seqs)],),
                )
            elif op == "rewrite_chain":
                _rewrite(conn)
    finally:
        conn.close()


def _rewrite(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT seq, ts, kind, body FROM audit_entries ORDER BY seq").fetchall()
    prev = GENESIS_HASH
    for seq, ts, kind, body in rows:
        text = body.replace('"deny"', '"allow"')
        digest = entry_hash_canonical(prev, seq, ts, kind, text.encode("utf-8"))
        conn.execute(
            "UPDATE audit_entries SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?", (text, prev, digest, seq)
        )
        prev = digest


def _weakened(before: tuple[list[Any], list[Any]], after: tuple[list[Any], list[Any]]) -> bool:
    """Did the change touch what the log proves? An entry edited, removed or added, or an entry that a
    signed checkpoint covered no longer covered by any (the highest signed seq went down). Removing a
    checkpoint that a later one makes redundant proves nothing false, so it is not counted as an attack."""
    if before[0] != after[0]:
        return True
    signed_before = max((row[0] for row in before[1]), default=0)
    signed_after = max((row[0] for row in after[1]), default=0)
    return bool(signed_after < signed_before)


#: The audit family's own log: this many decisions, a checkpoint every ``EVERY`` entries, a clean stop.
DECISIONS = 30
EVERY = 8


def _write_log(ctx: Context) -> tuple[str, str]:
    """A log written by a fresh gateway on the sandboxed policy (allowed and denied calls, a clean stop)."""
    gateway, clock = ctx.in_process.fresh(audit={"checkpoint_every": EVERY})
    try:
        tools = sorted(ctx.policy.tools) or ["redteam_unlisted_tool"]
        for n in range(DECISIONS):
            tool = tools[n % len(tools)]
            agent = ctx.agent_for(tool) or "redteam"
            args = ctx.baseline(tool) if n % 3 else {"redteam_unknown_argument": n}
            gateway.check(Action(agent, f"audit-{n % 4}", tool, dict(args or {})))
            clock.advance(1.0)
        db = gateway.policy.audit_path(gateway.policy.spec.audit.path)
        pub = gateway.policy.audit_path(gateway.policy.spec.audit.key) + ".pub"
    finally:
        gateway.close()  # a clean stop: the log ends with a signed shutdown
    return db, pub


def _verify_in_process(db: str, pub: str) -> bool:
    from warded import ops  # noqa: PLC0415 - the verifier of this warded version

    try:
        ops.verify_log(db, [pub], expect_stopped=True)
    except AuditError:  # the verifier refused the log (VerificationError is one); any other error is an error
        return False
    return True


#: ``warded audit verify`` exits 0 when it accepts a log and 1 when it refuses one; anything else (a usage
#: error, a crash) is no verdict.
VERIFY_ACCEPTS, VERIFY_REFUSES = 0, 1


def _verify_command(command: str, db: str, pub: str) -> bool:
    argv = [part.format(db=db, pub=pub) for part in shlex.split(command)]
    done = subprocess.run(argv, capture_output=True, timeout=120, check=False)  # noqa: S603 - the user's command
    if done.returncode not in (VERIFY_ACCEPTS, VERIFY_REFUSES):
        tail = done.stderr.decode("utf-8", "replace")[-200:]
        raise TargetError(f"the verify command exited {done.returncode}, not 0 or 1: {tail!r}")
    return done.returncode == VERIFY_ACCEPTS


def plans(ctx: Context) -> list[Plan]:
    target = ctx.in_process
    if ctx.audit_db is None and target is None:
        ctx.skip(FAMILY, "audit", "an HTTP target needs --audit-db and --audit-pub (and --verify-cmd)")
        return []
    state: dict[str, Any] = {}

    def prepare() -> tuple[str, str]:
        if "db" not in state:
            if ctx.audit_db is not None:
                db, pub = ctx.audit_db, ctx.audit_pub or ctx.audit_db + ".pub"
            else:
                db, pub = _write_log(ctx)
            work = tempfile.mkdtemp(prefix="warded-redteam-audit-")
            original = os.path.join(work, "original.db")
            _copy(db, original)
            state.update(db=original, pub=pub, work=work, dump=_dump(original))
        return state["db"], state["pub"]

    def verify(db: str, pub: str) -> bool:
        if ctx.verify_cmd is not None:
            return _verify_command(ctx.verify_cmd, db, pub)
        return _verify_in_process(db, pub)

    memo: dict[tuple[tuple[str, int], ...], tuple[bool, bool]] = {}

    def attempt(case: list[tuple[str, int]]) -> tuple[bool, bool]:
        key = tuple(case)
        if key not in memo:
            memo[key] = _attempt(case)
        return memo[key]

    def _attempt(case: list[tuple[str, int]]) -> tuple[bool, bool]:
        original, pub = prepare()
        copy = os.path.join(state["work"], "attacked.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(copy + suffix):
                os.remove(copy + suffix)
        _copy(original, copy)
        tamper(copy, case)
        changed = _weakened(state["dump"], _dump(copy))
        return changed, changed and verify(copy, pub)

    strategy = st.lists(st.tuples(st.sampled_from(OPS), st.integers(min_value=0, max_value=64)), min_size=1, max_size=3)
    return [
        Plan(
            FAMILY,
            "bypass",
            "*",
            "*",
            "(audit log)",
            ctx.where("audit") if ("audit",) in ctx.marks else None,
            strategy,
            lambda case: attempt(case)[0],
            lambda case: attempt(case)[1],
            lambda case: "+".join(sorted({op for op, _ in case})),
            show=lambda case: [{"op": op, "at": k} for op, k in case],
            rule="audit.verify",
        )
    ]
