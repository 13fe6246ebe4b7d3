"""Store faults mid-burst, against servers this test owns: a Redis and a PostgreSQL it can kill and restart
(never the shared ones), and loopback forwarders that slow a store down past its timeout.

What must hold: while a store is down or too slow every call is denied (``store.unavailable``), never
allowed; the denial reaches the audit chain (at once, or from the local spool once PostgreSQL is back);
service resumes by itself, without restarting the gateway; and a replica killed with -9 mid-burst loses no
decision it reported. Skipped without the services or the server binaries, unless
``WARDED_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from warded import ops
from warded.audit.keys import generate_keypair
from warded.audit.spool import SPOOL_KEY, AuditSpool
from warded.cli import main as cli_main
from warded.core.types import Action, Decision, Verdict
from warded.errors import WardedError
from warded.gateway._stores import spool_path
from warded.gateway.gateway import Gateway
from warded.policy.compile import load_policy

SHARED_PG = os.environ.get("WARDED_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_BIN = Path(os.environ.get("WARDED_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
TIMEOUT_S = 1.0  # the stores' timeout in these policies
RESUME_WITHIN_S = 60.0  # how long a test waits for service to come back (never reached when it works)

POLICY = """
version: 1
agents:
  bot:
    tools: [ping]
tools:
  ping: {{tier: read}}
limits:
  - {{id: ping-cap, tools: [ping], scope: agent, max_calls: 1000000, window: 1h, on_exceed: deny}}
audit: {{path: audit.db, key: audit.key}}
scan: {{enabled: false}}
flow: {{enabled: false}}
store:
  postgres: "${{WARDED_FAULT_PG}}"
  redis: "${{WARDED_FAULT_REDIS}}"
  schema: {schema}
  prefix: "{prefix}"
  timeout_s: {timeout}
"""


def _need(what: str, ok: bool) -> None:
    if not ok:
        if os.environ.get("WARDED_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{what} is required (WARDED_REQUIRE_SERVICES=1)")
        pytest.skip(f"{what} is not available")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, up: bool, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise AssertionError(f"port {port} did not go {'up' if up else 'down'}")


# -- servers this test owns ------------------------------------------------------------------------


class OwnRedis:
    """A ``redis-server`` on a free loopback port, without persistence; killable and restartable."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, up=True)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)
        _wait_port(self.port, up=False)


class OwnPostgres:
    """A PostgreSQL 15 cluster in a temporary directory, on a free loopback port (run as the ``postgres``
    OS user when this test runs as root); stopped with ``-m immediate`` (a crash) and started again."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._data = root / "pgdata"
        self._log = root / "pg.log"
        self._root = root
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres")

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], check=False, capture_output=True, timeout=120)
        assert done.returncode == 0, (args[0], done.stderr.decode(errors="replace")[-2000:])

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self._data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self._data), "-o", options, "-l", str(self._log), "-w", "start")

    def crash(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self._data), "-m", "immediate", "-w", "stop")
        _wait_port(self.port, up=False)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self._data), "-m", "immediate", "-w", "stop")


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    _need("redis-server", shutil.which("redis-server") is not None)
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    _need("PostgreSQL 15 server binaries", (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists())
    root = Path(tempfile.mkdtemp(prefix="warded-own-pg-"))  # not under pytest's 0700 root: postgres reads it
    try:
        server = OwnPostgres(root)
        server.init()
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


class Delay:
    """A loopback TCP forwarder to ``port`` whose every chunk waits ``delay_s`` first (0: no delay)."""

    def __init__(self, port: int) -> None:
        self._target = ("127.0.0.1", port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.delay_s = 0.0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self._target)
            except OSError:
                return
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if self.delay_s:
                    time.sleep(self.delay_s)
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()


# -- the policy and the burst --------------------------------------------------------------------------


@pytest.fixture
def fault_policy(
    tmp_path: Path, pg_schema: tuple[str, str], redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str], Path]:
    """A policy on PostgreSQL ``dsn`` and Redis ``url`` (through the environment), its schema migrated."""
    generate_keypair(tmp_path / "audit.key")

    def write(dsn: str, url: str) -> Path:
        monkeypatch.setenv("WARDED_FAULT_PG", dsn)
        monkeypatch.setenv("WARDED_FAULT_REDIS", url)
        path = tmp_path / "warded.yaml"
        path.write_text(
            textwrap.dedent(POLICY.format(schema=pg_schema[1], prefix=redis_prefix, timeout=TIMEOUT_S)),
            encoding="utf-8",
        )
        assert cli_main(["store", "migrate", "--policy", str(path)]) == 0
        return path

    return write


class Burst:
    """Threads calling the gateway without pause; every decision they received, in order."""

    def __init__(self, gw: Gateway, threads: int = 3) -> None:
        self.gw = gw
        self.got: list[Decision] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, i: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            decision = self.gw.check(Action("bot", f"t{i}-{n}", "ping", {}))
            with self._lock:
                self.got.append(decision)

    def since(self, start: int) -> list[Decision]:
        with self._lock:
            return self.got[start:]

    def mark(self) -> int:
        with self._lock:
            return len(self.got)

    def wait_for(self, test: Callable[[Decision], bool], start: int, what: str) -> None:
        deadline = time.monotonic() + RESUME_WITHIN_S
        while not any(test(d) for d in self.since(start)):
            assert time.monotonic() < deadline, f"no decision {what} within {RESUME_WITHIN_S:g}s"
            time.sleep(0.02)

    def stop(self) -> list[Decision]:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        return self.got


def _allowed(d: Decision) -> bool:
    return d.verdict is Verdict.ALLOW


def _unavailable(d: Decision) -> bool:
    return d.verdict is Verdict.DENY and d.reasons[0].rule_id == "store.unavailable"


def _chain(policy: Path) -> tuple[dict[int, dict[str, object]], dict[str, dict[str, object]]]:
    """The verified chain's decisions: by seq, and the spooled ones by spool id."""
    gw = Gateway.from_file(policy)  # a fresh replica: drains any spool, signs a crashed writer's tail
    try:
        by_seq: dict[int, dict[str, object]] = {}
        by_spool: dict[str, dict[str, object]] = {}
        for entry in gw.audit.store.iter_entries():
            if entry.kind != "decision":
                continue
            by_seq[entry.seq] = entry.body
            spooled = entry.body.get(SPOOL_KEY)
            if isinstance(spooled, dict):
                by_spool[str(spooled["id"])] = entry.body
    finally:
        gw.close()
    db, keys = ops.resolve_log(str(policy), None, [])
    report = ops.verify_log(db, keys, policy_path=str(policy), expect_stopped=True)
    assert report.entries >= len(by_seq)
    return by_seq, by_spool


