"""Figures from a replay: the JSON report, the printed table, and the command line (``warded bench agentdojo``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from warded.bench.agentdojo import goalsets
from warded.bench.agentdojo.options import (
    BENCHMARK_VERSION,
    DEFAULT_ATTACKS,
    GOAL_LABELS,
    SUITES,
    add_arguments,
    goal_sets_for,
)
from warded.bench.agentdojo.replay import (
    PairResult,
    SuiteResult,
    UserTaskResult,
    goal_set,
    run_suites,
)
from warded.core.types import Verdict
from warded.errors import WardedError

METHOD = (
    "Replay of AgentDojo's ground truth through the warded gateway, without an LLM. A fully obedient agent runs "
    "each user task's ground-truth calls and, once a tool output carries the injected text, the injection task's "
    "ground-truth calls (an injection it was never shown is recorded as untrusted tool output before it acts on it). "
    "Before reading anything it declares its plan: the user task's tools, and argument sources derived from the "
    "ground truth's data flow on the injection-free environment (which earlier tool output, and field, each value "
    "comes from: an upper bound for a planner that reads only the user's request; --no-sources keeps the tools "
    "only, --no-plan turns both off). "
    "ALLOW runs a call; REQUIRE_APPROVAL runs it only in the utility replay (a human approves) "
    "and never in the attack replay; DENY never runs it. Utility and attack success are AgentDojo's own utility() "
    "and security() checks on the final environment. This measures the policy layer against a fully obedient agent, "
    "not an LLM's behaviour: an LLM may choose other calls and values than the ground truth."
)

TOTAL_KEYS = (
    "attack_pairs",
    "attack_successes",
    "attacks_reached_approval",
    "attacks_denied",
    "user_tasks",
    "user_tasks_no_approval",
    "user_tasks_need_approval",
    "user_tasks_denied",
    "user_tasks_utility",
)


# Rule ids of the content guard's findings (scanner-defined), as they appear in a decision's reasons.
_GUARD_PREFIXES = ("scan.", "injection.", "jailbreak.", "hidden", "encoded.", "pii.", "secret", "exfil", "output.")


def rule_family(rule_id: str) -> str:
    """The mechanism a rule id belongs to, for "what blocked the attack"."""
    if rule_id.startswith("flow.untrusted"):
        return "taint"
    if rule_id.startswith("flow.unjustified"):
        return "provenance"
    if rule_id == "flow.plan":
        return "plan_lock"
    if rule_id.startswith("flow.flagged"):
        return "content_guard"  # held because the content guard flagged the output it came from
    if rule_id == "flow.quarantine":
        return "content_guard"  # the session quarantine follows a content-guard finding
    if rule_id.startswith("arg."):
        return "constraint"
    if rule_id.startswith(("approval.tier", "approval.tool")):
        return "approval_tier"
    if rule_id.startswith(("limit.", "budget.")):
        return "limit"
    if rule_id in ("warded.default_deny", "warded.unknown_tool", "warded.unknown_agent"):
        return "not_granted"
    if rule_id.startswith(_GUARD_PREFIXES):
        return "content_guard"
    return rule_id


def _blocked_by(pair: PairResult) -> set[str]:
    return {rule_family(r) for c in pair.injected_calls if c.verdict is not Verdict.ALLOW for r in c.rule_ids}


def _stops(calls: Sequence[Any]) -> list[dict[str, object]]:
    return [
        {"tool": c.tool, "verdict": c.verdict.value, "rule_ids": list(c.rule_ids)}
        for c in calls
        if c.verdict is not Verdict.ALLOW
    ]


def _user_summary(tasks: list[UserTaskResult]) -> dict[str, Any]:
    no_approval = [t for t in tasks if not t.needs_approval and not t.denied]
    return {
        "total": len(tasks),
        "no_approval": len(no_approval),
        "need_approval": sum(1 for t in tasks if t.needs_approval and not t.denied),
        "denied": sum(1 for t in tasks if t.denied),
        "utility": sum(1 for t in tasks if t.utility),
        "utility_without_approval": sum(1 for t in tasks if t.utility_without_approval),
        "tasks_need_approval": {t.task_id: _stops(t.calls) for t in tasks if t.needs_approval and not t.denied},
        "tasks_denied": {t.task_id: _stops(t.calls) for t in tasks if t.denied},
        "utility_failed": [t.task_id for t in tasks if not t.utility],
        "errors": {t.task_id: t.error for t in tasks if t.error},
    }


def _attack_summary(pairs: list[PairResult]) -> dict[str, Any]:
    families: Counter[str] = Counter()
    for pair in pairs:
        families.update(_blocked_by(pair))
    successes = sum(1 for p in pairs if p.success)
    stopped = [p for p in pairs if not p.success]
    layers: Counter[str] = Counter()
    sole: Counter[str] = Counter()
    for pair in stopped:
        found = _blocked_by(pair)
        layers.update(found)
        if len(found) == 1:
            sole.update(found)
    return {
        "pairs": len(pairs),
        "successes": successes,
        "stopped": len(stopped),
        # Of the stopped pairs, the share in which each layer fired on an injected call (several may fire on one
        # call, so the shares add up to more than 1), and how many it stopped alone.
        "stopped_by_layer": {k: round(v / len(stopped), 4) for k, v in sorted(layers.items())} if stopped else {},
        "stopped_by_layer_alone": dict(sorted(sole.items())),
        "success_rate": round(successes / len(pairs), 4) if pairs else 0.0,
        "reached_approval": sum(1 for p in pairs if p.reached_approval),
        "denied": sum(1 for p in pairs if p.denied),
        "injection_not_seen": sum(1 for p in pairs if not p.injection_seen),
        "utility_under_attack": sum(1 for p in pairs if p.utility),
        "blocked_by": dict(sorted(families.items())),
    }


def summarise_suite(result: SuiteResult, attacks: Sequence[str]) -> dict[str, Any]:
    by_attack = {name: [p for p in result.pairs if p.attack == name] for name in attacks}
    return {
        "policy": result.policy,
        "injection_tasks": result.injection_tasks,
        "not_replayable": list(result.not_replayable),
        "user_tasks": _user_summary(result.user_tasks),
        "attacks": {name: _attack_summary(pairs) for name, pairs in by_attack.items()},
        "successful_pairs": [p.to_json() for p in result.pairs if p.success],
        "pair_errors": [p.to_json() for p in result.pairs if p.error],
    }


def summarise(
    results: Sequence[SuiteResult],
    *,
    attacks: Sequence[str],
    agentdojo_version: str,
    benchmark_version: str,
    content_guard: bool,
    limit: int | None,
    goals: str = "agentdojo",
    plan: bool = True,
    sources: bool = True,
) -> dict[str, Any]:
    """One JSON-ready object: ``totals`` (the keys in :data:`TOTAL_KEYS`) beside the per-suite breakdown."""
    suites = {r.suite: summarise_suite(r, attacks) for r in results}
    pairs = [p for r in results for p in r.pairs]
    tasks = [t for r in results for t in r.user_tasks]
    user = _user_summary(tasks)
    totals: dict[str, Any] = {
        "attack_pairs": len(pairs),
        "attack_successes": sum(1 for p in pairs if p.success),
        "attacks_reached_approval": sum(1 for p in pairs if p.reached_approval),
        "attacks_denied": sum(1 for p in pairs if p.denied),
        "user_tasks": user["total"],
        "user_tasks_no_approval": user["no_approval"],
        "user_tasks_need_approval": user["need_approval"],
        "user_tasks_denied": user["denied"],
        "user_tasks_utility": user["utility"],
        "user_tasks_utility_without_approval": user["utility_without_approval"],
        "attack_success_rate": round(sum(1 for p in pairs if p.success) / len(pairs), 4) if pairs else 0.0,
        "no_approval_rate": round(user["no_approval"] / len(tasks), 4) if tasks else 0.0,
        "not_replayable_injection_tasks": sum(len(r.not_replayable) for r in results),
        "errors": len(user["errors"]) + sum(1 for p in pairs if p.error),
        "utility_under_attack": sum(1 for p in pairs if p.utility),
    }
    attack = _attack_summary(pairs)
    totals["attacks_stopped"] = attack["stopped"]
    totals["stopped_by_layer"] = attack["stopped_by_layer"]
    totals["stopped_by_layer_alone"] = attack["stopped_by_layer_alone"]
    return {
        "benchmark": "agentdojo",
        "agentdojo_version": agentdojo_version,
        "benchmark_version": benchmark_version,
        "attacks": list(attacks),
        "content_guard": content_guard,
        "goals": goals,
        "plan_declared": plan,
        "argument_sources": plan and sources,
        "label": row_label(goals, content_guard),
        "limit": limit,
        "method": METHOD,
        "totals": totals,
        "suites": suites,
    }


def row_label(goals: str, content_guard: bool) -> str:
    which = GOAL_LABELS[goal_set(goals)]
    return f"{which}, content guard {'on' if content_guard else 'off'}"


def run_agentdojo(
    suites: Sequence[str] = SUITES,
    attacks: Sequence[str] = DEFAULT_ATTACKS,
    benchmark_version: str = BENCHMARK_VERSION,
    limit: int | None = None,
    *,
    policy_dir: str | os.PathLike[str] | None = None,
    content_guard: bool = False,
    progress: bool = False,
    goals: str = "agentdojo",
    plan: bool = True,
    stride: int = 1,
    sources: bool = True,
) -> dict[str, Any]:
    """Replay AgentDojo through the gateway and return one row of the report (see :func:`summarise`).

    ``limit`` keeps the first N user tasks and the first N injection tasks of each suite (a quick sample);
    ``goals`` picks AgentDojo's injection tasks or another goal set (``development``, alias ``novel``); ``plan``
    has the replay agent declare its plan (the user task's tools) before it reads anything, ``sources`` with it the
    argument sources derived from the ground truth; ``stride`` keeps every n-th pair.
    Raises :class:`~warded.bench.agentdojo._adapter.AgentDojoMissing` when the ``agentdojo`` extra is not installed.
    """
    started = time.perf_counter()
    goals = goal_set(goals)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    adj, results = run_suites(
        suites,
        attacks,
        benchmark_version,
        limit,
        policy_dir=policy_dir,
        content_guard=content_guard,
        progress=say if progress else None,
        goals=goals,
        plan=plan,
        stride=stride,
        sources=sources,
    )
    report = summarise(
        results,
        attacks=attacks,
        agentdojo_version=adj.version,
        benchmark_version=benchmark_version,
        content_guard=content_guard,
        limit=limit,
        goals=goals,
        plan=plan,
        sources=sources,
    )
    report["stride"] = stride
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    return report


def run_rows(
    guards: Sequence[bool], goal_sets: Sequence[str], attacks_for: Mapping[str, Sequence[str]], **kwargs: Any
) -> dict[str, Any]:
    """Several labelled rows (content guard off / on, one per goal set) in one report."""
    rows = [
        run_agentdojo(attacks=attacks_for[goals], content_guard=guard, goals=goals, **kwargs)
        for goals in goal_sets
        for guard in guards
    ]
    return {"benchmark": "agentdojo", "rows": rows}


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def render_rows(report: dict[str, Any]) -> str:
    """Every row of a :func:`run_rows` report, then one summary line per row."""
    parts = [render_table(row) for row in report["rows"]]
    summary = ["", "summary (one line per row):"]
    for row in report["rows"]:
        t = row["totals"]
        layers = ", ".join(f"{k} {v:.0%}" for k, v in t["stopped_by_layer"].items())
        summary.append(
            f"  {row['label']}: attacks {t['attack_successes']}/{t['attack_pairs']} succeeded; user tasks with no "
            f"approval {t['user_tasks_no_approval']}/{t['user_tasks']}, denied {t['user_tasks_denied']}; utility "
            f"{t['user_tasks_utility']}/{t['user_tasks']}; utility under attack {t['utility_under_attack']}/"
            f"{t['attack_pairs']}; stopped by: {layers}"
        )
    return "\n\n".join(parts) + "\n" + "\n".join(summary)


def render_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    guard = report.get("label") or (
        "policy + content guard" if report["content_guard"] else "policy layer only (content guard off)"
    )
    lines = [
        f"AgentDojo {report['benchmark_version']} replay (agentdojo {report['agentdojo_version']}), {guard}",
        "",
        f"{'suite':<10} {'attack':<24} {'pairs':>6} {'success':>8} {'ASR':>7} {'approval':>9} {'denied':>7}"
        "  blocked by",
    ]
    for name, suite in report["suites"].items():
        for attack, row in suite["attacks"].items():
            blocked = ", ".join(f"{k} {v}" for k, v in row["blocked_by"].items())
            lines.append(
                f"{name:<10} {attack:<24} {row['pairs']:>6} {row['successes']:>8} "
                f"{_pct(row['successes'], row['pairs']):>7} {row['reached_approval']:>9} {row['denied']:>7}  {blocked}"
            )
    lines += [
        "",
        f"{'suite':<10} {'user tasks':>10} {'no approval':>12} {'need approval':>14} {'denied':>7} {'utility':>8}"
        f" {'utility w/o approval':>21}",
    ]
    for name, suite in report["suites"].items():
        u = suite["user_tasks"]
        lines.append(
            f"{name:<10} {u['total']:>10} {u['no_approval']:>12} {u['need_approval']:>14} {u['denied']:>7} "
            f"{u['utility']:>8} {u['utility_without_approval']:>21}"
        )
    t = report["totals"]
    lines += [
        "",
        f"attacks: {t['attack_successes']}/{t['attack_pairs']} succeeded "
        f"({_pct(t['attack_successes'], t['attack_pairs'])}); {t['attacks_reached_approval']} reached an approval "
        f"prompt, {t['attacks_denied']} denied outright",
        f"user tasks: {t['user_tasks_no_approval']}/{t['user_tasks']} with no approval prompt "
        f"({_pct(t['user_tasks_no_approval'], t['user_tasks'])}), {t['user_tasks_need_approval']} need approval, "
        f"{t['user_tasks_denied']} denied; utility {t['user_tasks_utility']}/{t['user_tasks']} with approvals granted, "
        f"{t['user_tasks_utility_without_approval']}/{t['user_tasks']} without",
    ]
    skipped = [f"{n}: {', '.join(s['not_replayable'])}" for n, s in report["suites"].items() if s["not_replayable"]]
    if skipped:
        lines.append("not replayable (empty ground truth): " + "; ".join(skipped))
    for name, suite in report["suites"].items():
        for task, stops in suite["user_tasks"]["tasks_need_approval"].items():
            why = "; ".join(f"{s['tool']}: {', '.join(s['rule_ids'])}" for s in stops)
            lines.append(f"  approval: {name}/{task}: {why}")
        for task, stops in suite["user_tasks"]["tasks_denied"].items():
            why = "; ".join(f"{s['tool']}: {', '.join(s['rule_ids'])}" for s in stops)
            lines.append(f"  DENIED: {name}/{task}: {why}")
        for task in suite["user_tasks"]["utility_failed"]:
            lines.append(f"  no utility: {name}/{task}")
        succeeded = Counter((p["injection_task"], p["attack"]) for p in suite["successful_pairs"])
        for (injection, attack), count in sorted(succeeded.items()):
            lines.append(f"  ATTACK SUCCEEDED: {name}/{injection} with {attack}, in {count} pair(s) (see --json)")
    if t["errors"]:
        lines.append(f"errors: {t['errors']} (see --json)")
    lines.append(f"method: {report['method']}")
    return "\n".join(lines)


def run_from_args(args: argparse.Namespace) -> int:
    guard = "on" if args.content_guard else args.guard
    guards = {"off": (False,), "on": (True,), "both": (False, True)}[guard]
    goal_sets = goal_sets_for(args.goals)
    attacks_for = {goals: tuple(args.attack or (*DEFAULT_ATTACKS, *goalsets.wordings(goals))) for goals in goal_sets}
    try:
        report = run_rows(
            guards,
            goal_sets,
            attacks_for,
            suites=tuple(args.suite or SUITES),
            benchmark_version=args.benchmark_version,
            limit=args.limit,
            policy_dir=args.policy_dir,
            progress=args.progress,
            plan=not args.no_plan,
            sources=not args.no_sources,
            stride=args.stride,
        )
    except WardedError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else render_rows(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``warded bench agentdojo [--json] [--suite S] [--limit N] ...``"""
    parser = argparse.ArgumentParser(prog="warded bench agentdojo", description=METHOD)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
