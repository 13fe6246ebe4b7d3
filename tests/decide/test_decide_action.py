"""decide(): deny by default, forbid beats permit, approvals, pauses, limits, bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from warded.core.types import Action, EffectKind, Tier, Verdict
from warded.decide.action import SessionState, decide
from warded.policy.compile import CompiledPolicy

Compile = Callable[[str], CompiledPolicy]

BASE = """
version: 1
agents:
  mailer:
    tools: [read_inbox, delete_email, send_email, pay]
  other:
    tools: [read_inbox]
tools:
  read_inbox:
    tier: read
  delete_email:
    tier: destructive
    args:
      id: {type: integer, required: true, number: {min: 1}}
  send_email:
    tier: external
    args:
      to: {type: array, required: true, email: {allow: ["*@example.com"]}}
      body: {type: string, max_length: 100}
  pay:
    tier: financial
    args:
      amount: {type: number, required: true, number: {min: 0, max: 1000}}
  secret_tool:
    tier: privileged
approval:
  tiers: [financial]
limits:
  - {id: burst, tiers: [destructive], scope: session, max_calls: 3, window: 10m, on_exceed: pause}
budgets:
  - {id: spend, tools: [pay], argument: amount, max_total: 100, window: 1d, on_exceed: deny}
"""


def act(tool: str, agent: str = "mailer", **args: object) -> Action:
    return Action(agent, "s1", tool, args)


@pytest.fixture
def policy(compile_policy: Compile) -> CompiledPolicy:
    return compile_policy(BASE)


def test_empty_policy_denies_everything(compile_policy: Compile) -> None:
    empty = compile_policy("version: 1\n")
    decision = decide(empty, act("read_inbox"))
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == ("warded.unknown_agent",)


def test_no_policy_denies() -> None:
    assert decide(None, act("read_inbox")).rule_ids == ("warded.no_policy",)


def test_granted_read_is_allowed_with_grant_rule(policy: CompiledPolicy) -> None:
    decision = decide(policy, act("read_inbox"))
    assert decision.verdict is Verdict.ALLOW
    assert decision.rule_ids == ("grant.mailer.read_inbox",)
    assert decision.tier is Tier.READ


@pytest.mark.parametrize(
    ("action", "rule"),
    [
        (act("delete_email", agent="other", id=1), "warded.default_deny"),
        (act("secret_tool"), "warded.default_deny"),
        (act("no_such_tool"), "warded.unknown_tool"),
        (act("read_inbox", agent="stranger"), "warded.unknown_agent"),
        (act("delete_email"), "arg.delete_email.id.required"),
        (act("delete_email", id=0), "arg.delete_email.id.number"),
        (act("delete_email", id=True), "arg.delete_email.id.type"),
        (act("delete_email", id=2, extra="x"), "arg.delete_email.extra.unexpected"),
        (act("send_email", to=["eve@evil.example"]), "arg.send_email.to.email"),
        (act("send_email", to=["a@example.com"], body="x" * 101), "arg.send_email.body.max_length"),
    ],
)
def test_denials_name_their_rule(policy: CompiledPolicy, action: Action, rule: str) -> None:
    decision = decide(policy, action)
    assert decision.verdict is Verdict.DENY, decision.explain()
    assert rule in decision.rule_ids, decision.explain()


def test_declared_tier_must_match_policy(policy: CompiledPolicy) -> None:
    lying = Action("mailer", "s1", "delete_email", {"id": 3}, tier=Tier.READ)
    decision = decide(policy, lying)
    assert decision.verdict is Verdict.DENY
    assert "warded.tier_mismatch" in decision.rule_ids
    honest = Action("mailer", "s1", "delete_email", {"id": 3}, tier=Tier.DESTRUCTIVE)
    assert decide(policy, honest).verdict is Verdict.ALLOW


def test_financial_tier_requires_approval_and_approved_is_allowed(policy: CompiledPolicy) -> None:
    decision = decide(policy, act("pay", amount=10))
    assert decision.verdict is Verdict.REQUIRE_APPROVAL
    assert decision.rule_ids == ("approval.tier",)
    assert decide(policy, act("pay", amount=10), SessionState(approved=True)).verdict is Verdict.ALLOW


def test_approval_does_not_override_a_hard_denial(policy: CompiledPolicy) -> None:
    decision = decide(policy, act("pay", amount=5000))
    assert decision.verdict is Verdict.DENY
    assert "arg.pay.amount.number" in decision.rule_ids


def test_paused_session_denies_non_read_but_allows_read(policy: CompiledPolicy) -> None:
    paused = SessionState(paused=True, pause_reason="operator")
    assert decide(policy, act("read_inbox"), paused).verdict is Verdict.ALLOW
    decision = decide(policy, act("delete_email", id=1), paused)
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == ("warded.session_paused",)
    assert "operator" in decision.reasons[0].message


def test_when_paused_can_require_approval(compile_policy: Compile) -> None:
    policy = compile_policy(BASE + "session:\n  when_paused: require_approval\n")
    decision = decide(policy, act("delete_email", id=1), SessionState(paused=True))
    assert decision.verdict is Verdict.REQUIRE_APPROVAL


def test_limit_at_max_trips_breaker_with_pause_and_alert(policy: CompiledPolicy) -> None:
    under = decide(policy, act("delete_email", id=1), SessionState(counts={"burst": 2}))
    assert under.verdict is Verdict.ALLOW
    over = decide(policy, act("delete_email", id=1), SessionState(counts={"burst": 3}))
    assert over.verdict is Verdict.DENY
    assert over.rule_ids == ("limit.burst",)
    kinds = {e.kind for e in over.effects}
    assert kinds == {EffectKind.PAUSE_SESSION, EffectKind.ALERT}


def test_budget_counts_spent_plus_requested(policy: CompiledPolicy) -> None:
    ok = decide(policy, act("pay", amount=40), SessionState(spent={"spend": 60.0}, approved=True))
    assert ok.verdict is Verdict.ALLOW
    over = decide(policy, act("pay", amount=41), SessionState(spent={"spend": 60.0}, approved=True))
    assert over.verdict is Verdict.DENY
    assert over.rule_ids == ("budget.spend",)


def test_forbid_beats_permit_in_raw_cedar(compile_policy: Compile) -> None:
    policy = compile_policy(
        BASE
        + """
