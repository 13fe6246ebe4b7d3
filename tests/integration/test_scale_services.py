"""Scale-out proof against the real PostgreSQL and Redis: several replica processes, one policy state.

Each replica is its own process running ``Gateway.from_file`` on one policy whose ``store:`` names
PostgreSQL (audit chain, approvals) and Redis (windows, pauses). Skipped when the services are not
reachable, unless ``WARDED_REQUIRE_SERVICES=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from warded import ops
from warded.approve.approvals import sign_approval
from warded.audit.keys import Signer, generate_keypair
from warded.cli import main as cli_main
from warded.config.store import StoreConfigError, StoreSpec, resolve_store
from warded.core.types import Action, Verdict
from warded.errors import PolicyError, StoreError, WardedError
from warded.gateway.gateway import Gateway
from warded.policy.compile import load_policy
from warded.store._postgres import latest_versions, schema_versions

PG_DSN = os.environ.get("WARDED_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REPLICAS = 4
CALLS_PER_REPLICA = 250
THREADS_PER_REPLICA = 4
LIMIT = 100

POLICY = """
version: 1
agents:
  bot:
    tools: [ping, pay]
tools:
  ping: {{tier: read}}
  pay:
    tier: financial
    approval: true
    args:
      amount: {{type: number, required: true}}
limits:
  - id: ping-cap
    tools: [ping]
    scope: agent
    max_calls: {limit}
    window: 1h
    on_exceed: deny
approval:
  approvers: {{alice: alice.key.pub}}
audit:
  path: audit.db
  key: audit.key
scan: {{enabled: false}}
flow: {{enabled: false}}
store:
  postgres: "${{WARDED_SCALE_PG}}"
  redis: "${{WARDED_SCALE_REDIS}}"
  schema: {schema}
  prefix: "{prefix}"
  timeout_s: {timeout}
"""

# One replica: its own gateway on the shared policy; waits for the go file, then calls from several threads.
REPLICA = r"""
import json, os, sys, time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from warded.core.types import Action
from warded.gateway.gateway import Gateway

policy, go, ready, mode, calls, threads, approval = sys.argv[1:8]
gw = Gateway.from_file(policy)
open(ready, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.005)

def one(i):
    if mode == "limit":
        d = gw.check(Action("bot", f"s{os.getpid()}-{i}", "ping", {}))
    else:
        d = gw.check(Action("bot", "pay-session", "pay", {"amount": 42}), approval=approval)
    return d.verdict.value, d.reasons[0].rule_id if d.reasons else ""

with ThreadPoolExecutor(int(threads)) as pool:
    results = list(pool.map(one, range(int(calls))))
