"""Run the plans: Hypothesis draws the cases, the oracle judges them, the target answers, and every case
that got through is shrunk to its smallest form."""

from __future__ import annotations

import functools
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from hypothesis import HealthCheck, Phase, find, given, seed, settings
from hypothesis.errors import Flaky, NoSuchExample, Unsatisfiable

from warded.errors import WardedError
from warded.policy.compile import load_policy
from warded.redteam import families as fam
from warded.redteam.families._context import Context
from warded.redteam.model import Finding, Plan, PlanStats, RunResult
from warded.redteam.sandbox import PathWorld
from warded.redteam.targets import HttpTarget, InProcessTarget, Target

#: Cases per plan at most, for families whose one case is a whole sequence of calls or a log rewrite.
FAMILY_CAPS = {"limits": 6, "audit": 40, "scenario": 50}
#: Shrinking a case stops after this many extra examples (the unshrunk case is reported past it).
SHRINK_EXAMPLES = 300


class _OutOfTime(Exception):
    """The run's time limit was reached: the report says the run is incomplete."""


@dataclass(slots=True)
class Options:
    policy: str
    target: str | None = None  # None: in-process; else the decision API's URL
    api_keys: dict[str, str] = field(default_factory=dict)
    families: Sequence[str] = ()
    budget: int = 2000
    seed: int = 0
    time_limit_s: float | None = None
    tool_cwd: str | None = None
    uri_paths: bool = False
    verify_cmd: str | None = None
    audit_db: str | None = None
    audit_pub: str | None = None
    corpus_wheels: str | None = None
    scenarios: Sequence[str] = ()
    chat_url: str | None = None  # scenarios through `warded chat` (an OpenAI-compatible endpoint)
    chat_key: str = ""
    chat_model: str = ""
    agentdojo: Sequence[str] = ()
    agentdojo_limit: int | None = None
    workdir: str | None = None
    progress: TextIO | None = None


