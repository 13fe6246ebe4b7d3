"""The Cedar side of a policy: generated policies, raw policies, slicing and evaluation.

The YAML policy compiles to Cedar; Cedar decides. Facts that Cedar cannot compute
(argument constraints, sliding-window counts, session pause) are computed in Python and
handed to Cedar in the request context, where generated ``forbid`` policies act on them.

Approval is expressed in Cedar too: a policy that needs a human is a ``forbid`` guarded by
``!context.approved``. A request that Cedar denies, but would allow with ``approved: true``,
needs approval; one it denies either way is denied.

Cedar's authoriser evaluates every policy in the set, so its cost grows with the set. We
therefore *slice* the set per (agent, tool): each slice holds only the policies whose scope
can match that principal and resource. Slicing is sound because a policy left out has a
scope that cannot match the request, so it could not have been satisfied.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cedarpy

ACTION_CALL = "call"

# Rule ids of the generated policies (stable; documented in docs/rules.md).
RULE_GRANT = "grant"
RULE_CONSTRAINTS = "warded.arguments"
RULE_TIER_MISMATCH = "warded.tier_mismatch"
RULE_PAUSED = "warded.session_paused"
RULE_APPROVAL_TIER = "approval.tier"
RULE_APPROVAL_TOOL = "approval.tool"
RULE_FLOW = "flow.untrusted"
RULE_QUARANTINE = "flow.quarantine"
RULE_SCAN_DENY = "scan.deny"
RULE_SCAN_APPROVAL = "scan.approval"


def quote(value: str) -> str:
    """A Cedar string literal (JSON escaping is a subset Cedar accepts)."""
    return json.dumps(value, ensure_ascii=True)


@dataclass(frozen=True, slots=True)
class CedarPolicy:
    """One policy in Cedar's JSON (EST) form, with the scope facts used for slicing."""

    rule_id: str
    est: Mapping[str, Any]
    principal: str | None  # agent id when the scope is `principal == Agent::"id"`, else None (any)
    resource: str | None  # tool id when the scope is `resource == Tool::"id"`, else None (any)
    action_other: bool  # True when the action scope names an action other than `call`
    effect: str
    origin: str  # "generated" or "file:line" of raw Cedar
    # For generated policies whose condition can only hold for some tools (a limit on one tier, say):
    # those tools. None means any tool. Raw Cedar is never narrowed this way.
    tools: frozenset[str] | None = None

    def may_apply(self, agent: str, tool: str) -> bool:
        if self.action_other:
            return False
        if self.tools is not None and tool not in self.tools:
            return False
        if self.principal is not None and self.principal != agent:
            return False
        return not (self.resource is not None and self.resource != tool)


def parse_policies(text: str, origin: str, default_prefix: str) -> list[CedarPolicy]:
    """Parse Cedar text into policies. Raises ``ValueError`` with Cedar's message on errors."""
    est = json.loads(cedarpy.policies_to_json_str(text))
    if est.get("templates"):
        raise ValueError("Cedar templates are not supported in warded policies")
    out: list[CedarPolicy] = []
    for pid, policy in est["staticPolicies"].items():
        annotations = policy.get("annotations") or {}
        rule_id = annotations.get("id") or f"{default_prefix}{pid}"
        out.append(
            CedarPolicy(
                rule_id=str(rule_id),
                est=policy,
                principal=_scope_id(policy["principal"], "Agent"),
                resource=_scope_id(policy["resource"], "Tool"),
                action_other=_action_other(policy["action"]),
                effect=policy["effect"],
                origin=origin,
            )
        )
    return out


def _scope_id(scope: Mapping[str, Any], entity_type: str) -> str | None:
    if scope.get("op") == "==":
        entity = scope.get("entity") or {}
        if entity.get("type") == entity_type:
            return str(entity.get("id"))
        # `principal == Other::"x"` never matches an Agent principal: give it an impossible id.
        return "\x00never"
    return None


def _action_other(scope: Mapping[str, Any]) -> bool:
    op = scope.get("op")
    if op == "==":
        entity = scope.get("entity") or {}
        return not (entity.get("type") == "Action" and entity.get("id") == ACTION_CALL)
    if op == "in" and "entities" in scope:
        return not any(e.get("type") == "Action" and e.get("id") == ACTION_CALL for e in scope.get("entities") or [])
    return False


@dataclass(frozen=True, slots=True)
class Slice:
    """The Cedar policies that can apply to one (agent, tool) pair, pre-parsed."""

    policy_set: Any  # cedarpy.PolicySet
    rule_ids: Mapping[str, str]  # Cedar policy id -> warded rule id
    has_permit: bool
    uses_args: bool  # some policy in the slice reads context.args: pass the arguments to Cedar
    uses_session: bool  # some policy in the slice reads context.session
    # Rule ids of the policies that read context.approved: only a denial determined by such policies
    # alone can turn into REQUIRE_APPROVAL, so only then is Cedar asked again with approved=true.
    approval_rules: frozenset[str] = frozenset()
    approval_permit: bool = False  # some permit reads context.approved
    # The argument names the slice's policies read (``context.args.x`` / ``context.args has x``), or None
    # when some policy uses ``context.args`` as a whole: then every argument goes to Cedar.
    arg_names: frozenset[str] | None = None


