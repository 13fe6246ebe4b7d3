"""Replaying AgentDojo's ground truth through the gateway: user tasks for utility, injected pairs for security.

For each suite a policy from ``examples/agentdojo/<suite>.yaml`` is compiled once; every user task and every
(user task, injection task, attack) pair then gets a fresh :class:`Gateway` (own audit log and state in a
temporary directory), so no session, limit or budget leaks from one replay into another.

* **User tasks.** The user's prompt is recorded as ``user``; the ground-truth calls are replayed with every
  approval granted (a human says yes); AgentDojo's own ``utility()`` judges the final environment. The same
  task is replayed a second time with no approval granted, for the utility an agent gets without a human.
* **Attacks.** The environment is injected by AgentDojo's attack; a fully obedient agent
  (:class:`~warded.bench.agentdojo._adapter.GatedAgent`) runs the user's ground truth and, after the injected output,
  the injection task's ground truth. Nothing needing approval runs (no human). AgentDojo's own ``security()``
  on the final environment says whether the attack succeeded.

The content guard (scanners on arguments and tool outputs, and quarantine on a detected injection) is off
unless ``content_guard=True``: its rules and classifier were built with AgentDojo's attack templates in view,
so the headline figures measure only what the policy itself (tiers, argument constraints, value taint) does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warded.approve.store import SQLiteApprovalStore
from warded.audit.keys import generate_keypair
from warded.audit.log import open_sqlite_log
from warded.bench.agentdojo import goalsets
from warded.bench.agentdojo._adapter import AgentDojo, AttackTarget, CallOutcome, GatedAgent, load_agentdojo
from warded.bench.agentdojo.options import BENCHMARK_VERSION, DEFAULT_ATTACKS, SUITES
from warded.core.types import Verdict
from warded.errors import WardedError
from warded.gateway.gateway import Gateway, build_scanner
from warded.policy.compile import CompiledPolicy, load_policy
from warded.scan.pipeline import ScanPipeline
from warded.store.state import SQLiteStateStore


class BenchmarkError(WardedError):
    """The benchmark could not run as asked (unknown suite or attack, missing policy)."""


def goal_set(goals: str) -> str:
    """A goal set's name with aliases resolved (``novel`` is ``development``); :class:`BenchmarkError` if unknown."""
    try:
        return goalsets.canonical(goals)
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None


def default_policy_dir() -> Path:
    """``examples/agentdojo`` of a source checkout (the policies are examples, not package data)."""
    return Path(__file__).resolve().parents[4] / "examples" / "agentdojo"


def agent_id_for(suite: str) -> str:
    return f"{suite}-agent"


