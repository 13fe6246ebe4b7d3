"""``decide()``: the pure heart of the gateway.

Takes a compiled policy, an action and the session's state as values, and returns a
``Decision``. No clock, no disk, no network. Deny by default; forbid beats permit; an
empty policy denies; any error inside ends in DENY with the error as the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from warded.core.inputs import check_arguments, check_identifiers
from warded.core.types import Action, Decision, Effect, EffectKind, Obligation, ObligationKind, Reason, Verdict, deny
from warded.flow.taint import TaintFinding
from warded.policy import cedar as cd
from warded.policy.compile import CompiledPolicy
from warded.policy.schema import Count, OnExceed
from warded.scan.pipeline import Applied
from warded.scan.types import Response

_CACHE_MAX = 16_384


@dataclass(frozen=True, slots=True)
class SessionState:
    """What the edge knows about the session when the action arrives.

    ``counts`` maps each applicable limit id to the calls it has counted in its window for
    this action's scope; ``spent`` maps each applicable budget id to the total spent in its
    window. ``approved`` is true only when a valid approval for this exact action is presented.
    """

    paused: bool = False
    pause_reason: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    spent: Mapping[str, float] = field(default_factory=dict)
    approved: bool = False
    quarantined: bool = False  # a tool output carried an injection: non-read actions need approval


EMPTY_STATE = SessionState()


ArgumentFindings = tuple[tuple[str, Applied], ...]


def decide(
    policy: CompiledPolicy | None,
    action: Action,
    state: SessionState = EMPTY_STATE,
    scan: ArgumentFindings = (),
    taint: tuple[TaintFinding, ...] = (),
) -> Decision:
    """Decide one action. Never raises: an internal error is a DENY that names the error.

    ``scan`` holds the content guard's findings on the action's arguments (argument name, finding
    with the response the policy gives it): DENY findings forbid the call, REQUIRE_APPROVAL ones
    need a human, REDACT ones oblige the audit log to redact that argument. ``taint`` holds the
    arguments whose values were seen only in untrusted data (``warded.flow.taint.trace``).
    """
    try:
        return _decide(policy, action, state, scan, taint)
    except Exception as exc:  # fail closed: whatever went wrong, the answer is DENY
        return deny("warded.internal_error", f"decision failed ({type(exc).__name__}: {str(exc)[:200]})")


def _decide(
    policy: CompiledPolicy | None,
    action: Action,
    state: SessionState,
    scan: ArgumentFindings,
    taint: tuple[TaintFinding, ...],
) -> Decision:
    if policy is None:
        return deny("warded.no_policy", "no policy is loaded; everything is denied")
    if not isinstance(action, Action):
        return deny("input.unsupported_type", "not an Action")
    bad = check_identifiers(action)
    if bad is not None:
        return Decision(Verdict.DENY, (bad,))
    limits = policy.spec.input
    bad = check_arguments(action.arguments, limits.max_argument_bytes, limits.max_argument_depth)
    if bad is not None:
        return Decision(Verdict.DENY, (bad,))

    granted = policy.agents.get(action.agent_id)
    if granted is None:
        return deny("warded.unknown_agent", f"agent {action.agent_id!r} is not declared in the policy")
    tool = policy.tools.get(action.tool)
    if tool is None:
        return deny("warded.unknown_tool", f"tool {action.tool!r} is not declared in the policy")
    tier = tool.tier
    slice_ = policy.slices.get((action.agent_id, action.tool))
    if slice_ is None:
        return deny("warded.default_deny", f"agent {action.agent_id!r} has no grant for tool {action.tool!r}", tier)

    # Facts Cedar cannot compute: argument constraints, windows, pause.
    messages: dict[str, str] = {}
    violations: list[Reason] = []
    args = action.arguments
    for name, checker in tool.checkers.items():
        if name not in args:
            if checker.required:
                violations.append(Reason(f"arg.{tool.name}.{name}.required", f"required argument {name!r} is missing"))
            continue
        violations.extend(Reason(v.rule_id, v.message) for v in checker.check(args[name]))
    if not tool.additional_args:
        for name in args:
            if name not in tool.checkers:
                violations.append(
                    Reason(f"arg.{tool.name}.{name}.unexpected", f"argument {name[:80]!r} is not declared")
                )
    tier_mismatch = action.tier is not None and action.tier is not tier
    if tier_mismatch:
        messages[cd.RULE_TIER_MISMATCH] = (
            f"the caller declared tier {action.tier!s} but the policy says {tool.name!r} is {tier.value}"
        )
    if state.paused:
        messages[cd.RULE_PAUSED] = f"session is paused ({state.pause_reason or 'no reason given'})"

    exceeded: list[str] = []
    effects: list[Effect] = []
    for lim in policy.limits_for(tool.name, tier):
        count = state.counts.get(lim.id, 0)
        if count >= lim.max_calls:
            exceeded.append(lim.id)
            what = "calls" if lim.count is Count.ALLOWED else "denied calls"
            msg = f"limit {lim.id!r}: {count} {what} in {lim.window:g}s (max {lim.max_calls}) per {lim.scope.value}"
            messages[f"limit.{lim.id}"] = msg
            if lim.on_exceed is OnExceed.PAUSE:
                effects.append(Effect(EffectKind.PAUSE_SESSION, f"limit.{lim.id}", msg))
                effects.append(Effect(EffectKind.ALERT, f"limit.{lim.id}", f"circuit breaker tripped: {msg}"))
    for budget in policy.budgets_for(tool.name, tier):
        amount = args.get(budget.argument)
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            violations.append(
                Reason(
                    f"budget.{budget.id}.argument",
                    f"budget {budget.id!r} needs a numeric {budget.argument!r}",
                )
            )
            continue
        spent = state.spent.get(budget.id, 0.0)
        if amount < 0:
            violations.append(Reason(f"budget.{budget.id}.argument", f"negative {budget.argument!r}"))
        elif spent + amount > budget.max_total:
            exceeded.append(budget.id)
            msg = (
                f"budget {budget.id!r}: {spent:g} spent + {amount:g} requested exceeds {budget.max_total:g} "
                f"per {budget.scope.value} in {budget.window:g}s"
            )
            messages[f"budget.{budget.id}"] = msg
            if budget.on_exceed is OnExceed.PAUSE:
                effects.append(Effect(EffectKind.PAUSE_SESSION, f"budget.{budget.id}", msg))
                effects.append(Effect(EffectKind.ALERT, f"budget.{budget.id}", f"budget exhausted: {msg}"))

    scan_deny = [(arg, a) for arg, a in scan if a.response is Response.DENY]
    scan_approval = [(arg, a) for arg, a in scan if a.response is Response.REQUIRE_APPROVAL]
    exceeded_ids = sorted(exceeded)
    labels = sorted(action.labels)
    context: dict[str, object] = {
        "tier": tier.value,
        "declared_tier": (action.tier or tier).value,
        "tier_mismatch": tier_mismatch,
        "violations": len(violations),
        "paused": state.paused,
        "exceeded": exceeded_ids,
        "labels": labels,
        "scan_deny": len(scan_deny),
        "scan_approval": len(scan_approval),
        "taint": len(taint),
        "quarantined": state.quarantined,
    }
    # The memo key holds exactly what the context holds; the JSON is built only on a miss.
    key: tuple[object, ...] = (
        action.agent_id,
        action.tool,
        context["declared_tier"],
        tier_mismatch,
        len(violations),
        state.paused,
        tuple(exceeded_ids),
        tuple(labels),
        len(scan_deny),
        len(scan_approval),
        len(taint),
        state.quarantined,
    )
    if slice_.uses_session:
        context["session"] = action.session_id
        key += (action.session_id,)
    if slice_.uses_args:
        given = dict(args) if slice_.arg_names is None else {k: v for k, v in args.items() if k in slice_.arg_names}
        try:
            context["args"] = cd.to_cedar_value(given)
        except ValueError as exc:
            return deny("warded.arguments_not_representable", f"arguments cannot be given to Cedar: {exc}", tier)
        key += (json.dumps(context["args"], sort_keys=True, separators=(",", ":")),)

    answer = _cedar(policy, slice_, action, context, key, approved=state.approved)
    if answer.errors:
        return Decision(
            Verdict.DENY,
            (Reason("cedar.evaluation_error", "; ".join(answer.errors)[:500]),),
            tier,
            effects=tuple(effects),
        )
    obligations = tuple(
        Obligation(ObligationKind.HASH_IN_AUDIT, f"arguments.{name}", f"arg.{tool.name}.{name}.secret")
        for name in sorted(tool.secret_args)
        if name in args
    ) + tuple(
        Obligation(ObligationKind.REDACT_IN_AUDIT, f"arguments.{arg}", a.finding.rule_id)
        for arg, a in scan
        if a.response is Response.REDACT and arg not in tool.secret_args
    )
    if answer.allowed:
        reasons = tuple(Reason(r, _grant_message(r)) for r in answer.rule_ids)
        return Decision(Verdict.ALLOW, reasons, tier, obligations, tuple(effects))

    scan_reasons = {
        cd.RULE_SCAN_DENY: [_scan_reason(arg, a) for arg, a in scan_deny],
        cd.RULE_SCAN_APPROVAL: [_scan_reason(arg, a) for arg, a in scan_approval],
        cd.RULE_FLOW: [Reason(t.rule_id, t.message) for t in taint],
    }
    messages[cd.RULE_QUARANTINE] = (
        "the session is quarantined: a tool output carried injected instructions, so every non-read action "
        "needs approval until an operator resumes the session"
    )
    reasons = _deny_reasons(answer.rule_ids, messages, violations, action, scan_reasons)
    if not state.approved and _approval_could_allow(slice_, answer.rule_ids):
        with_approval = _cedar(policy, slice_, action, context, key, approved=True)
        if with_approval.allowed and not with_approval.errors:
            return Decision(Verdict.REQUIRE_APPROVAL, reasons, tier, obligations, tuple(effects))
    return Decision(Verdict.DENY, reasons, tier, obligations, tuple(effects))


def _cedar(
    policy: CompiledPolicy,
    slice_: cd.Slice,
    action: Action,
    context: dict[str, object],
    key: tuple[object, ...],
    *,
    approved: bool,
) -> cd.CedarAnswer:
    """Cedar's answer for this request, memoised: Cedar is pure, so equal requests get equal answers."""
    full_key = (*key, approved)
    cache = policy.cedar_cache
    hit = cache.get(full_key)
    if hit is not None:
        return hit
    context["approved"] = approved
    context_json = json.dumps(context, separators=(",", ":"), sort_keys=True)
    answer = cd.evaluate(slice_, policy.entities, action.agent_id, action.tool, context_json)
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[full_key] = answer
    return answer