cedar: |
  @id("no-deletes-of-one")
  forbid(principal, action, resource == Tool::"delete_email") when { context.args.id == 1 };
"""
    )
    assert decide(policy, act("delete_email", id=2)).verdict is Verdict.ALLOW
    decision = decide(policy, act("delete_email", id=1))
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == ("no-deletes-of-one",)


def test_raw_cedar_permit_can_grant_conditionally(compile_policy: Compile) -> None:
    policy = compile_policy(
        BASE
        + """
cedar: |
  @id("other-may-delete-high-ids")
  permit(principal == Agent::"other", action, resource == Tool::"delete_email") when { context.args.id > 100 };
"""
    )
    assert decide(policy, act("delete_email", agent="other", id=500)).verdict is Verdict.ALLOW
    assert decide(policy, act("delete_email", agent="other", id=5)).verdict is Verdict.DENY


def test_cedar_evaluation_error_fails_closed(compile_policy: Compile) -> None:
    # The forbid reads an attribute that may be missing: Cedar skips erroring policies, warded denies.
    policy = compile_policy(
        BASE
        + """
cedar: |
  @id("memo-check")
  forbid(principal, action, resource == Tool::"pay") when { context.args.memo like "*crypto*" };
"""
    )
    decision = decide(policy, act("pay", amount=1), SessionState(approved=True))
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == ("cedar.evaluation_error",)


def test_raw_cedar_approval_rule(compile_policy: Compile) -> None:
    policy = compile_policy(
        BASE
        + """
cedar: |
  @id("big-emails-need-approval")
  forbid(principal, action, resource == Tool::"send_email") when { !context.approved && context.args.to.contains("ceo@example.com") };
