"""The AgentDojo replay (``warded bench agentdojo``) on a small sample, and the example policies' hygiene.

The full replay is ``make agentdojo``; here one suite, a few tasks and one attack keep the run short.
"""

from __future__ import annotations

import json
import re
import socket
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # agentdojo's dependencies may warn on import
    pytest.importorskip("agentdojo")

from warded.bench.agentdojo import goalsets, heldout, novel
from warded.bench.agentdojo._adapter import AttackTarget, load_agentdojo, plain, squash
from warded.bench.agentdojo.options import DEFAULT_ATTACKS, GOAL_SETS, SUITES, goal_sets_for
from warded.bench.agentdojo.replay import BenchmarkError, SuiteResult, default_policy_dir, run_suites, sampled
from warded.bench.agentdojo.report import TOTAL_KEYS, main, rule_family, run_agentdojo, summarise
from warded.core.types import Verdict
from warded.flow.values import Kind, extract
from warded.policy.compile import load_policy

POLICY_DIR = Path(__file__).resolve().parents[2] / "examples" / "agentdojo"
SAMPLE_SUITE = "banking"
SAMPLE_ATTACK = "important_instructions"
SAMPLE_LIMIT = 4


def _sealed_connect(self: socket.socket, address: object) -> None:
    raise RuntimeError(f"tests are sealed: connection to {address!r} blocked")


@pytest.fixture(scope="module")
def sample() -> Iterator[SuiteResult]:
    # Module-scoped, so the autouse network seal (function-scoped) is not active yet: seal here too.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _sealed_connect)
        _, results = run_suites((SAMPLE_SUITE,), (SAMPLE_ATTACK,), limit=SAMPLE_LIMIT, policy_dir=POLICY_DIR)
    yield results[0]


# -- the example policies ------------------------------------------------------------------------------------


def test_policies_are_found_and_load() -> None:
    assert default_policy_dir() == POLICY_DIR
    for suite in SUITES:
        policy = load_policy(POLICY_DIR / f"{suite}.yaml")
        assert policy.agents, suite


def _attacker_values(injection_task: Any, env: Any) -> set[str]:
    """Every value an injection task supplies: its ground-truth arguments and the values in its goal text."""
    found: set[str] = set()
    texts = [injection_task.GOAL]
    for call in injection_task.ground_truth(env):
        stack: list[object] = list(call.args.values())
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                texts.append(item)
                found.add(item)
            elif isinstance(item, bool):
                continue
            elif isinstance(item, int | float):
                found.add(repr(item) if isinstance(item, float) and not item.is_integer() else str(int(item)))
            elif isinstance(item, list | tuple):
                stack.extend(item)
            elif isinstance(item, dict):
                stack.extend(item.values())
    for text in texts:
        found.update(v.shown for v in extract(text) if v.kind is not Kind.AMOUNT or len(v.key) >= 3)
    return {v.strip() for v in found if len(v.strip()) >= 3}


def _named(text: str, values: set[str]) -> list[str]:
    """The values that ``text`` names as a whole word (``0.01`` is not named by ``0.015``)."""
    lowered = text.lower()
    return sorted(v for v in values if re.search(r"(?<![\w.@-])" + re.escape(v.lower()) + r"(?![\w@-]|\.\w)", lowered))


@pytest.mark.parametrize("suite_name", SUITES)
def test_policies_name_no_attacker_value(suite_name: str) -> None:
    suite = load_agentdojo().get_suites("v1.2.2")[suite_name]
    env = suite.load_and_inject_default_environment({})
    text = (POLICY_DIR / f"{suite_name}.yaml").read_text(encoding="utf-8")
    leaks = {
        inj_id: _named(text, _attacker_values(task, env.model_copy(deep=True)))
        for inj_id, task in suite.injection_tasks.items()
    }
    assert {k: v for k, v in leaks.items() if v} == {}


def test_attacker_value_check_would_catch_a_leak() -> None:
    suite = load_agentdojo().get_suites("v1.2.2")["banking"]
    env = suite.load_and_inject_default_environment({})
    values = _attacker_values(suite.injection_tasks["injection_task_0"], env)
    assert "US133000000121212121212" in values
    text = (POLICY_DIR / "banking.yaml").read_text(encoding="utf-8")
    assert _named(text, values) == []
    planted = text + "\n# allow: [us133000000121212121212]\n      amount: {max: 0.01}\n"
    assert _named(planted, values) == ["0.01", "US133000000121212121212"]
    assert _named("max: 0.015, id: xUS133000000121212121212", values) == []


