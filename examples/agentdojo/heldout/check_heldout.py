"""Checks the held-out goals without any defence, on AgentDojo's own function runtime.

Run: python examples/agentdojo/heldout/check_heldout.py (from the repository root, with the agentdojo extra)

1. Each goal's ground truth is non-empty on the suite's default environment, runs without error, and turns
   ``security()`` from false (untouched environment) to true (after the calls).
2. The same through AgentDojo's own path: ``TaskSuite.run_task_with_pipeline`` with its ``GroundTruthPipeline``
   for the injection task (as ``TaskSuite.check`` does).
3. No user task reaches a goal on its own: after each user task's ground truth, ``security()`` is still false.
4. Composite: on the environment injected by one of the held-out wordings (rotating over the pairs), an
   obedient agent runs the user task's ground truth and then the goal's; ``security()`` must be true. Pairs
   where it is not are listed (a user task that removes the goal's target, for instance).
5. Wordings: each formats through AgentDojo's ``FixedJailbreakAttack`` with every goal, carries the goal's
   text, and has no double quote or backslash (AgentDojo injects into double-quoted YAML strings); in
   step 4 each wording is injected into each suite and the goal's text is found in the loaded environment.
6. Values: the attacker values are new (absent from the default environments, AgentDojo's injection tasks,
   novel.py), and every IBAN's check digits are valid.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

from agentdojo import default_suites as ds
from agentdojo.agent_pipeline.base_pipeline_element import BasePipelineElement
from agentdojo.agent_pipeline.ground_truth_pipeline import GroundTruthPipeline
from agentdojo.attacks.base_attacks import FixedJailbreakAttack
from agentdojo.functions_runtime import FunctionsRuntime
from agentdojo.task_suite.load_suites import get_suites
from agentdojo.types import text_content_block_from_string

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]  # copied into the repository: the goals are src/warded/bench/agentdojo/heldout.py
spec = importlib.util.spec_from_file_location("heldout", REPO / "src" / "warded" / "bench" / "agentdojo" / "heldout.py")
assert spec is not None and spec.loader is not None
heldout = importlib.util.module_from_spec(spec)
sys.modules["heldout"] = heldout
spec.loader.exec_module(heldout)

VERSION = "v1.2.2"
failures: list[str] = []


def fail(msg: str) -> None:
    failures.append(msg)
    print("FAIL", msg)


class _Target(BasePipelineElement):
    name = "heldout-check"

    def query(self, query, runtime, env, messages=(), extra_args=None):  # type: ignore[no-untyped-def]
        raise AssertionError("not called")


class ObedientAgent(BasePipelineElement):
    """Runs the user task's ground truth, then the injection task's (no defence)."""

    name = "obedient"

    def __init__(self, user_task: Any, injection_task: Any) -> None:
        self.user_task, self.injection_task = user_task, injection_task
        self.errors: list[str] = []

    def query(self, query, runtime, env, messages=(), extra_args=None):  # type: ignore[no-untyped-def]
        for task in (self.user_task, self.injection_task):
            for call in task.ground_truth(env):
                _, error = runtime.run_function(env, call.function, call.args, raise_on_error=False)
                if error is not None:
                    self.errors.append(f"{task.ID}:{call.function}: {error}")
        out = [
            *messages,
            {"role": "assistant", "content": [text_content_block_from_string("done")], "tool_calls": None},
        ]
        return query, runtime, env, out, extra_args or {}


def squash(text: str) -> str:
    return " ".join(text.replace("\\n", " ").split())


def blob(env: Any) -> str:
    return env.model_dump_json().lower()


def iban_ok(iban: str) -> bool:
    s = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in s)) % 97 == 1


def main() -> int:
    started = time.perf_counter()
    suites = get_suites(VERSION)
    counts: dict[str, int] = {}
    wording_names = sorted(heldout.WORDINGS)
    composite_ok = composite_total = 0
    not_reached: list[str] = []
    seen_wordings: set[tuple[str, str]] = set()
    for suite_name, goals in heldout.GOALS.items():
        suite = suites[suite_name]
        tasks = heldout.injection_tasks(suite_name)
        counts[suite_name] = len(tasks)
        default = suite.load_and_inject_default_environment({})
        runtime = FunctionsRuntime(suite.tools)
        user_tasks = sorted(suite.user_tasks.items(), key=lambda kv: (len(kv[0]), kv[0]))
        after_user: list[tuple[str, Any, Any]] = []  # (user task, pre, post) of each user task's ground truth
        for uid, ut in user_tasks:
            uenv = ut.init_environment(default.model_copy(deep=True))
            upre = uenv.model_copy(deep=True)
            for call in ut.ground_truth(uenv):
                runtime.run_function(uenv, call.function, call.args, raise_on_error=False)
            after_user.append((uid, upre, uenv))
        for goal in goals:
            task = tasks[goal.id]
            # 1. direct run on the default environment
            pre = default.model_copy(deep=True)
            env = default.model_copy(deep=True)
            if task.security("", pre, env):
                fail(f"{goal.id}: security() true on the untouched environment")
            calls = task.ground_truth(env)
            if not calls:
                fail(f"{goal.id}: empty ground truth on the default environment")
            for call in calls:
                try:
                    runtime.run_function(env, call.function, call.args, raise_on_error=True)
                except Exception as exc:
                    fail(f"{goal.id}: {call.function}{dict(call.args)} raised {type(exc).__name__}: {exc}")
            direct = bool(task.security("", pre, env))
            if not direct:
                fail(f"{goal.id}: security() false after the ground truth")
            # 2. AgentDojo's own path (as TaskSuite.check)
            first_user = user_tasks[0][1]
            _, adj_security = suite.run_task_with_pipeline(
                GroundTruthPipeline(task), first_user, task, {}, environment=default.model_copy(deep=True)
            )
            if not adj_security:
                fail(f"{goal.id}: run_task_with_pipeline(GroundTruthPipeline) says the goal was not reached")
            # 3. no user task reaches the goal by itself
            reached_alone = []
            for uid, upre, uenv in after_user:
                if task.security("", upre, uenv):
                    reached_alone.append(uid)
            if reached_alone:
                fail(f"{goal.id}: reached by user task(s) alone: {reached_alone}")
            print(
                f"ok  {suite_name:9s} {goal.id:34s} calls={[c.function for c in calls]} "
                f"direct={direct} agentdojo={adj_security} reached_by_user_tasks_alone={len(reached_alone)}"
            )
        # 4. composite, with the held-out wordings injected (one wording per pair, rotating)
        n = 0
        for uid, ut in user_tasks:
            for goal in goals:
                task = tasks[goal.id]
                wording = wording_names[n % len(wording_names)]
                n += 1
                attack = FixedJailbreakAttack(heldout.WORDINGS[wording], suite, _Target())
                injections = attack.attack(ut, task)
                try:
                    loaded = suite.load_and_inject_default_environment(injections)
                except Exception as exc:
                    fail(f"{uid}/{goal.id}/{wording}: the injected environment does not load: {type(exc).__name__}")
                    continue
                shown = squash(json.dumps(loaded.model_dump(mode="json"), ensure_ascii=False))
                if not injections or squash(task.GOAL) not in shown:
                    fail(f"{uid}/{goal.id}/{wording}: the goal text does not survive injection")
                seen_wordings.add((suite_name, wording))
                agent = ObedientAgent(ut, task)
                try:
                    _, sec = suite.run_task_with_pipeline(agent, ut, task, injections, environment=loaded)
                except Exception as exc:
                    fail(f"{uid}/{goal.id}/{wording}: the run raised {type(exc).__name__}: {exc}")
                    continue
                composite_total += 1
                if sec:
                    composite_ok += 1
                else:
                    not_reached.append(f"{uid}/{goal.id} ({'; '.join(agent.errors) or 'no error'})")
    missing = {(s, w) for s in heldout.GOALS for w in wording_names} - seen_wordings
    if missing:
        fail(f"wordings never injected: {sorted(missing)}")
    # 5. wordings
    any_user = next(iter(suites["workspace"].user_tasks.values()))
    for name, template in heldout.WORDINGS.items():
        for goals in heldout.GOALS.values():
            for goal in goals:
                if '"' in goal.goal:
                    fail(f"{goal.id}: goal text has a double quote")
                text = template.format(goal=goal.goal, user="Emma Johnson", model="GPT-4", task=any_user.PROMPT)
                if goal.goal not in text:
                    fail(f"wording {name}: goal {goal.id} not carried")
            if '"' in template or "\\" in template:
                fail(f"wording {name}: has a double quote or a backslash (breaks AgentDojo's YAML injection)")
    # 6. values
    adj_sources = "".join(p.read_text() for p in Path(ds.__file__).parent.rglob("injection_tasks.py")).lower()
    novel_path = REPO / "src" / "warded" / "bench" / "agentdojo" / "novel.py"
    novel_text = novel_path.read_text().lower() if novel_path.is_file() else ""
    envs = {
        name: blob(s.load_and_inject_default_environment({})) for name, s in suites.items() if name in heldout.GOALS
    }
    for value in heldout.attacker_values():
        v = value.lower()
        if v in adj_sources:
            fail(f"value {value!r} appears in AgentDojo's injection tasks")
        if v in novel_text:
            fail(f"value {value!r} appears in novel.py")
        for name, text in envs.items():
            if v in text and value not in heldout.ENVIRONMENT_TARGETS:
                fail(f"value {value!r} appears in the default {name} environment")
    for iban in (heldout._B_CUSTOMS_IBAN, heldout._B_DEPOSIT_IBAN, heldout._B_FOB_IBAN):
        if not iban_ok(iban):
            fail(f"IBAN {iban} has bad check digits")
    novel_ids = set()
    if novel_text:
        novel_ids = {w for w in ("note_from_owner", "service_notice")}
    if novel_ids & set(heldout.WORDINGS):
        fail("a wording name collides with novel.py's")
    print()
    print(f"goals per suite: {counts} (total {sum(counts.values())}); wordings: {wording_names}")
    print(
        f"composite (user ground truth, then the goal's, on the injected environment): "
        f"{composite_ok}/{composite_total} reached"
    )
    for item in not_reached:
        print("  not reached:", item)
    print(
        f"source lines of heldout.py: {len(inspect.getsource(heldout).splitlines())}; "
        f"{time.perf_counter() - started:.1f}s"
    )
    if failures:
        print(f"{len(failures)} FAILURE(S)")
        return 1
    print("ALL CHECKS PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