class Progress:
    """A one-line progress bar on a terminal (stderr); silent anywhere else."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None
        self.total = max(1, total)
        self.done = 0
        self._last = 0.0

    def step(self, label: str) -> None:
        self.done += 1
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        filled = min(30, 30 * self.done // self.total)
        self.stream.write(f"\r[{'#' * filled}{' ' * (30 - filled)}] {self.done}/{self.total} cases  {label:<24}")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


def run_plan(
    plan: Plan, budget: int, run_seed: int, stats: PlanStats, *, tick: Callable[[], None], deadline: float | None
) -> Finding | None:
    """Draw up to ``budget`` cases; return the smallest case that got through, or None."""
    first: list[Any] = []

    def through(value: Any) -> bool:
        """Shrinking's test: an attempt that errors does not reproduce the case (and is counted)."""
        try:
            return bool(plan.oracle(value)) and bool(plan.run(value))
        except Exception:
            stats.errors += 1
            return False

    def one(value: Any) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise _OutOfTime
        stats.cases += 1
        tick()
        try:
            if not plan.oracle(value):
                return
            got = bool(plan.run(value))
        except Exception:
            # The target (or the oracle) did not judge the case: an error, neither held nor through. Errors
            # make the run incomplete, so the gate cannot pass it.
            stats.errors += 1
            return
        stats.attacks += 1
        tech = plan.technique(value)
        counts = stats.techniques.setdefault(tech, [0, 0])
        counts[0] += 1
        if got:
            stats.successes += 1
            counts[1] += 1
            if not first:
                first.append(value)

    explore = settings(
        max_examples=max(1, budget),
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )(given(plan.strategy)(one))
    seed(run_seed)(explore)()
    if not first:
        return None
    smallest, shrunk = first[0], False
    try:
        smallest = find(
            plan.strategy,
            through,
            settings=settings(
                max_examples=SHRINK_EXAMPLES,
                database=None,
                deadline=None,
                phases=[Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            ),
            random=random.Random(run_seed),  # noqa: S311 - reproducible search, not a secret
        )
        shrunk = True
    except (NoSuchExample, Unsatisfiable, Flaky):
        # Not found again, or the target answered the same case differently (a decision that timed out
        # under load): the case that got through is reported as it was, unshrunk.
        pass
    return Finding(
        plan.family,
        plan.kind,
        plan.technique(smallest),
        plan.agent,
        plan.tool,
        plan.argument,
        _jsonable(plan.show(smallest)),
        plan.where,
        plan.rule,
        shrunk,
    )


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no NaN or infinities
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def _http_worlds(policy_path: str, tool_cwd: str) -> dict[tuple[str, str], PathWorld]:
    policy = load_policy(policy_path)
    out = {}
    for tool, tspec in policy.spec.tools.items():
        for arg, aspec in tspec.args.items():
            if aspec.path is None:
                continue
            roots = tuple(os.path.realpath(os.path.join(policy.base_dir, r)) for r in aspec.path.roots)
            base = None if aspec.path.base is None else os.path.join(policy.base_dir, aspec.path.base)
            out[(tool, arg)] = PathWorld(roots, roots, base, os.path.realpath(tool_cwd), "/nonexistent-outside")
    return out


def run(options: Options) -> RunResult:
    """One red-team run (see the package docstring). Raises ``WardedError`` on unusable options."""
    unknown = set(options.families) - set(fam.NAMES) - {"scenario"}
    if unknown:
        raise WardedError(f"unknown attack families: {', '.join(sorted(unknown))} (known: {', '.join(fam.NAMES)})")
    chosen = [m for m in fam.FAMILIES if not options.families or m.FAMILY in options.families]
    corpus: tuple[str, ...] = ()
    if options.corpus_wheels:
        from warded.redteam.corpus import from_wheels  # noqa: PLC0415

        corpus = from_wheels(options.corpus_wheels)
    started = time.time()
    clock0 = time.monotonic()
    workdir = options.workdir or tempfile.mkdtemp(prefix="warded-redteam-")
    target: Target
    in_process: InProcessTarget | None = None
    if options.target is None:
        in_process = InProcessTarget(options.policy, workdir)
        target = in_process
        policy = in_process.gateway.policy
        worlds = in_process.sandbox.worlds
    else:
        target = HttpTarget(options.target, options.api_keys)
        policy = load_policy(options.policy)
        worlds = _http_worlds(options.policy, options.tool_cwd or os.getcwd())
    source_digest = load_policy(options.policy).digest
    ctx = Context.load(
        policy,
        options.policy,
        target,
        worlds=worlds,
        uri_paths=options.uri_paths,
        in_process=in_process,
        verify_cmd=options.verify_cmd,
        audit_db=options.audit_db,
        audit_pub=options.audit_pub,
        corpus=corpus,
    )
    closers: list[Callable[[], None]] = []
    planned: list[Plan] = []
    budgets: list[int] = []
    adj_planned: list[PlanStats] = []
    try:
        plans: list[Plan] = [p for m in chosen for p in m.plans(ctx)]
        if options.scenarios and (not options.families or "scenario" in options.families):
            from warded.redteam import scenarios  # noqa: PLC0415

            if options.chat_url is not None:
                from warded.redteam.chat import ChatTarget  # noqa: PLC0415
                from warded.redteam.chat import plans as chat_plans  # noqa: PLC0415

                chat = ChatTarget(options.chat_url, options.chat_key, options.chat_model)
                closers.append(chat.close)
                plans[-1:-1] = chat_plans(ctx, chat, options.scenarios)
            else:
                plans[-1:-1] = scenarios.plans(ctx, options.scenarios)
        planned = plans
        share = max(1, options.budget // max(1, len(plans)))
        budgets = [min(share, FAMILY_CAPS.get(p.family, share)) for p in plans]
        progress = Progress(options.progress, sum(budgets))
        deadline = None if options.time_limit_s is None else time.monotonic() + options.time_limit_s
        stats: list[PlanStats] = []
        findings: list[Finding] = []
        try:
            for n, (plan, budget) in enumerate(zip(plans, budgets, strict=True)):
                s = PlanStats(plan.family, plan.kind, plan.key, budget=budget)
                stats.append(s)
                began = time.monotonic()
                try:
                    found = run_plan(
                        plan,
                        budget,
                        options.seed + n,
                        s,
                        tick=functools.partial(progress.step, plan.family),
                        deadline=deadline,
                    )
                except _OutOfTime:
                    raise
                except Exception as exc:  # any failure of a plan is recorded as an error, never a pass
                    s.errors += 1
                    ctx.skip("run", plan.key, f"the plan stopped on an error: {type(exc).__name__}: {str(exc)[:200]}")
                    continue
                finally:
                    s.seconds = time.monotonic() - began
                s.completed = True
                if found is not None:
                    findings.append(found)
            if options.agentdojo:
                from warded.redteam import scenarios as sc  # noqa: PLC0415

                adj_stats, adj_findings = sc.agentdojo(options.agentdojo, options.agentdojo_limit)
                adj_planned = adj_stats
                stats += adj_stats
                findings += adj_findings
        except _OutOfTime:
            ctx.skip("run", "time", f"the time limit ({options.time_limit_s} s) was reached: the run is incomplete")
        finally:
            progress.close()
    finally:
        for close in closers:
            close()
        target.close()
    finished = time.time()
    return RunResult(
        policy=options.policy,
        policy_sha256=source_digest,
        target=target.name,
        started=started,
        finished=finished,
        duration_s=time.monotonic() - clock0,
        plans=stats,
        findings=findings,
        skipped=ctx.skipped,
        seed=options.seed,
        budget=options.budget,
        planned=len(planned) + len(adj_planned),
        planned_cases=sum(budgets) + sum(p.budget for p in adj_planned),
        errors=ctx.errors,
    )