def _every_reported_decision_recorded(policy: Path, got: list[Decision]) -> int:
    """Each decision a caller received is in the chain with the verdict it was told; how many were spooled."""
    by_seq, by_spool = _chain(policy)
    spooled = 0
    for decision in got:
        if decision.id.startswith("spool-"):
            body = by_spool.get(decision.id)
            spooled += 1
        else:
            assert decision.id.startswith("d"), decision
            body = by_seq.get(int(decision.id[1:]))
        assert body is not None, f"decision {decision.id} ({decision.verdict}) is not in the chain"
        recorded = body["decision"]
        assert isinstance(recorded, dict)
        assert recorded["verdict"] == decision.verdict.value
    return spooled


def _check_outcomes(got: list[Decision]) -> None:
    """Only ALLOWs and ``store.unavailable`` DENYs: a fault never allows, never denies for another reason."""
    assert got
    assert all(_allowed(d) or _unavailable(d) for d in got), {d.reasons[0].rule_id for d in got if d.reasons}


# -- restarts ------------------------------------------------------------------------------------------


def test_redis_restarted_mid_burst(fault_policy: Callable[[str, str], Path], own_redis: OwnRedis) -> None:
    policy = fault_policy(SHARED_PG, own_redis.url)
    gw = Gateway.from_file(policy)
    burst = Burst(gw)
    try:
        burst.wait_for(_allowed, 0, "allowed before the restart")
        own_redis.kill()
        down = burst.mark()
        burst.wait_for(_unavailable, down, "denied while Redis is down")
        time.sleep(0.3)
        own_redis.start()  # same port, empty: a restart
        up = burst.mark()
        burst.wait_for(_allowed, up, "allowed once Redis is back")  # resumed without restarting the gateway
    finally:
        got = burst.stop()
        gw.close()
    _check_outcomes(got)
    assert any(_unavailable(d) for d in got[down:up])
    # Redis was down, PostgreSQL was not: every denial was recorded at once, nothing spooled.
    assert _every_reported_decision_recorded(policy, got) == 0


def test_postgres_restarted_mid_burst(
    fault_policy: Callable[[str, str], Path], own_postgres: OwnPostgres, redis_url: str
) -> None:
    policy = fault_policy(own_postgres.dsn, redis_url)
    gw = Gateway.from_file(policy)
    burst = Burst(gw)
    try:
        burst.wait_for(_allowed, 0, "allowed before the restart")
        own_postgres.crash()
        down = burst.mark()
        burst.wait_for(_unavailable, down, "denied while PostgreSQL is down")
        spool = AuditSpool(spool_path(load_policy(policy)))
        assert spool.count() > 0  # the denials wait on local disk
        spool.close()
        own_postgres.start()  # crash recovery, then the pool reconnects by itself
        up = burst.mark()
        burst.wait_for(_allowed, up, "allowed once PostgreSQL is back")
    finally:
        got = burst.stop()
        with contextlib.suppress(WardedError):
            gw.close()
    _check_outcomes(got)
    assert any(_unavailable(d) for d in got[down:])
    spooled = _every_reported_decision_recorded(policy, got)
    assert spooled > 0  # the denials of the outage reached the chain once the store was back
    spool = AuditSpool(spool_path(load_policy(policy)))
    try:
        assert spool.count() == 0
    finally:
        spool.close()