"""
    )
    assert decide(policy, act("send_email", to=["a@example.com"])).verdict is Verdict.ALLOW
    decision = decide(policy, act("send_email", to=["ceo@example.com"]))
    assert decision.verdict is Verdict.REQUIRE_APPROVAL
    assert decision.rule_ids == ("big-emails-need-approval",)


def _deep(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        ({"to": ["a@example.com"], "body": "hi\x00there"}, "input.nul_byte"),
        ({"to": ["a@example.com"], "body": "bad \udcff surrogate"}, "input.invalid_utf8"),
        ({"to": ["a@example.com"], "body": b"\xff\xfe"}, "input.invalid_utf8"),
        ({"to": ["a@example.com"], "body": b"ok bytes"}, "input.unsupported_type"),
        ({"to": ["a@example.com"], "body": "x" * (10 * 1024 * 1024)}, "input.too_large"),
        ({"to": ["a@example.com"], "body": _deep(100_000)}, "input.too_deep"),
        ({"to": ["a@example.com"], "body": float("nan")}, "input.non_finite_number"),
        ({"to": ["a@example.com"], "body": {1: "non-string key"}}, "input.unsupported_type"),
        ({"to": ["a@example.com"], "body": object()}, "input.unsupported_type"),
    ],
)
def test_bad_arguments_are_denied_with_reason(policy: CompiledPolicy, args: dict[str, object], rule: str) -> None:
    decision = decide(policy, Action("mailer", "s1", "send_email", args))
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == (rule,)


@pytest.mark.parametrize(
    ("agent", "session", "tool"),
    [
        ("", "s", "read_inbox"),
        ("mailer", "s\x00", "read_inbox"),
        ("mailer", "s", "read\ninbox"),
        ("m" * 300, "s", "read_inbox"),
        (None, "s", "read_inbox"),
        ("mailer", "s", 5),
    ],
)
def test_bad_identifiers_are_denied(policy: CompiledPolicy, agent: object, session: object, tool: object) -> None:
    decision = decide(policy, Action(agent, session, tool))  # type: ignore[arg-type]
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids[0].startswith("input.")


def test_internal_error_is_a_deny(policy: CompiledPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    checker = policy.tools["delete_email"].checkers["id"]

    def boom(value: object) -> list[object]:
        raise RuntimeError("checker exploded")

    monkeypatch.setattr(type(checker), "check", lambda self, value: boom(value))
    decision = decide(policy, act("delete_email", id=1))
    assert decision.verdict is Verdict.DENY
    assert decision.rule_ids == ("warded.internal_error",)
    assert "checker exploded" in decision.reasons[0].message


def test_not_an_action_is_denied(policy: CompiledPolicy) -> None:
    assert decide(policy, "rm -rf /").verdict is Verdict.DENY  # type: ignore[arg-type]


def test_secret_arguments_carry_an_audit_obligation(compile_policy: Compile) -> None:
    policy = compile_policy(
        """
version: 1
agents: {a: {tools: [login]}}
tools:
  login:
    tier: privileged
    args:
      password: {type: string, secret: true}
"""
    )
    decision = decide(policy, Action("a", "s", "login", {"password": "hunter2"}))
    assert decision.verdict is Verdict.ALLOW
    assert [o.target for o in decision.obligations] == ["arguments.password"]
    assert "hunter2" not in decision.explain()


def test_cedar_memo_does_not_change_answers(policy: CompiledPolicy) -> None:
    actions = [act("delete_email", id=i) for i in range(1, 5)] + [act("send_email", to=["x@evil.example"])]
    first = [decide(policy, a).verdict for a in actions]
    second = [decide(policy, a).verdict for a in actions]
    policy.cedar_cache.clear()
    third = [decide(policy, a).verdict for a in actions]
    assert first == second == third


def test_cedar_sees_only_the_arguments_its_policies_read(compile_policy: Compile) -> None:
    reads_one = compile_policy(
        BASE
        + """
cedar: |
  @id("no-tuesday-bodies")
  forbid(principal, action, resource == Tool::"send_email") when { context.args has body && context.args.body like "*tuesday*" };
"""
    )
    slice_ = reads_one.slices[("mailer", "send_email")]
    assert slice_.arg_names == frozenset({"body"})
    assert decide(reads_one, act("send_email", to=["a@example.com"], body="see you tuesday")).rule_ids == (
        "no-tuesday-bodies",
    )
    assert decide(reads_one, act("send_email", to=["a@example.com"], body="see you")).verdict is Verdict.ALLOW
    reads_all = compile_policy(
        BASE
        + """
cedar: |
  @id("exact-args")
  forbid(principal, action, resource == Tool::"delete_email") when { context.args == {"id": 7} };
"""
    )
    assert reads_all.slices[("mailer", "delete_email")].arg_names is None
    assert decide(reads_all, act("delete_email", id=7)).rule_ids == ("exact-args",)
    assert decide(reads_all, act("delete_email", id=8)).verdict is Verdict.ALLOW