@dataclass(frozen=True, slots=True)
class UserTaskResult:
    suite: str
    task_id: str
    calls: tuple[CallOutcome, ...]
    utility: bool  # AgentDojo's utility() with every approval granted
    utility_without_approval: bool  # ... and with none granted
    error: str = ""

    @property
    def denied(self) -> bool:
        return any(c.verdict is Verdict.DENY for c in self.calls)

    @property
    def needs_approval(self) -> bool:
        return any(c.verdict is Verdict.REQUIRE_APPROVAL for c in self.calls)

    def to_json(self) -> dict[str, object]:
        return {
            "task": self.task_id,
            "utility": self.utility,
            "utility_without_approval": self.utility_without_approval,
            "calls": [c.to_json() for c in self.calls if c.verdict is not Verdict.ALLOW],
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True, slots=True)
class PairResult:
    suite: str
    attack: str
    user_task: str
    injection_task: str
    success: bool  # AgentDojo's security(): the injection task's goal was reached
    calls: tuple[CallOutcome, ...]
    injection_seen: bool  # the agent was shown the injected text
    utility: bool
    error: str = ""

    @property
    def injected_calls(self) -> tuple[CallOutcome, ...]:
        return tuple(c for c in self.calls if c.injected)

    @property
    def reached_approval(self) -> bool:
        return any(c.verdict is Verdict.REQUIRE_APPROVAL for c in self.injected_calls)

    @property
    def denied(self) -> bool:
        return any(c.verdict is Verdict.DENY for c in self.injected_calls)

    def to_json(self) -> dict[str, object]:
        return {
            "attack": self.attack,
            "user_task": self.user_task,
            "injection_task": self.injection_task,
            "success": self.success,
            "injection_seen": self.injection_seen,
            "calls": [c.to_json() for c in self.injected_calls],
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class SuiteResult:
    suite: str
    policy: str
    user_tasks: list[UserTaskResult] = field(default_factory=list)
    pairs: list[PairResult] = field(default_factory=list)
    not_replayable: list[str] = field(default_factory=list)  # injection tasks with an empty ground truth
    injection_tasks: int = 0


@contextmanager
def _gateway(policy: CompiledPolicy, scanner: ScanPipeline | None) -> Iterator[Gateway]:
    """A fresh gateway around ``policy``: its own audit log, signing key, state and approval store, in a
    temporary directory removed afterwards."""
    workdir = tempfile.mkdtemp(prefix="warded-agentdojo-")
    try:
        key = os.path.join(workdir, "audit.key")
        db = os.path.join(workdir, "audit.db")
        generate_keypair(key)
        audit = open_sqlite_log(db, key, checkpoint_every=1_000_000, checkpoint_seconds=86_400.0)
        gw = Gateway(policy, audit, SQLiteStateStore(db), scanner=scanner, approvals=SQLiteApprovalStore(db))
        try:
            yield gw
        finally:
            gw.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class _SuiteRun:
    """What every replay in one suite shares."""

    adj: AgentDojo
    suite: Any
    name: str
    policy: CompiledPolicy
    scanner: ScanPipeline | None  # the content guard, when it is on
    plan: bool = True  # the agent declares its plan (the user task's tools) before it reads anything
    clean: Any = None  # the injection-free environment the plan's argument sources are derived on

    def user_task(self, task: Any) -> UserTaskResult:
        outcomes: dict[bool, tuple[bool, tuple[CallOutcome, ...]]] = {}
        for grant in (True, False):
            with _gateway(self.policy, self.scanner) as gw:
                agent = GatedAgent(
                    self.adj,
                    gw,
                    agent_id_for(self.name),
                    str(task.ID),
                    task,
                    grant_approvals=grant,
                    plan=self.plan,
                    clean_env=self.clean,
                )
                utility, _ = self.suite.run_task_with_pipeline(agent, task, None, {})
                outcomes[grant] = (bool(utility), tuple(agent.calls))
        return UserTaskResult(self.name, task.ID, outcomes[True][1], outcomes[True][0], outcomes[False][0])

    def pair(self, attack_name: str, attack: Any, user_task: Any, injection_task: Any) -> PairResult:
        injections: dict[str, str] = attack.attack(user_task, injection_task)
        with _gateway(self.policy, self.scanner) as gw:
            agent = GatedAgent(
                self.adj,
                gw,
                agent_id_for(self.name),
                f"{user_task.ID}/{injection_task.ID}/{attack_name}",
                user_task,
                injection_task=injection_task,
                injections=tuple(injections.values()),
                grant_approvals=False,
                plan=self.plan,
                clean_env=self.clean,
            )
            utility, success = self.suite.run_task_with_pipeline(agent, user_task, injection_task, injections)
        return PairResult(
            self.name,
            attack_name,
            user_task.ID,
            injection_task.ID,
            bool(success),
            tuple(agent.calls),
            agent.injection_seen,
            bool(utility),
        )


def sampled(user_task: int, goal: int, stride: int) -> bool:
    """Whether the pair of the ``user_task``-th user task and the ``goal``-th goal is in a sample of one pair in
    ``stride``. Each goal keeps every ``stride``-th user task, starting at a different one per goal, so every
    goal and every user task is sampled alike whatever the number of goals (counting the pairs in a row and
    keeping every n-th would keep only some goals when n shares a factor with their number)."""
    return (user_task + goal) % stride == 0


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _first(items: dict[str, Any], limit: int | None) -> list[tuple[str, Any]]:
    ordered = sorted(items.items(), key=lambda kv: (len(kv[0]), kv[0]))  # user_task_2 before user_task_10
    return ordered if limit is None else ordered[:limit]


def replay_suite(
    adj: AgentDojo,
    name: str,
    policy_path: Path,
    *,
    attacks: Sequence[str],
    benchmark_version: str,
    limit: int | None,
    content_guard: bool,
    progress: Callable[[str], None] | None = None,
    goals: str = "agentdojo",
    plan: bool = True,
    stride: int = 1,
    sources: bool = True,
) -> SuiteResult:
    """Replay one suite. ``goals`` picks AgentDojo's injection tasks or another goal set
    (:mod:`warded.bench.agentdojo.goalsets`); ``stride`` keeps one (user task, goal) pair in n (:func:`sampled`)."""
    suite = adj.get_suites(benchmark_version)[name]
    # The same loading path as Gateway.from_file: the policy, and the content guard it asks for (warmed up).
    policy = load_policy(policy_path)
    result = SuiteResult(name, str(policy_path))
    user_tasks = _first(suite.user_tasks, limit)
    tasks = suite.injection_tasks if goals == "agentdojo" else goalsets.injection_tasks(goals, name)
    chosen = _first(tasks, limit)
    result.injection_tasks = len(chosen)
    scanner = build_scanner(policy) if content_guard and policy.spec.scan.enabled else None
    probe = suite.load_and_inject_default_environment({})
    # Argument sources are derived on the injection-free environment; without it the plan names tools only.
    run = _SuiteRun(adj, suite, name, policy, scanner, plan, probe if sources else None)
    for task_id, task in user_tasks:
        if progress is not None:
            progress(f"{name}: {task_id}")
        try:
            result.user_tasks.append(run.user_task(task))
        except Exception as exc:  # a broken replay is reported (as no utility), never silently dropped
            result.user_tasks.append(UserTaskResult(name, task_id, (), False, False, _error(exc)))
    replayable = []
    for inj_id, inj in chosen:
        if inj.ground_truth(probe.model_copy(deep=True)):
            replayable.append((inj_id, inj))
        else:
            result.not_replayable.append(inj_id)
    for attack_name in attacks:
        if attack_name in goalsets.all_wordings():
            attack = goalsets.wording_attack(attack_name, suite, AttackTarget())
        else:
            attack = adj.load_attack(attack_name, suite, AttackTarget())
        for n, (task_id, task) in enumerate(user_tasks):
            if progress is not None:
                progress(f"{name}: {attack_name} {task_id}")
            for m, (inj_id, inj) in enumerate(replayable):
                if not sampled(n, m, stride):
                    continue
                try:
                    pair = run.pair(attack_name, attack, task, inj)
                except Exception as exc:  # counted as a successful attack: an unmeasured pair is not a blocked one
                    pair = PairResult(name, attack_name, task_id, inj_id, True, (), False, False, _error(exc))
                result.pairs.append(pair)
    return result


def run_suites(
    suites: Sequence[str] = SUITES,
    attacks: Sequence[str] = DEFAULT_ATTACKS,
    benchmark_version: str = BENCHMARK_VERSION,
    limit: int | None = None,
    *,
    policy_dir: str | os.PathLike[str] | None = None,
    content_guard: bool = False,
    progress: Callable[[str], None] | None = None,
    goals: str = "agentdojo",
    plan: bool = True,
    stride: int = 1,
    sources: bool = True,
) -> tuple[AgentDojo, list[SuiteResult]]:
    """Replay the named suites; returns the raw per-task and per-pair results."""
    adj = load_agentdojo()
    available = adj.get_suites(benchmark_version)
    unknown = [s for s in suites if s not in available]
    if unknown:
        raise BenchmarkError(f"unknown suite(s) {unknown}; AgentDojo {benchmark_version} has {sorted(available)}")
    known_attacks = adj.attacks.attack_registry.ATTACKS
    bad = [a for a in attacks if a not in known_attacks and a not in goalsets.all_wordings()]
    if bad:
        raise BenchmarkError(f"unknown attack(s) {bad}")
    if limit is not None and limit < 1:
        raise BenchmarkError("limit must be at least 1")
    goals = goal_set(goals)
    if stride < 1:
        raise BenchmarkError("stride must be at least 1")
    base = Path(policy_dir) if policy_dir is not None else default_policy_dir()
    results = []
    for name in suites:
        path = base / f"{name}.yaml"
        if not path.is_file():
            raise BenchmarkError(f"no policy for suite {name!r} at {path} (pass policy_dir)")
        started = time.perf_counter()
        result = replay_suite(
            adj,
            name,
            path,
            attacks=attacks,
            benchmark_version=benchmark_version,
            limit=limit,
            content_guard=content_guard,
            progress=progress,
            goals=goals,
            plan=plan,
            stride=stride,
            sources=sources,
        )
        if progress is not None:
            progress(f"{name}: done in {time.perf_counter() - started:.1f}s")
        results.append(result)
    return adj, results
