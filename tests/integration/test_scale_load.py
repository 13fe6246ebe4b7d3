"""The issue's scale, against the real PostgreSQL and Redis: 10,000 concurrent calls from 4 replica processes
on one policy, and its limit, budget and circuit breaker are exact, as if one process had decided alone.

Each replica is its own process running ``Gateway.from_file`` (no HTTP: the proof is about the shared
stores, and the wire would only make it slower); all start deciding at once, from several threads each.
Skipped without the services, unless ``WARDED_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from warded import ops
from warded.audit.keys import generate_keypair
from warded.cli import main as cli_main
from warded.gateway.gateway import Gateway

PG_DSN = os.environ.get("WARDED_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REPLICAS = 4
TOTAL = 10_000
THREADS = 8  # per replica: 32 calls in flight at any moment
PING_LIMIT = 300
PAY_BUDGET = 1000.0
PAY_AMOUNT = 7.0  # 142 payments fit (994); the 143rd would make 1001
BREAKER = 50

POLICY = f"""
version: 1
agents:
  bot: {{tools: [ping, pay]}}
  crawler: {{tools: [fetch]}}
tools:
  ping: {{tier: read}}
  fetch: {{tier: read}}
  pay:
    tier: write
    args:
      amount: {{type: number, required: true}}
limits:
  - {{id: ping-cap, tools: [ping], scope: agent, max_calls: {PING_LIMIT}, window: 1h, on_exceed: deny}}
  - {{id: fetch-breaker, tools: [fetch], scope: agent, max_calls: {BREAKER}, window: 1h, on_exceed: pause}}
budgets:
  - {{id: spend, tools: [pay], argument: amount, max_total: {PAY_BUDGET}, window: 1h, scope: agent}}
audit: {{path: audit.db, key: audit.key}}
scan: {{enabled: false}}
flow: {{enabled: false}}
store:
  postgres: "${{WARDED_LOAD_PG}}"
  redis: "${{WARDED_LOAD_REDIS}}"
  schema: {{schema}}
  prefix: "{{prefix}}"
  pool_size: {THREADS}
"""

REPLICA = r"""
import json, os, sys, time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from warded.core.types import Action
from warded.gateway.gateway import Gateway

policy, go, ready, first, calls, threads, amount = sys.argv[1:8]
gw = Gateway.from_file(policy)
open(ready, "w").close()
deadline = time.monotonic() + 120
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.005)

def one(i):
    kind = i % 3
    if kind == 0:
        d = gw.check(Action("bot", f"s{i % 16}", "ping", {}))
    elif kind == 1:
        d = gw.check(Action("bot", f"s{i % 16}", "pay", {"amount": float(amount)}))
    else:
        d = gw.check(Action("crawler", f"c{i % 16}", "fetch", {}))
    return ("ping", "pay", "fetch")[kind], d.verdict.value, d.reasons[0].rule_id if d.reasons else ""

start = int(first)
with ThreadPoolExecutor(int(threads)) as pool:
    results = list(pool.map(one, range(start, start + int(calls))))
gw.close()
print(json.dumps([list(r) for r in results]))
"""


@pytest.mark.slow  # about a minute on 2 busy cores: every one of the 10,000 decisions commits to the chain
def test_limit_budget_and_breaker_exact_under_10000_calls_from_4_replicas(
    tmp_path: Path, pg_schema: tuple[str, str], redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDED_LOAD_PG", PG_DSN)
    monkeypatch.setenv("WARDED_LOAD_REDIS", redis_url)
    generate_keypair(tmp_path / "audit.key")
    policy = tmp_path / "warded.yaml"
    policy.write_text(
        textwrap.dedent(POLICY.replace("{schema}", pg_schema[1]).replace("{prefix}", redis_prefix)), encoding="utf-8"
    )
    assert cli_main(["store", "migrate", "--policy", str(policy)]) == 0
    script = tmp_path / "replica.py"
    script.write_text(REPLICA, encoding="utf-8")
    go = tmp_path / "go"
    per = TOTAL // REPLICAS
    procs, readies = [], []
    for r in range(REPLICAS):
        ready = tmp_path / f"ready-{r}"
        readies.append(ready)
        args = [str(policy), str(go), str(ready), str(r * per), str(per), str(THREADS), repr(PAY_AMOUNT)]
        procs.append(
            subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    results: list[tuple[str, str, str]] = []
    try:
        deadline = time.monotonic() + 120
        while not all(ready.exists() for ready in readies):
            failed = [p for p in procs if p.poll() is not None]
            assert not failed, failed[0].communicate()[1][-3000:]
            assert time.monotonic() < deadline, "replicas did not start"
            time.sleep(0.02)
        go.touch()  # all four decide at once
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err[-3000:]
            results += [tuple(r) for r in json.loads(out.decode().strip().splitlines()[-1])]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert len(results) == TOTAL
    outcomes = Counter(results)
    allowed = Counter(tool for tool, verdict, _ in results if verdict == "allow")
    # The limit: exactly its cap, every other ping denied by it.
    assert allowed["ping"] == PING_LIMIT
    assert outcomes["ping", "deny", "limit.ping-cap"] == sum(1 for t, _, _ in results if t == "ping") - PING_LIMIT
    # The budget: exactly as many payments as fit, and the next one would not have.
    fits = int(PAY_BUDGET // PAY_AMOUNT)
    assert allowed["pay"] == fits
    assert outcomes["pay", "deny", "budget.spend"] == sum(1 for t, _, _ in results if t == "pay") - fits
    # The breaker: exactly its cap allowed, then the agent paused once, across all replicas.
    assert allowed["fetch"] == BREAKER
    fetch_denials = {rule for tool, verdict, rule in results if tool == "fetch" and verdict == "deny"}
    assert fetch_denials <= {"limit.fetch-breaker", "warded.session_paused"}
    assert not {rule for _, verdict, rule in results if verdict == "deny"} & {"store.unavailable", "limit.contention"}
    # One chain holds every decision, and it verifies.
    gw = Gateway.from_file(policy)
    try:
        kinds = Counter(e.kind for e in gw.audit.store.iter_entries())
        paused = [e.body for e in gw.audit.store.iter_entries() if e.kind in ("session_paused", "alert")]
    finally:
        gw.close()
    assert kinds["decision"] == TOTAL
    assert kinds["session_paused"] == 1 and kinds["alert"] == 1, paused
    assert {(b["agent_id"], b["rule_id"]) for b in paused} == {("crawler", "limit.fetch-breaker")}
    db, keys = ops.resolve_log(str(policy), None, [])
    report = ops.verify_log(db, keys, policy_path=str(policy), expect_stopped=True)
    assert report.entries == sum(kinds.values()) + 1  # and the reader's own gateway_stopped