gw.close()
print(json.dumps({"verdicts": Counter(v for v, _ in results), "reasons": Counter(r for _, r in results)}))
"""


@pytest.fixture
def scale_policy(
    tmp_path: Path, pg_schema: tuple[str, str], redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Path]:
    """Write the shared policy (credentials from the environment) and migrate its schema."""
    monkeypatch.setenv("WARDED_SCALE_PG", PG_DSN)
    monkeypatch.setenv("WARDED_SCALE_REDIS", redis_url)
    generate_keypair(tmp_path / "audit.key")
    generate_keypair(tmp_path / "alice.key")

    def write(*, name: str = "warded.yaml", limit: int = LIMIT, timeout: float = 5.0, migrate: bool = True) -> Path:
        path = tmp_path / name
        text = POLICY.format(limit=limit, schema=pg_schema[1], prefix=redis_prefix, timeout=timeout)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        if migrate:
            assert cli_main(["store", "migrate", "--policy", str(path)]) == 0
        return path

    return write


def _replicas(
    tmp_path: Path, policy: Path, mode: str, calls: int, approval: str = "-"
) -> list[dict[str, Counter[str]]]:
    """Run ``REPLICAS`` replica processes at once; their verdict and reason counts."""
    script = tmp_path / "replica.py"
    script.write_text(REPLICA, encoding="utf-8")
    go = tmp_path / f"go-{mode}"
    procs = []
    readies = []
    for i in range(REPLICAS):
        ready = tmp_path / f"ready-{mode}-{i}"
        readies.append(ready)
        args = [str(policy), str(go), str(ready), mode, str(calls), str(THREADS_PER_REPLICA), approval]
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in readies):
            failed = [p for p in procs if p.poll() is not None]
            assert not failed, failed[0].communicate()[1][-3000:]
            assert time.monotonic() < deadline, "replicas did not start"
            time.sleep(0.02)
        go.touch()  # every replica is up: they hammer together
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
            raw = json.loads(out.strip().splitlines()[-1])
            results.append({k: Counter(v) for k, v in raw.items()})
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _verify(policy: Path) -> None:
    db, keys = ops.resolve_log(str(policy), None, [])
    assert db.startswith(ops.PG_LOG)  # the PostgreSQL log, not a file
    report = ops.verify_log(db, keys, policy_path=str(policy), expect_stopped=True)
    assert report.entries > 0
    assert cli_main(["audit", "verify", "--policy", str(policy)]) == 0


# -- the limit across replicas -------------------------------------------------------------------------


def test_limit_exact_across_replica_processes(tmp_path: Path, scale_policy: Callable[..., Path]) -> None:
    policy = scale_policy()
    results = _replicas(tmp_path, policy, "limit", CALLS_PER_REPLICA)
    allowed = sum(r["verdicts"]["allow"] for r in results)
    denied = sum(r["verdicts"]["deny"] for r in results)
    assert allowed == LIMIT  # exactly: never one more, never one less
    assert denied == REPLICAS * CALLS_PER_REPLICA - LIMIT
    assert sum(r["reasons"]["limit.ping-cap"] for r in results) == denied  # denied by the limit, nothing else
    # Every replica's decisions landed in one chain, which verifies.
    _verify(policy)
    gw = Gateway.from_file(policy)
    try:
        kinds = Counter(e.kind for e in gw.audit.store.iter_entries())
    finally:
        gw.close()
    assert kinds["decision"] == REPLICAS * CALLS_PER_REPLICA
    assert kinds["gateway_started"] == REPLICAS + 1


# -- one approval, spent once ----------------------------------------------------------------------


def test_approval_consumed_exactly_once_across_replicas(tmp_path: Path, scale_policy: Callable[..., Path]) -> None:
    policy = scale_policy()
    gw = Gateway.from_file(policy)
    try:
        pending = gw.check(Action("bot", "pay-session", "pay", {"amount": 42}))
        assert pending.verdict is Verdict.REQUIRE_APPROVAL
        request_id = pending.request_id
        assert gw.approvals is not None
        request = gw.approvals.load_request(request_id)
        assert request is not None
        approval = sign_approval(request, Signer.from_file(tmp_path / "alice.key"), "alice", time.time())
        gw.approvals.record_verdict(approval)
        # Another replica (this process) waits for it: already decided, so it answers at once.
        assert gw.wait_for_approval(request_id, 2.0) == "approved"
    finally:
        gw.close()
    results = _replicas(tmp_path, policy, "approval", 8, approval=request_id)
    assert sum(r["verdicts"]["allow"] for r in results) == 1
    assert sum(r["verdicts"]["deny"] for r in results) == REPLICAS * 8 - 1
    _verify(policy)


# -- configuration -----------------------------------------------------------------------------------


def test_literal_password_is_a_located_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nstore:\n  postgres: postgresql://warded:hunter2@db/warded\n  redis: ${R}\n", encoding="utf-8"
    )
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    text = err.value.diagnostics()
    assert "store.postgres" in text and ":3:" in text
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("${WARDED_PG_DSN}", True),
        ("postgresql://warded@db:5432/warded", True),
        ("postgresql://warded:${PGPASSWORD}@db/warded", True),
        ("host=db user=warded dbname=warded", True),
        ("postgresql://warded:secret@db/warded", False),
        ("postgresql://warded@db/warded?password=secret", False),
        ("host=db user=warded password=secret", False),
        ("redis://:secret@cache:6379/0", False),
        ("redis://cache:6379/0", True),
    ],
)
def test_store_values_carry_no_password(value: str, ok: bool) -> None:
    if ok:
        StoreSpec.model_validate({"postgres": value})
    else:
        with pytest.raises(ValueError, match="password"):
            StoreSpec.model_validate({"postgres": value})


def test_readme_store_section_is_valid() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\nstore:\n", 1)[1].split("```", 1)[0]
    spec = StoreSpec.model_validate(yaml.safe_load("store:\n" + block)["store"])
    assert spec.postgres == "${WARDED_PG_DSN}" and spec.redis == "${WARDED_REDIS_URL}"


def test_unset_variable_refuses_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDED_NOT_SET_14", raising=False)
    spec = StoreSpec.model_validate({"postgres": "${WARDED_NOT_SET_14}"})
    with pytest.raises(StoreConfigError, match="WARDED_NOT_SET_14"):
        resolve_store(spec, {})
    resolved = resolve_store(spec, {"WARDED_NOT_SET_14": "postgresql://u:pw@h/d"})
    assert "pw" not in repr(resolved) and "pw" not in str(resolved)
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\naudit: {path: a.db, key: a.key}\nstore: {postgres: '${WARDED_NOT_SET_14}'}\n", encoding="utf-8"
    )
    with pytest.raises(StoreConfigError, match="WARDED_NOT_SET_14"):
        Gateway.from_file(path)


def test_unmigrated_schema_refuses_the_start(scale_policy: Callable[..., Path], pg_schema: tuple[str, str]) -> None:
    policy = scale_policy(migrate=False)
    with pytest.raises(StoreError, match="warded store migrate"):
        Gateway.from_file(policy)
    # Starting never migrates: the refused start created nothing (review: the stores ran migrations).
    assert schema_versions(PG_DSN, pg_schema[1]) == {}


def _set_version(schema: str, room: str, version: int) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        table = sql.SQL("{}.warded_schema_version").format(sql.Identifier(schema))
        conn.execute(sql.SQL("DELETE FROM {} WHERE room = %s AND version > %s").format(table), (room, version))
        conn.execute(
            sql.SQL("INSERT INTO {} (room, version, name) VALUES (%s, %s, 'test') ON CONFLICT DO NOTHING").format(
                table
            ),
            (room, version),
        )


@pytest.mark.parametrize(
    ("room", "delta", "message"),
    [
        ("audit", -1, "audit is at version 1, this warded needs 2"),
        ("approve", -1, "approve is at version 1, this warded needs 2"),
        ("pins", -1, "no tables for pins"),
        ("audit", 1, "newer than this warded knows"),
        ("approve", 1, "newer than this warded knows"),
        ("pins", 1, "newer than this warded knows"),
    ],
)
def test_schema_at_another_version_refuses_the_start(
    scale_policy: Callable[..., Path], pg_schema: tuple[str, str], room: str, delta: int, message: str
) -> None:
    """Only the exact version this code knows starts: an older schema lacks what the code needs, a newer one
    was written by a newer warded (review: only version 0 was refused)."""
    policy = scale_policy()
    latest = latest_versions()[room]
    _set_version(pg_schema[1], room, latest + delta)
    with pytest.raises(StoreError, match=message):
        Gateway.from_file(policy)
    assert schema_versions(PG_DSN, pg_schema[1])[room] == latest + delta  # and it changed nothing


# -- faults ------------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redis_unreachable_denies_and_is_recorded(
    scale_policy: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = scale_policy()
    monkeypatch.setenv("WARDED_SCALE_REDIS", f"redis://127.0.0.1:{_closed_port()}/0")
    gw = Gateway.from_file(policy)
    try:
        decision = gw.check(Action("bot", "s1", "ping", {}))
        assert decision.verdict is Verdict.DENY
        assert decision.reasons[0].rule_id == "store.unavailable"
        last = gw.audit.store.tail(1)[0]
    finally:
        gw.close()
    assert last.kind == "decision"
    assert last.body["decision"]["verdict"] == "deny"
    assert last.body["decision"]["reasons"][0]["rule_id"] == "store.unavailable"


class _Forwarder:
    """A loopback TCP forwarder to PostgreSQL that the test can cut, as a network partition would."""

    def __init__(self, port: int) -> None:
        self._target = ("127.0.0.1", port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                if self._stopped:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1.0)
                for src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except (OSError, ValueError):  # ValueError: cut() closed a socket while select() held it (fd -1)
            return

    def cut(self) -> None:
        with self._lock:
            self._stopped = True
            self._listener.close()
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


def test_postgres_unreachable_never_allows(scale_policy: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    policy = scale_policy(timeout=1.0)
    forwarder = _Forwarder(5432)
    monkeypatch.setenv("WARDED_SCALE_PG", PG_DSN.replace("127.0.0.1:5432", f"127.0.0.1:{forwarder.port}"))
    gw = Gateway.from_file(policy)
    try:
        assert gw.check(Action("bot", "s1", "ping", {})).verdict is Verdict.ALLOW
        forwarder.cut()
        for i in range(3):
            decision = gw.check(Action("bot", f"s{i}", "ping", {}))
            assert decision.verdict is Verdict.DENY
            assert decision.reasons[0].rule_id in {"audit.write_failed", "store.unavailable"}
    finally:
        forwarder.cut()
        with contextlib.suppress(WardedError):  # the store is gone: the final checkpoint cannot be written
            gw.close()


# -- operator commands on the shared stores ----------------------------------------------------------

# One call from a fresh replica process: its verdict and first rule id.
ONE_CALL = r"""
import json, sys
from warded.core.types import Action
from warded.gateway.gateway import Gateway