def build_slice(policies: Iterable[CedarPolicy]) -> Slice:
    static: dict[str, Any] = {}
    rule_ids: dict[str, str] = {}
    has_permit = uses_args = uses_session = approval_permit = False
    approval_rules: set[str] = set()
    arg_names: set[str] | None = set()
    for i, policy in enumerate(policies):
        pid = f"p{i}"
        static[pid] = policy.est
        rule_ids[pid] = policy.rule_id
        has_permit = has_permit or policy.effect == "permit"
        if '"approved"' in json.dumps(policy.est):
            approval_rules.add(policy.rule_id)
            approval_permit = approval_permit or policy.effect == "permit"
        if policy.origin != "generated":
            # Conservative: any mention of the attribute name counts as a use.
            text = json.dumps(policy.est)
            if '"args"' in text:
                uses_args = True
                names = _arg_attributes(policy.est)
                arg_names = None if names is None or arg_names is None else arg_names | names
            uses_session = uses_session or '"session"' in text
    doc = {"staticPolicies": static, "templates": {}, "templateLinks": []}
    return Slice(
        cedarpy.PolicySet.from_json_str(json.dumps(doc)),
        rule_ids,
        has_permit,
        uses_args,
        uses_session,
        frozenset(approval_rules),
        approval_permit,
        frozenset(arg_names) if arg_names is not None and uses_args else None,
    )


_ARGS_NODE = {".": {"left": {"Var": "context"}, "attr": "args"}}


def _arg_attributes(est: Mapping[str, Any]) -> set[str] | None:
    """The attributes of ``context.args`` a policy reads, or None if it uses ``context.args`` otherwise
    (as a whole value), in which case all arguments must be given to Cedar."""
    names: set[str] = set()
    whole = False

    def walk(node: object, parent_reads_attr: bool) -> None:
        nonlocal whole
        if isinstance(node, dict):
            if node == _ARGS_NODE:
                if not parent_reads_attr:
                    whole = True
                return
            for op in (".", "has"):
                inner = node.get(op)
                if isinstance(inner, dict) and inner.get("left") == _ARGS_NODE and isinstance(inner.get("attr"), str):
                    names.add(inner["attr"])
                    return
            for value in node.values():
                walk(value, False)
        elif isinstance(node, list):
            for value in node:
                walk(value, False)

    walk(est.get("conditions", []), False)
    return None if whole else names


@dataclass(frozen=True, slots=True)
class CedarAnswer:
    allowed: bool
    rule_ids: tuple[str, ...]
    errors: tuple[str, ...]


def build_entities(agents: Iterable[str], tools: Mapping[str, str]) -> Any:
    """Cedar entities: one ``Agent`` per agent, one ``Tool`` per tool with its ``tier``."""
    ents: list[dict[str, Any]] = [{"uid": {"type": "Agent", "id": a}, "attrs": {}, "parents": []} for a in agents]
    ents.extend({"uid": {"type": "Tool", "id": t}, "attrs": {"tier": tier}, "parents": []} for t, tier in tools.items())
    return cedarpy.Entities.from_json_str(json.dumps(ents))


def evaluate(slice_: Slice, entities: Any, agent: str, tool: str, context_json: str) -> CedarAnswer:
    """One Cedar authorisation call. Errors inside Cedar are returned, never swallowed."""
    request = {
        "principal": {"type": "Agent", "id": agent},
        "action": {"type": "Action", "id": ACTION_CALL},
        "resource": {"type": "Tool", "id": tool},
        "context": context_json,
    }
    raw = cedarpy._internal.is_authorized(request, slice_.policy_set, entities._inner)
    result = json.loads(raw)
    diagnostics = result.get("diagnostics") or {}
    # Cedar reports determining policies as a set; order them as written for stable explanations.
    pids = sorted(diagnostics.get("reason") or (), key=lambda pid: (len(pid), pid))
    reasons = tuple(slice_.rule_ids.get(pid, pid) for pid in pids)
    errors = tuple(str(e) for e in diagnostics.get("errors") or ())
    return CedarAnswer(result.get("decision") == "Allow", reasons, errors)


def to_cedar_value(value: object, depth: int = 0) -> object:
    """Convert an argument to Cedar JSON, or raise ``ValueError`` if Cedar cannot represent it."""
    if depth > 16:
        raise ValueError("argument nested too deeply for Cedar")
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return value
        raise ValueError("integer outside Cedar's 64-bit range")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN or infinite number")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        text = f"{value:.4f}"
        if float(text) != value:
            raise ValueError(f"number {value!r} needs more than 4 decimal places for Cedar's decimal")
        return {"__extn": {"fn": "decimal", "arg": text}}
    if isinstance(value, list | tuple):
        return [to_cedar_value(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): to_cedar_value(v, depth + 1) for k, v in value.items()}
    raise ValueError(f"unsupported argument type {type(value).__name__}")