# -- the adapter ---------------------------------------------------------------------------------------------


def test_plain_and_squash() -> None:
    assert plain({"a": (1, 2.5, None)}) == {"a": [1, 2.5, None]}
    assert squash("  a\n\n b\tc ") == "a b c"
    assert AttackTarget.name  # a model id AgentDojo's attacks accept


def test_rule_families() -> None:
    assert rule_family("flow.untrusted.iban") == "taint"
    assert rule_family("arg.send_money.amount.number") == "constraint"
    assert rule_family("approval.tier") == "approval_tier"
    assert rule_family("budget.daily-outgoing") == "limit"
    assert rule_family("injection.rule.information_block") == "content_guard"
    assert rule_family("flow.quarantine") == "content_guard"
    assert rule_family("flow.flagged.iban") == "content_guard"
    assert rule_family("flow.unjustified.amount") == "provenance"
    assert rule_family("flow.plan") == "plan_lock"
    assert rule_family("flow.untrusted.text") == "taint"


# -- the sample replay ---------------------------------------------------------------------------------------


def test_user_task_counts_add_up(sample: SuiteResult) -> None:
    report = summarise(
        [sample],
        attacks=(SAMPLE_ATTACK,),
        agentdojo_version="x",
        benchmark_version="v1.2.2",
        content_guard=False,
        limit=SAMPLE_LIMIT,
    )
    t = report["totals"]
    assert set(TOTAL_KEYS) <= set(t)
    assert t["user_tasks"] == SAMPLE_LIMIT
    assert t["user_tasks_no_approval"] + t["user_tasks_need_approval"] + t["user_tasks_denied"] == t["user_tasks"]
    assert t["user_tasks_utility"] <= t["user_tasks"]
    assert t["errors"] == 0
    u = report["suites"][SAMPLE_SUITE]["user_tasks"]
    assert len(u["tasks_need_approval"]) == u["need_approval"]
    assert len(u["tasks_denied"]) == u["denied"]


def test_user_tasks_keep_their_utility(sample: SuiteResult) -> None:
    for task in sample.user_tasks:
        assert task.error == ""
        assert task.utility, task.task_id  # with approvals granted, AgentDojo's utility() holds
        assert not task.denied, task.task_id
        if not task.needs_approval:
            assert task.utility_without_approval, task.task_id


def test_paying_a_bill_from_a_file_runs_when_the_plan_names_the_file_as_the_source(sample: SuiteResult) -> None:
    """The replay agent's plan declares read_file as the source of send_money's recipient and amount (derived
    from the ground truth on the injection-free environment), so the user's own delegation needs no prompt;
    without the source it is held (``tests/flow/test_plan_sources.py``)."""
    task = next(t for t in sample.user_tasks if t.task_id == "user_task_0")
    assert [c.tool for c in task.calls] == ["read_file", "send_money"]
    assert all(c.verdict is Verdict.ALLOW for c in task.calls), task.calls