policy, tool, approval = sys.argv[1:4]
gw = Gateway.from_file(policy)
try:
    args = {"amount": 42} if tool == "pay" else {}
    d = gw.check(Action("bot", "pay-session", tool, args), approval=None if approval == "-" else approval)
finally:
    gw.close()
print(json.dumps([d.verdict.value, d.reasons[0].rule_id if d.reasons else ""]))
"""


def _warded(*args: str) -> str:
    """Run the ``warded`` CLI in its own process (as an operator would); its stdout."""
    env = {**os.environ, "PYTHONPATH": str(Path(ops.__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "warded.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _one_call(tmp_path: Path, policy: Path, tool: str, approval: str = "-") -> tuple[str, str]:
    script = tmp_path / "one_call.py"
    script.write_text(ONE_CALL, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script), str(policy), tool, approval],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdict, rule = json.loads(proc.stdout.strip().splitlines()[-1])
    return str(verdict), str(rule)


def test_cli_approve_on_postgres_wakes_and_is_spent_once(tmp_path: Path, scale_policy: Callable[..., Path]) -> None:
    policy = scale_policy()
    gw = Gateway.from_file(policy)
    try:
        pending = gw.check(Action("bot", "pay-session", "pay", {"amount": 42}))
        assert pending.verdict is Verdict.REQUIRE_APPROVAL
        request_id = pending.request_id
        # The operator sees it in PostgreSQL, not in the (absent) SQLite file.
        assert request_id in _warded("approvals", "list", "--policy", str(policy))
        assert "pending" in _warded("approvals", "show", request_id, "--policy", str(policy))
        assert not (tmp_path / "audit.db").exists()
        # A waiter that only the Redis wake-up can answer in time: it polls the store once per 60 s.
        answer: list[str] = []
        waiter = threading.Thread(target=lambda: answer.append(gw.wait_for_approval(request_id, 60.0, poll_s=60.0)))
        waiter.start()
        time.sleep(0.5)  # let it subscribe (a notification before that is still seen, through the mark)
        out = _warded("approve", request_id, "--key", str(tmp_path / "alice.key"), "--policy", str(policy))
        assert f"approved request {request_id} as alice" in out
        waiter.join(timeout=20.0)  # far before the waiter's own 60 s
        assert not waiter.is_alive(), "wait_for_approval was not woken by the CLI's approval"
        assert answer == ["approved"]
        assert "approve by alice" in _warded("approvals", "show", request_id, "--policy", str(policy))
        assert request_id not in _warded("approvals", "list", "--policy", str(policy))
    finally:
        gw.close()
    # The approval is spent exactly once across the other replica processes.
    results = _replicas(tmp_path, policy, "approval", 8, approval=request_id)
    assert sum(r["verdicts"]["allow"] for r in results) == 1
    assert sum(r["verdicts"]["deny"] for r in results) == REPLICAS * 8 - 1
    _verify(policy)
    gw = Gateway.from_file(policy)
    try:
        decided = [e.body for e in gw.audit.store.iter_entries() if e.kind == "approval_decided"]
    finally:
        gw.close()
    assert [(b["request_id"], b["verdict"], b["approver"]) for b in decided] == [(request_id, "approve", "alice")]


def test_cli_pause_on_redis_reaches_every_replica(tmp_path: Path, scale_policy: Callable[..., Path]) -> None:
    policy = scale_policy()
    gw = Gateway.from_file(policy)  # a replica already running when the operator pauses
    try:
        pay = Action("bot", "pay-session", "pay", {"amount": 42})
        assert gw.check(pay).verdict is Verdict.REQUIRE_APPROVAL
        _warded("session", "pause", "bot", "pay-session", "--policy", str(policy), "--reason", "incident 14")
        assert "bot/pay-session" in _warded("session", "list", "--policy", str(policy))
        paused = gw.check(pay)
        assert paused.verdict is Verdict.DENY
        assert paused.reasons[0].rule_id == "warded.session_paused"
        assert _one_call(tmp_path, policy, "pay") == ("deny", "warded.session_paused")  # a fresh replica too
        _warded("session", "resume", "bot", "pay-session", "--policy", str(policy))
        assert gw.check(pay).verdict is Verdict.REQUIRE_APPROVAL
        assert _one_call(tmp_path, policy, "pay")[0] == "require_approval"
        assert "no paused sessions" in _warded("session", "list", "--policy", str(policy))
    finally:
        gw.close()
    assert not (tmp_path / "audit.db").exists()  # nothing went to a SQLite file
    _verify(policy)
    gw = Gateway.from_file(policy)
    try:
        kinds = Counter(e.kind for e in gw.audit.store.iter_entries())
    finally:
        gw.close()
    assert kinds["session_paused"] == 1 and kinds["session_resumed"] == 1
