"""Generators come from the policy, and a found bypass is reported in its smallest form.

The target here is a stand-in that lets everything through (a gateway with no constraints): every case
the oracle calls an attack then gets through, and Hypothesis must shrink what it reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from redteam_policy import POLICY, write

from warded.policy.compile import load_policy
from warded.redteam import families
from warded.redteam.families._context import Context
from warded.redteam.model import PlanStats
from warded.redteam.options import FAMILY_NAMES
from warded.redteam.runner import run_plan
from warded.redteam.sandbox import build_sandbox


class OpenDoor:
    """Allows every call and delivers every result."""

    name = "open-door"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def decide(self, agent: str, session: str, tool: str, arguments: Mapping[str, Any]) -> str:
        self.calls.append((agent, tool, dict(arguments)))
        return "allow"

    def result_delivered(self, agent: str, session: str, tool: str, value: object) -> bool:
        return True

    def close(self) -> None:
        pass


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    policy_file = write(tmp_path / "deploy")
    sandbox = build_sandbox(str(policy_file), str(tmp_path / "work"))
    return Context.load(load_policy(sandbox.policy_file), str(policy_file), OpenDoor(), worlds=sandbox.worlds)


def test_family_names_match_the_modules() -> None:
    assert families.NAMES == FAMILY_NAMES


def test_plans_come_from_the_policy(ctx: Context) -> None:
    plans = [p for m in families.FAMILIES if m.FAMILY not in ("limits", "audit") for p in m.plans(ctx)]
    aimed = {(p.family, p.tool, p.argument) for p in plans}
    assert {
        ("path", "read_file", "path"),
        ("email", "send_email", "to"),
        ("sql", "run_sql", "query"),
        ("values", "list_folder", "folder"),
        ("number", "list_folder", "count"),
        ("number", "delete_doc", "id"),
        ("length", "send_email", "body"),
    } <= aimed
    assert not any(p.family == "domain" for p in plans)  # the policy has no domain constraint
    where = next(p.where for p in plans if p.family == "sql")
    line = next(i for i, text in enumerate(POLICY.splitlines(), 1) if "sql: {dialect" in text)
    assert where is not None and where.file.endswith("warded.yaml") and where.line == line


@pytest.mark.parametrize(
    ("family", "smallest"),
    [
        ("path", "a.pdf"),  # the shortest escape: a relative path
        ("sql", "SELECT * FROM secrets"),
        ("email", "a@example.com."),
    ],
)
def test_a_bypass_is_shrunk_to_its_smallest_form(ctx: Context, family: str, smallest: object) -> None:
    module = next(m for m in families.FAMILIES if family == m.FAMILY)
    plan = module.plans(ctx)[0]
    stats = PlanStats(plan.family, plan.kind, plan.key)
    found = run_plan(plan, 60, 0, stats, tick=lambda: None, deadline=None)
    assert found is not None and found.shrunk
    assert stats.cases > 0 and stats.successes == stats.attacks > 0
    if family != "email":
        assert found.input == smallest
    else:  # the first e-mail form that the oracle calls an attack, with the simplest local part
        assert isinstance(found.input, str) and plan.oracle(found.input)


def test_cases_the_oracle_does_not_call_attacks_are_never_bypasses(ctx: Context) -> None:
    plan = next(p for p in families.paths.plans(ctx))
    stats = PlanStats(plan.family, plan.kind, plan.key)
    run_plan(plan, 80, 1, stats, tick=lambda: None, deadline=None)
    assert stats.cases > stats.attacks  # some cases stay inside the root: not attacks, whatever the target says


def test_a_target_that_changes_its_answer_is_reported_unshrunk(ctx: Context) -> None:
    """A target whose verdict on the same case varies (a timeout under load) must not break the run:
    the case that got through is reported as it was. Here the target lets through the first case it
    sees and the first one the shrinker tries, then nothing: Hypothesis cannot replay it (Flaky)."""
    plan = families.paths.plans(ctx)[0]
    stats = PlanStats(plan.family, plan.kind, plan.key)
    seen: list[int] = []

    def answer(value: object) -> bool:
        seen.append(stats.cases)
        first_in_shrink = len(seen) > 1 and seen[-1] == seen[-2] and seen.count(seen[-1]) == 2
        return len(seen) == 1 or first_in_shrink

    flaky = dataclasses.replace(plan, run=answer)
    found = run_plan(flaky, 30, 0, stats, tick=lambda: None, deadline=None)
    assert found is not None and not found.shrunk and stats.successes == 1