# -- slow stores ---------------------------------------------------------------------------------------


def test_slow_postgres_denies_and_resumes(fault_policy: Callable[[str, str], Path], redis_url: str) -> None:
    delay = Delay(5432)
    policy = fault_policy(SHARED_PG.replace("127.0.0.1:5432", f"127.0.0.1:{delay.port}"), redis_url)
    gw = Gateway.from_file(policy)
    try:
        assert gw.check(Action("bot", "s0", "ping", {})).verdict is Verdict.ALLOW
        delay.delay_s = TIMEOUT_S * 3  # every answer now arrives after the store's timeout
        slow = [gw.check(Action("bot", f"s{i}", "ping", {})) for i in range(1, 3)]
        assert all(_unavailable(d) for d in slow), slow
        assert all(d.id.startswith("spool-") for d in slow)
        delay.delay_s = 0.0
        deadline = time.monotonic() + RESUME_WITHIN_S
        after: list[Decision] = []
        while not after or not _allowed(after[-1]):
            assert time.monotonic() < deadline, after[-3:]
            after.append(gw.check(Action("bot", f"r{len(after)}", "ping", {})))
    finally:
        gw.close()
        delay.close()
    os.environ["WARDED_FAULT_PG"] = SHARED_PG  # read the chain directly (the fixture's monkeypatch restores it)
    _check_outcomes([*slow, *after])
    assert _every_reported_decision_recorded(policy, [*slow, *after]) >= len(slow)


def test_slow_redis_denies_and_resumes(fault_policy: Callable[[str, str], Path], redis_url: str) -> None:
    delay = Delay(6379)
    policy = fault_policy(SHARED_PG, redis_url.replace("127.0.0.1:6379", f"127.0.0.1:{delay.port}"))
    gw = Gateway.from_file(policy)
    try:
        assert gw.check(Action("bot", "s0", "ping", {})).verdict is Verdict.ALLOW
        delay.delay_s = TIMEOUT_S * 3
        slow = gw.check(Action("bot", "s1", "ping", {}))
        assert _unavailable(slow), slow
        delay.delay_s = 0.0
        deadline = time.monotonic() + RESUME_WITHIN_S
        after: list[Decision] = []
        while not after or not _allowed(after[-1]):
            assert time.monotonic() < deadline, after[-3:]
            after.append(gw.check(Action("bot", f"r{len(after)}", "ping", {})))
    finally:
        gw.close()
        delay.close()
    os.environ["WARDED_FAULT_REDIS"] = redis_url
    _check_outcomes([slow, *after])
    assert _every_reported_decision_recorded(policy, [slow, *after]) == 0


# -- a replica killed with -9 ----------------------------------------------------------------------------

# A replica that reports each decision (id and verdict) on stdout the moment its caller has it.
REPORTING_REPLICA = r"""
import json, sys, threading
from warded.core.types import Action
from warded.gateway.gateway import Gateway

gw = Gateway.from_file(sys.argv[1])
lock = threading.Lock()

def run(i):
    n = 0
    while True:
        n += 1
        d = gw.check(Action("bot", f"k{i}-{n}", "ping", {}))
        with lock:
            sys.stdout.write(json.dumps([d.id, d.verdict.value]) + "\n")
            sys.stdout.flush()

for i in range(4):
    threading.Thread(target=run, args=(i,), daemon=True).start()
threading.Event().wait()
"""


def test_replica_killed_mid_burst_loses_no_reported_decision(
    tmp_path: Path, fault_policy: Callable[[str, str], Path], redis_url: str
) -> None:
    policy = fault_policy(SHARED_PG, redis_url)
    script = tmp_path / "replica.py"
    script.write_text(REPORTING_REPLICA, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(policy)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[bytes] = []
    try:
        assert proc.stdout is not None
        while len(lines) < 150:
            line = proc.stdout.readline()
            assert line, proc.stderr.read().decode()[-3000:] if proc.stderr else "replica died"
            lines.append(line)
        proc.send_signal(signal.SIGKILL)  # mid-burst: four threads are deciding right now
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines += rest.splitlines(keepends=True)
    reported = [json.loads(line) for line in lines if line.endswith(b"\n")]  # a torn last line was never reported
    assert proc.returncode == -signal.SIGKILL
    by_seq, _ = _chain(policy)
    assert len(reported) >= 150
    for decision_id, verdict in reported:
        assert decision_id.startswith("d"), decision_id
        body = by_seq.get(int(decision_id[1:]))
        assert body is not None, f"reported decision {decision_id} is not in the chain after kill -9"
        recorded = body["decision"]
        assert isinstance(recorded, dict) and recorded["verdict"] == verdict