def _approval_could_allow(slice_: cd.Slice, determining: tuple[str, ...]) -> bool:
    """Could ``approved: true`` turn this denial into an allow? Only if every forbid that fired reads
    ``context.approved`` (any other one fires regardless), or, when nothing fired (no permit matched),
    if some permit reads it."""
    if determining:
        return all(rule in slice_.approval_rules for rule in determining)
    return slice_.approval_permit


def _grant_message(rule_id: str) -> str:
    if rule_id.startswith(cd.RULE_GRANT + "."):
        return "the agent is granted this tool and no forbid applies"
    return "permitted by a Cedar policy and no forbid applies"


def _scan_reason(argument: str, applied: Applied) -> Reason:
    return Reason(applied.finding.rule_id, f"argument {argument[:80]!r}: {applied.finding.message}")


def _deny_reasons(
    rule_ids: tuple[str, ...],
    messages: Mapping[str, str],
    violations: list[Reason],
    action: Action,
    scan_reasons: Mapping[str, list[Reason]],
) -> tuple[Reason, ...]:
    if not rule_ids:
        return (
            Reason(
                "warded.default_deny",
                f"no policy permits agent {action.agent_id!r} to call {action.tool!r} in this context",
            ),
        )
    out: list[Reason] = []
    for rule in rule_ids:
        if rule == cd.RULE_CONSTRAINTS:
            out.extend(violations)
        elif rule in scan_reasons:
            out.extend(scan_reasons[rule])
        elif rule == cd.RULE_APPROVAL_TIER:
            out.append(Reason(rule, "this capability tier needs human approval"))
        elif rule.startswith(cd.RULE_APPROVAL_TOOL + "."):
            out.append(Reason(rule, "this tool needs human approval"))
        else:
            out.append(Reason(rule, messages.get(rule, "forbidden by a Cedar policy")))
    return tuple(out)
