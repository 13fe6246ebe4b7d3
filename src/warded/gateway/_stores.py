"""Open the stores a policy names: the SQLite file by default, PostgreSQL and Redis with ``store:``.

* ``store.postgres``: the audit chain (one chain for every replica, appends serialised in PostgreSQL) and
  the approvals with their single-use consumption.
* ``store.redis``: the limit and budget windows (always shared), pauses, and the wake-up of
  ``wait_for_approval``.
* neither: everything in the SQLite file of ``audit.path``, as before.

References to the environment are resolved here, at start; an unset variable, an unreachable store or a
PostgreSQL schema that ``warded store migrate`` has not created refuses the start. Whatever was opened
before a failure is closed again.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Literal, Protocol

from warded.approve.store import ApprovalStore, SQLiteApprovalStore
from warded.audit.keys import Signer, generate_keypair
from warded.audit.log import AuditLog, open_sqlite_log
from warded.audit.spool import AuditSpool
from warded.config.store import ResolvedStore, resolve_store
from warded.core.windows import WindowStore
from warded.errors import KeyFileError, StoreError
from warded.policy.compile import CompiledPolicy
from warded.store.pins import PinStore
from warded.store.state import SQLiteStateStore, StateStore
from warded.store.windows import SQLiteWindows

__all__ = [
    "Stores",
    "Waker",
    "check_migrated",
    "migrate_postgres",
    "open_approvals",
    "open_audit_log",
    "open_pins",
    "open_state",
    "open_stores",
    "open_waker",
    "resolved_store",
    "spool_path",
]


class Waker(Protocol):
    """Wakes ``wait_for_approval`` when a verdict is recorded (Redis pub/sub)."""

    def notify(self, request_id: str) -> None: ...

    def wait(self, request_id: str, timeout_s: float) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Stores:
    audit: AuditLog
    state: StateStore
    approvals: ApprovalStore
    windows: WindowStore | None  # None: in-memory windows (one process)
    waker: Waker | None


def resolved_store(policy: CompiledPolicy) -> ResolvedStore | None:
    """The policy's ``store:`` with its environment references resolved; ``None`` without one.
    Raises ``StoreConfigError`` naming an unset variable."""
    spec = policy.spec.store
    return resolve_store(spec) if spec is not None else None


def _key(policy: CompiledPolicy) -> str:
    key_path = policy.audit_path(policy.spec.audit.key)
    if not os.path.exists(key_path):
        try:
            generate_keypair(key_path)
        except KeyFileError:
            if not os.path.exists(key_path):  # another replica made it at the same moment: use theirs
                raise
    return key_path


def _postgres_backends() -> None:
    """Import the PostgreSQL backends: each registers its migrations with ``store._postgres``."""
    for module in (
        "warded.audit.postgres",
        "warded.approve.pg_store",
        "warded.store.pg_pins",
    ):  # psycopg when configured
        importlib.import_module(module)


def migrate_postgres(dsn: str, schema: str) -> dict[str, int]:
    """Create or upgrade every room's tables in ``schema`` (``warded store migrate``); each room's version."""
    _postgres_backends()
    from warded.store._postgres import migrate  # noqa: PLC0415 - psycopg only when configured

    return migrate(dsn, schema)


def check_migrated(dsn: str, schema: str, *, timeout_s: float = 5.0) -> None:
    """Refuse to start unless ``warded store migrate`` brought every room of ``schema`` to exactly the version
    this warded knows: no tables, an older version (columns or functions this code needs may be missing) and
    a newer one (written by a newer warded) are all refused. Starting never migrates."""
    _postgres_backends()
    from warded.store._postgres import latest_versions, schema_versions  # noqa: PLC0415

    versions = schema_versions(dsn, schema, timeout_s=timeout_s)
    problems = []
    for room, latest in latest_versions().items():
        current = versions.get(room, 0)
        if current == 0:
            problems.append(f"no tables for {room}")
        elif current < latest:
            problems.append(f"{room} is at version {current}, this warded needs {latest}")
        elif current > latest:
            problems.append(f"{room} is at version {current}, newer than this warded knows ({latest}): upgrade warded")
    if problems:
        raise StoreError(
            f"PostgreSQL schema {schema!r} is not migrated for this warded ({'; '.join(problems)}): "
            "run `warded store migrate --policy <this policy>` with this warded"
        )


def open_audit_log(
    policy: CompiledPolicy, resolved: ResolvedStore | None, *, clock: Callable[[], float] = time.time
) -> AuditLog:
    """The policy's audit log: PostgreSQL with ``store.postgres``, else the SQLite file."""
    spec = policy.spec.audit
    key_path = _key(policy)
    if resolved is None or resolved.postgres is None:
        sync: Literal["NORMAL", "FULL"] = "FULL" if spec.synchronous.value == "full" else "NORMAL"
        return open_sqlite_log(
            policy.audit_path(spec.path),
            key_path,
            synchronous=sync,
            checkpoint_every=spec.checkpoint_every,
            checkpoint_seconds=spec.checkpoint_seconds,
            clock=clock,
        )
    from warded.audit.postgres import PostgresAuditStore  # noqa: PLC0415 - psycopg only when configured

    signer = Signer.from_file(key_path)
    store = PostgresAuditStore(
        resolved.postgres,
        schema=resolved.schema,
        pool_size=resolved.pool_size,
        timeout_s=resolved.timeout_s,
        migrate=False,  # ``warded store migrate`` does that; starting only checks the version
    )
    try:
        return AuditLog(
            store,
            signer,
            checkpoint_every=spec.checkpoint_every,
            checkpoint_seconds=spec.checkpoint_seconds,
            clock=clock,
            spool=AuditSpool(spool_path(policy), timeout_s=resolved.timeout_s),
        )
    except BaseException:
        store.close()
        raise


