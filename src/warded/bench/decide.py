"""``warded bench decide``: decision latency and throughput under a realistic policy.

The policy: 10 agents, 50 tools across all six tiers, every tool with argument constraints
(paths, e-mail and domain lists, account allow-lists, numeric bounds, RE2 patterns, SQL),
limits, a budget, and a raw Cedar policy reading arguments. The workload: random calls by
random agents with varied arguments, about a third of them out of policy. Figures are
medians and 99th percentiles of per-call wall time, measured on one thread.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from warded.core.types import Action, Verdict
from warded.decide.action import SessionState, decide
from warded.gateway.gateway import Gateway
from warded.policy.compile import CompiledPolicy, load_policy

N_AGENTS = 10
N_TOOLS = 50
_TIERS = ["read", "write", "destructive", "financial", "external", "privileged"]
_KINDS = ["path", "email", "domain", "account", "sql", "text"]


def bench_policy_yaml(root: str) -> str:
    lines = ["version: 1", "agents:"]
    rng = random.Random(1)
    for a in range(N_AGENTS):
        tools = sorted(rng.sample(range(N_TOOLS), 20))
        lines.append(f"  agent{a}:")
        lines.append(f"    tools: [{', '.join(f'tool{t}' for t in tools)}]")
    lines.append("tools:")
    for t in range(N_TOOLS):
        kind = _KINDS[t % len(_KINDS)]
        lines.append(f"  tool{t}:")
        lines.append(f"    tier: {_TIERS[t % len(_TIERS)]}")
        lines.append("    args:")
        lines.append("      count: {type: integer, number: {min: 0, max: 1000}}")
        lines.append("      note: {type: string, max_length: 500, pattern: '[^\\x00-\\x08]{0,500}'}")
        if kind == "path":
            lines.append(
                f"      target: {{type: string, required: true, path: {{roots: ['{root}'], globs: ['**/*.txt']}}}}"
            )
        elif kind == "email":
            lines.append(
                "      target: {type: array, required: true, max_length: 5, "
                "email: {allow: ['*@example.com', '*@*.partner.org'], deny: ['boss@example.com']}}"
            )
        elif kind == "domain":
            lines.append(
                "      target: {type: string, required: true, domain: {allow: ['example.com', '*.example.org']}}"
            )
        elif kind == "account":
            accounts = ", ".join(f"ACC-{i}" for i in range(50))
            lines.append(f"      target: {{type: string, required: true, values: {{allow: [{accounts}]}}}}")
            lines.append("      amount: {type: number, number: {min: 0, max: 10000}}")
        elif kind == "sql":
            lines.append(
                "      target: {type: string, required: true, sql: {read_only: true, tables: [orders, customers]}}"
            )
        else:
            lines.append("      target: {type: string, required: true, pattern: '[A-Za-z0-9 ._-]{1,64}'}")
    lines += [
        "approval:",
        "  tiers: [privileged]",
        "limits:",
        "  - {id: destructive-burst, tiers: [destructive], scope: session, max_calls: 1000000, window: 10m}",
        "  - {id: external-rate, tiers: [external], scope: agent, max_calls: 1000000, window: 1h, on_exceed: deny}",
        "budgets:",
        "  - {id: spend, tiers: [financial], argument: amount, max_total: 1000000000000, window: 24h}",
        "cedar: |",
        '  @id("no-large-counts-on-tool3")',
        '  forbid(principal, action, resource == Tool::"tool3")',
        "  when { context.args has count && context.args.count > 900 };",
        # The content guard has its own benchmark (`warded bench scan`); this one measures decisions.
        "scan:",
        "  enabled: false",
        "audit:",
        "  path: bench-audit.db",
        "  key: bench-audit.key",
    ]
    return "\n".join(lines) + "\n"


def _target(kind: int, rng: random.Random, root: str) -> Any:
    name = _KINDS[kind]
    good = rng.random() < 0.7
    if name == "path":
        return os.path.join(root, "docs", f"f{rng.randint(1, 99)}.txt") if good else os.path.join(root, "../etc/passwd")
    if name == "email":
        return [f"user{rng.randint(1, 999)}@example.com"] if good else ["x@evil.example"]
    if name == "domain":
        return f"https://api{rng.randint(1, 9)}.example.org/v1" if good else "https://example.org.evil.example/"
    if name == "account":
        return f"ACC-{rng.randint(0, 49)}" if good else "ACC-999"
    if name == "sql":
        # A query string the SQL constraint must parse; the benchmark never executes it.
        query = "SELECT id, total FROM orders WHERE id = " + str(rng.randint(1, 99))  # noqa: S608
        return query if good else "DELETE FROM orders"
    return f"report {rng.randint(1, 999)}.txt" if good else "bad\nvalue"


def workload(policy: CompiledPolicy, n: int, seed: int, root: str) -> list[Action]:
    rng = random.Random(seed)
    agents = sorted(policy.agents)
    out = []
    for i in range(n):
        agent = rng.choice(agents)
        granted = sorted(policy.agents[agent])
        tool = rng.choice(granted) if rng.random() < 0.9 else f"tool{rng.randrange(N_TOOLS)}"
        t = int(tool[4:])
        args: dict[str, Any] = {"target": _target(t % len(_KINDS), rng, root), "count": rng.randint(0, 1000)}
        if _KINDS[t % len(_KINDS)] == "account":
            args["amount"] = round(rng.uniform(1, 500), 2)
        if rng.random() < 0.3:
            args["note"] = "quarterly numbers attached " * rng.randint(1, 4)
        out.append(Action(agent, f"s{i % 50}", tool, args))
    return out


def _measure(fn: Callable[[Action], Any], actions: list[Action]) -> dict[str, float]:
    timer = time.perf_counter_ns
    samples = []
    start = timer()
    for action in actions:
        t0 = timer()
        fn(action)
        samples.append(timer() - t0)
    total = timer() - start
    samples.sort()
    return {
        "p50_us": round(samples[len(samples) // 2] / 1000, 1),
        "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 1),
        "mean_us": round(statistics.fmean(samples) / 1000, 1),
        "decisions_per_s": round(len(actions) / (total / 1e9)),
    }


def _by_family(policy: CompiledPolicy, actions: list[Action], state: SessionState) -> dict[str, dict[str, float]]:
    """Per-call decision time grouped by the kind of constraint on the tool's ``target`` argument."""
    timer = time.perf_counter_ns
    groups: dict[str, list[int]] = {}
    for action in actions:
        suffix = action.tool[4:]
        family = _KINDS[int(suffix) % len(_KINDS)] if suffix.isdigit() and action.tool in policy.tools else "undeclared"
        if action.tool == "tool3":
            family = "account+raw_cedar_on_args"
        t0 = timer()
        decide(policy, action, state)
        groups.setdefault(family, []).append(timer() - t0)
    out = {}
    for family, samples in sorted(groups.items()):
        samples.sort()
        out[family] = {
            "n": len(samples),
            "p50_us": round(samples[len(samples) // 2] / 1000, 1),
            "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 1),
        }
    return out


def run_decide_bench(n: int = 20000, seed: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="warded-bench-") as tmp:
        root = os.path.join(tmp, "data")
        os.makedirs(os.path.join(root, "docs"))
        path = os.path.join(tmp, "warded.yaml")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(bench_policy_yaml(root))
        policy = load_policy(path)
        actions = workload(policy, n, seed, root)
        state = SessionState()
        verdicts = {v.value: 0 for v in Verdict}
        for action in actions[:2000]:
            verdicts[decide(policy, action, state).verdict.value] += 1

        policy.cedar_cache.clear()
        warm = _measure(lambda a: decide(policy, a, state), actions[: n // 10])
        del warm
        decide_figs = _measure(lambda a: decide(policy, a, state), actions)
        hits_possible = len(policy.cedar_cache)

        def uncached(a: Action) -> None:
            policy.cedar_cache.clear()
            decide(policy, a, state)

        uncached_figs = _measure(uncached, actions)
        by_family = _by_family(policy, actions, state)

        results: dict[str, Any] = {}
        for sync in ("normal", "full"):
            sub = os.path.join(tmp, sync)
            os.makedirs(sub)
            text = bench_policy_yaml(root).replace(
                "  key: bench-audit.key", f"  key: bench-audit.key\n  synchronous: {sync}"
            )
            spath = os.path.join(sub, "warded.yaml")
            with open(spath, "w", encoding="utf-8") as fh:
                fh.write(text)
            gw = Gateway.from_file(spath)
            count = n if sync == "normal" else max(1000, n // 10)
            try:
                results[sync] = _measure(gw.check, actions[:count])
                results[sync]["n"] = count
            finally:
                gw.close()
            report_db = os.path.join(sub, "bench-audit.db")
            results[sync]["audit_db_bytes"] = os.path.getsize(report_db)

    return {
        "benchmark": "decide",
        "p50_us": decide_figs["p50_us"],
        "p99_us": decide_figs["p99_us"],
        "decisions_per_s": decide_figs["decisions_per_s"],
        "decide": decide_figs,
        "decide_without_cedar_memo": uncached_figs,
        "decide_by_constraint_family": by_family,
        "audited": results["normal"],
        "audited_synchronous_full": results["full"],
        "workload": {
            "decisions": n,
            "agents": N_AGENTS,
            "tools": N_TOOLS,
            "verdict_mix_first_2000": verdicts,
            "distinct_cedar_contexts": hits_possible,
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "notes": (
            "decide: pure decision (argument checks + Cedar via cedarpy, memoised on the exact Cedar request); "
            "decide_without_cedar_memo: the memo cleared before every call; audited: Gateway.check including "
            "session-state read, windows and a hash-chained SQLite WAL append (synchronous=NORMAL: durable "
            "against process crash; FULL: fsync per append)."
        ),
    }