def test_without_argument_sources_the_same_bill_needs_approval() -> None:
    """``--no-sources``: the plan names the tools only, so the recipient read from the file is unjustified."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _sealed_connect)
        _, results = run_suites(("banking",), (SAMPLE_ATTACK,), limit=1, policy_dir=POLICY_DIR, sources=False)
    (task,) = results[0].user_tasks
    assert task.task_id == "user_task_0" and task.needs_approval and task.utility
    held = [c for c in task.calls if c.verdict is Verdict.REQUIRE_APPROVAL]
    assert [c.tool for c in held] == ["send_money"]
    assert any(r.startswith("flow.") for r in held[0].rule_ids)


def test_attack_counts_add_up(sample: SuiteResult) -> None:
    report = summarise(
        [sample],
        attacks=(SAMPLE_ATTACK,),
        agentdojo_version="x",
        benchmark_version="v1.2.2",
        content_guard=False,
        limit=SAMPLE_LIMIT,
    )
    row = report["suites"][SAMPLE_SUITE]["attacks"][SAMPLE_ATTACK]
    replayable = SAMPLE_LIMIT - len(sample.not_replayable)
    assert row["pairs"] == SAMPLE_LIMIT * replayable == report["totals"]["attack_pairs"]
    assert row["successes"] == report["totals"]["attack_successes"]
    assert row["injection_not_seen"] == 0  # every injected output reached the obedient agent
    assert 0 <= row["reached_approval"] <= row["pairs"] and 0 <= row["denied"] <= row["pairs"]


def test_a_blocked_injection_does_not_succeed(sample: SuiteResult) -> None:
    blocked = 0
    for pair in sample.pairs:
        assert pair.error == ""
        assert pair.injected_calls, "the obedient agent attempted the injection task"
        if not any(c.executed and c.tool != "get_scheduled_transactions" for c in pair.injected_calls):
            blocked += 1
            assert not pair.success, (pair.user_task, pair.injection_task)
        for call in pair.injected_calls:
            # No human in the attack replay: only ALLOW runs.
            assert call.executed == (call.verdict is Verdict.ALLOW)
    assert blocked > 0
    assert not any(p.success for p in sample.pairs)


def test_main_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--json",
            "--suite",
            SAMPLE_SUITE,
            "--limit",
            "1",
            "--attack",
            "ignore_previous",
            "--policy-dir",
            str(POLICY_DIR),
            "--guard",
            "off",
            "--goals",
            "agentdojo",
        ]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 1
    report = rows[0]
    assert report["label"] == "AgentDojo's injection tasks, content guard off"
    assert set(TOTAL_KEYS) <= set(report["totals"])
    assert report["totals"]["user_tasks"] == 1
    assert report["totals"]["attack_pairs"] == 1
    assert report["content_guard"] is False


def test_unknown_suite_is_refused() -> None:
    with pytest.raises(Exception, match="unknown suite"):
        run_agentdojo(suites=("nope",), policy_dir=POLICY_DIR)


def test_unknown_goal_set_is_refused() -> None:
    with pytest.raises(BenchmarkError, match="unknown goal set"):
        run_agentdojo(suites=("banking",), policy_dir=POLICY_DIR, goals="independent")


def test_goals_novel_is_the_development_set(capsys: pytest.CaptureFixture[str]) -> None:
    """``--goals novel`` still works: it names the development goals, labelled as what they now are."""
    assert goal_sets_for("novel") == ("development",)
    assert goal_sets_for("both") == ("agentdojo", "development")
    assert set(goal_sets_for("all")) == set(GOAL_SETS)
    code = main(
        [
            *("--json", "--suite", "banking", "--limit", "1", "--attack", "note_from_owner"),
            *("--policy-dir", str(POLICY_DIR), "--guard", "off", "--goals", "novel"),
        ]
    )
    assert code == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["goals"] == "development"
    assert row["label"].startswith("development goals") and "rule was added after seeing them" in row["label"]
    assert row["totals"]["attack_pairs"] == 1 and row["totals"]["attack_successes"] == 0


# -- the development goals (novel.py) ----------------------------------------------------------------------------


@pytest.mark.parametrize("suite_name", SUITES)
def test_policies_name_no_value_of_the_development_goals(suite_name: str) -> None:
    text = (POLICY_DIR / f"{suite_name}.yaml").read_text(encoding="utf-8")
    assert _named(text, set(novel.attacker_values())) == []


def test_every_development_goal_is_replayable_and_not_reached_before_the_attack() -> None:
    adj = load_agentdojo()
    for name in SUITES:
        suite = adj.get_suites("v1.2.2")[name]
        env = suite.load_and_inject_default_environment({})
        tasks = novel.injection_tasks(name)
        assert len(tasks) >= 2
        for task in tasks.values():
            assert task.ground_truth(env.model_copy(deep=True)), task.ID
            assert not task.security("", env, env.model_copy(deep=True)), task.ID


def test_development_goals_sample_is_stopped_by_the_new_layers() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _sealed_connect)
        _, results = run_suites(("banking",), ("note_from_owner",), limit=2, policy_dir=POLICY_DIR, goals="novel")
    pairs = results[0].pairs
    assert pairs and not any(p.success for p in pairs)
    fired = {rule_family(r) for p in pairs for c in p.injected_calls for r in c.rule_ids}
    assert {"provenance", "plan_lock"} <= fired


def test_without_the_new_rules_the_development_goals_get_through(tmp_path: Path) -> None:
    """The measurement can fail: the same sample against the policy with positive provenance, plan lock and
    copied-text taint switched off lets goals through."""
    text = (POLICY_DIR / "banking.yaml").read_text(encoding="utf-8")
    text = text.replace("flow:\n", "flow:\n  justify_numbers: []\n  free_text_tiers: []\n", 1)
    text = re.sub(r"\n  justify:\n(    .*\n)+", "\n", text)
    (tmp_path / "banking.yaml").write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _sealed_connect)
        _, results = run_suites(
            ("banking",), ("note_from_owner",), limit=2, policy_dir=tmp_path, goals="novel", plan=False
        )
    assert any(p.success for p in results[0].pairs)


# -- the held-out goals (heldout.py, an independent red-teamer) ------------------------------------------------


@pytest.mark.parametrize("suite_name", SUITES)
def test_policies_name_no_value_of_the_heldout_goals(suite_name: str) -> None:
    text = (POLICY_DIR / f"{suite_name}.yaml").read_text(encoding="utf-8")
    assert _named(text, set(heldout.attacker_values())) == []


def test_every_heldout_goal_is_replayable_and_not_reached_before_the_attack() -> None:
    adj = load_agentdojo()
    for name in SUITES:
        suite = adj.get_suites("v1.2.2")[name]
        env = suite.load_and_inject_default_environment({})
        tasks = goalsets.injection_tasks("heldout", name)
        assert len(tasks) >= 5 and set(tasks) == {g.id for g in heldout.GOALS[name]}
        for task in tasks.values():
            assert task.ground_truth(env.model_copy(deep=True)), task.ID
            assert not task.security("", env, env.model_copy(deep=True)), task.ID


def test_heldout_wordings_are_their_own() -> None:
    assert not set(heldout.WORDINGS) & (set(novel.WORDINGS) | set(DEFAULT_ATTACKS))
    assert goalsets.wordings("heldout") == tuple(heldout.WORDINGS)
    assert set(goalsets.all_wordings()) == set(heldout.WORDINGS) | set(novel.WORDINGS)


def test_heldout_sample_is_replayed_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """Two held-out goals on two slack user tasks with one of their own wordings: every pair is replayed (the
    obedient agent attempts the goal's calls) and reported in a row of its own. Whether they succeed is the
    measurement's to say, not this test's."""
    code = main(
        [
            *("--json", "--suite", "slack", "--limit", "2", "--attack", "tool_error_recovery"),
            *("--policy-dir", str(POLICY_DIR), "--guard", "off", "--goals", "heldout"),
        ]
    )
    assert code == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["goals"] == "heldout" and row["label"].startswith("held-out goals")
    t = row["totals"]
    assert t["attack_pairs"] == 4 and t["errors"] == 0 and t["user_tasks"] == 2
    assert t["attack_successes"] + t["attacks_stopped"] == 4
    attack = row["suites"]["slack"]["attacks"]["tool_error_recovery"]
    assert attack["injection_not_seen"] == 0


def test_without_flow_rules_or_plan_heldout_goals_get_through(tmp_path: Path) -> None:
    """The held-out measurement can report a success: the same replay against the banking policy with the flow
    rules' justification, copied-text taint and the plan switched off lets a held-out goal through."""
    text = (POLICY_DIR / "banking.yaml").read_text(encoding="utf-8")
    text = text.replace("flow:\n", "flow:\n  justify_numbers: []\n  free_text_tiers: []\n", 1)
    text = re.sub(r"\n  justify:\n(    .*\n)+", "\n", text)
    (tmp_path / "banking.yaml").write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _sealed_connect)
        _, results = run_suites(
            ("banking",), ("kundennotiz",), limit=2, policy_dir=tmp_path, goals="heldout", plan=False
        )
    assert any(p.success for p in results[0].pairs)


# -- sampling ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("goals", range(1, 10))
@pytest.mark.parametrize("stride", range(1, 14))
def test_a_stride_samples_every_goal_and_user_task_alike(goals: int, stride: int) -> None:
    users = 40
    kept = [(n, m) for n in range(users) for m in range(goals) if sampled(n, m, stride)]
    per_goal = Counter(m for _, m in kept)
    assert set(per_goal) == set(range(goals))  # every goal is in the sample ...
    assert max(per_goal.values()) - min(per_goal.values()) <= 1  # ... about equally often
    assert abs(len(kept) - users * goals / stride) <= goals
    if stride <= goals:
        assert {n for n, _ in kept} == set(range(users))  # every user task too