def spool_path(policy: CompiledPolicy) -> str:
    """Where a replica keeps the audit entries PostgreSQL could not take yet (``warded.audit.spool``)."""
    return policy.audit_path(policy.spec.audit.path) + ".spool"


def open_approvals(policy: CompiledPolicy, resolved: ResolvedStore | None) -> ApprovalStore:
    """The policy's approval store: PostgreSQL with ``store.postgres``, else the SQLite file."""
    if resolved is None or resolved.postgres is None:
        sync = policy.spec.audit.synchronous.value.upper()
        return SQLiteApprovalStore(policy.audit_path(policy.spec.audit.path), synchronous=sync)
    from warded.approve.pg_store import PostgresApprovalStore  # noqa: PLC0415 - psycopg only when configured

    return PostgresApprovalStore(
        resolved.postgres,
        schema=resolved.schema,
        pool_size=resolved.pool_size,
        timeout_s=resolved.timeout_s,
        migrate=False,  # ``warded store migrate`` does that; starting only checks the version
    )


def open_pins(policy: CompiledPolicy) -> PinStore | None:
    """The MCP tool pins in PostgreSQL with ``store.postgres``; ``None`` means the SQLite audit file (the MCP
    proxy opens that one itself). Raises ``StoreError`` / ``StoreConfigError`` like the other stores."""
    resolved = resolved_store(policy)
    if resolved is None or resolved.postgres is None:
        return None
    from warded.store.pg_pins import PostgresPinStore  # noqa: PLC0415 - psycopg only when configured

    return PostgresPinStore(
        resolved.postgres, schema=resolved.schema, pool_size=2, timeout_s=resolved.timeout_s, migrate=False
    )


def open_state(policy: CompiledPolicy, resolved: ResolvedStore | None) -> StateStore:
    """The policy's pause store: Redis with ``store.redis``, else the SQLite file."""
    if resolved is None or resolved.redis is None:
        sync = policy.spec.audit.synchronous.value.upper()
        return SQLiteStateStore(policy.audit_path(policy.spec.audit.path), synchronous=sync)
    from warded.store.redis import RedisStateStore  # noqa: PLC0415 - redis only when configured

    return RedisStateStore(resolved.redis, prefix=resolved.prefix, timeout_s=resolved.timeout_s)


def open_waker(resolved: ResolvedStore | None) -> Waker | None:
    """What wakes ``wait_for_approval`` in every replica: Redis pub/sub with ``store.redis``, else ``None``."""
    if resolved is None or resolved.redis is None:
        return None
    from warded.store.redis import ApprovalWaker  # noqa: PLC0415 - redis only when configured

    return ApprovalWaker(resolved.redis, prefix=resolved.prefix, timeout_s=resolved.timeout_s)


def open_stores(
    policy: CompiledPolicy, *, clock: Callable[[], float] = time.time, shared_windows: bool = False
) -> Stores:
    """Every store the gateway needs, per the policy's ``store:`` (see the module docstring)."""
    resolved = resolved_store(policy)
    if resolved is not None and resolved.postgres is not None:
        check_migrated(resolved.postgres, resolved.schema, timeout_s=resolved.timeout_s)
    with ExitStack() as opened:
        audit = open_audit_log(policy, resolved, clock=clock)
        opened.callback(audit.close)
        state = open_state(policy, resolved)
        opened.callback(state.close)
        approvals = open_approvals(policy, resolved)
        opened.callback(approvals.close)
        windows: WindowStore | None = None
        waker: Waker | None = None
        if resolved is not None and resolved.redis is not None:
            from warded.store.redis import RedisSessionWindows  # noqa: PLC0415 - redis only when configured

            redis_windows = RedisSessionWindows(resolved.redis, prefix=resolved.prefix, timeout_s=resolved.timeout_s)
            opened.callback(redis_windows.close)
            windows = redis_windows
            waker = open_waker(resolved)
            if waker is not None:
                opened.callback(waker.close)
        elif shared_windows:
            sync = policy.spec.audit.synchronous.value.upper()
            sqlite_windows = SQLiteWindows(policy.audit_path(policy.spec.audit.path), synchronous=sync)
            opened.callback(sqlite_windows.close)
            windows = sqlite_windows
        opened.pop_all()  # everything opened: the gateway owns it now
        return Stores(audit, state, approvals, windows, waker)
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow exceptions
