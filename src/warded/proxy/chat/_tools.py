"""Deciding the model's tool calls before the agent sees them.

Each call becomes ``Action(agent, session, name, arguments)`` (placeholders restored first, so the
action is exactly what the agent would run) and goes through ``Gateway.check``. ALLOW keeps the call;
DENY and REQUIRE_APPROVAL remove it and add a line the agent can read to the assistant's text:

    [warded] Tool call send_payment (id call_1) was denied and not passed on: [tier.denied] ...
    [warded] Tool call send_payment (id call_1) needs human approval (approval request r1a2b3...) ...

and an entry in the response's ``warded.tool_calls`` list. When the same call (same tool and
arguments) is made again in the conversation after its request was approved, the approval is presented
to the gateway with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from warded.core.types import Action, Decision, Verdict, deny
from warded.gateway.gateway import Gateway
from warded.proxy.chat._state import Conversation, digest

MAX_ARGUMENT_CHARS = 1 << 20


@dataclass
class CallBuffer:
    """A tool call assembled from streamed deltas."""

    id: str = ""
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    size: int = 0


@dataclass(frozen=True, slots=True)
class Decided:
    kept: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    explanation: str


def decide_calls(
    gateway: Gateway, conv: Conversation, calls: list[CallBuffer], restore: Callable[[str], str]
) -> Decided:
    kept: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    lines: list[str] = []
    for call in calls:
        raw = restore("".join(call.arguments))
        decision = _decide(gateway, conv, call, raw)
        notes.append(
            {
                "id": call.id,
                "name": call.name,
                "verdict": decision.verdict.value,
                "decision_id": decision.id,
                "request_id": decision.request_id or None,
                "reasons": [r.to_json() for r in decision.reasons],
            }
        )
        if decision.verdict is Verdict.ALLOW:
            kept.append({"id": call.id, "type": call.type, "function": {"name": call.name, "arguments": raw}})
            continue
        head = decision.reasons[0] if decision.reasons else None
        why = f"[{head.rule_id}] {head.message}" if head is not None else "no reason given"
        if decision.verdict is Verdict.REQUIRE_APPROVAL:
            lines.append(
                f"[warded] Tool call {call.name} (id {call.id}) needs human approval (approval request "
                f"{decision.request_id}) and was not passed on: {why}. Once a person approves it, make the same "
                "call again."
            )
        else:
            lines.append(f"[warded] Tool call {call.name} (id {call.id}) was denied and not passed on: {why}.")
    return Decided(kept, notes, "\n".join(lines))


def _decide(gateway: Gateway, conv: Conversation, call: CallBuffer, raw: str) -> Decision:
    if not call.name:
        return deny("chat.bad_tool_call", "the model produced a tool call without a name")
    if call.type != "function":
        return deny("chat.bad_tool_call", f"unsupported tool call type {call.type[:40]!r}")
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return deny("chat.bad_tool_arguments", "the tool call's arguments are not valid JSON")
    if not isinstance(arguments, dict):
        return deny("chat.bad_tool_arguments", "the tool call's arguments are not a JSON object")
    action = Action(conv.agent, conv.session, call.name, arguments)
    key = digest([call.name, arguments])
    approval: str | None = None
    with conv.lock:
        pending = conv.approvals.get(key)
    if pending is not None and gateway.approvals is not None and _status(gateway, pending) == "approved":
        approval = pending
    decision = gateway.check(action, approval=approval)
    with conv.lock:
        if decision.verdict is Verdict.REQUIRE_APPROVAL and decision.request_id:
            conv.approvals[key] = decision.request_id
        elif approval is not None:
            conv.approvals.pop(key, None)
    return decision


def _status(gateway: Gateway, request_id: str) -> str | None:
    try:
        return gateway.approvals.status(request_id) if gateway.approvals is not None else None
    except Exception:
        return None  # an unreadable store: decide without the approval (never ALLOW on error)
