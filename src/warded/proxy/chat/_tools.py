"""Deciding the model's tool calls before the agent sees them.

Each call becomes ``Action(agent, session, name, arguments)`` (placeholders restored first, so the
action is exactly what the agent would run) and goes through ``Gateway.check``. ALLOW keeps the call;
DENY and REQUIRE_APPROVAL remove it and add a line the agent can read to the assistant's text:

    [warded] Tool call send_payment (id call_1) was denied and not passed on: [tier.denied] ...
    [warded] Tool call send_payment (id call_1) needs human approval (approval request r1a2b3...) ...

and an entry in the response's ``warded.tool_calls`` list. When the same call (same tool and
arguments) is made again in the conversation after its request was approved, the approval is presented
to the gateway with it.

Arguments are parsed strictly (:func:`parse_arguments`): invalid JSON, a key given twice at any depth
(``{"to": "ok@a.b", "to": "evil@x.y"}``, which JSON parsers resolve differently), ``NaN``/``Infinity``,
numbers out of float range and lone surrogates deny the call (``chat.bad_tool_arguments``). A kept call
carries the canonical re-serialisation of exactly the arguments that were decided, never the model's
raw string, so the agent cannot read anything other than what the gateway judged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from warded import jsonio
from warded.core.types import Action, Decision, Verdict, deny
from warded.errors import WardedError
from warded.gateway.gateway import Gateway
from warded.proxy.chat._state import Conversation

MAX_ARGUMENT_CHARS = 1 << 20


class BadToolArguments(WardedError):
    """A tool call's arguments are not one unambiguous JSON object."""


_MESSAGES = {
    "json.too_deep": "the arguments are nested too deeply",
    "json.number_range": "the arguments hold a value JSON cannot carry",
    "json.lone_surrogate": "the arguments hold a value JSON cannot carry",
}


def parse_arguments(raw: str) -> tuple[dict[str, Any], str]:
    """A tool call's arguments and their canonical JSON text (compact, UTF-8, keys in the given order).

    Blank text is ``{}``. Raises :class:`BadToolArguments` for invalid JSON, a duplicate key at any
    depth, ``NaN``/``Infinity`` (or a number that overflows to them), a lone surrogate, nesting past
    the parser's limit, or anything but a JSON object.
    """
    if not raw.strip():
        return {}, "{}"
    if len(raw) > MAX_ARGUMENT_CHARS:
        raise BadToolArguments(f"the arguments are over {MAX_ARGUMENT_CHARS} characters")
    try:
        value = jsonio.loads(raw)
    except jsonio.JsonRefused as exc:
        if exc.rule == "json.duplicate_key":
            raise BadToolArguments(f"the key {(exc.subject or '')[:64]!r} appears twice") from None
        if exc.rule == "json.constant":
            raise BadToolArguments(str(exc)) from None
        raise BadToolArguments(_MESSAGES.get(exc.rule, "the arguments are not valid JSON")) from None
    if not isinstance(value, dict):
        raise BadToolArguments("the arguments are not a JSON object")
    try:
        canonical = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        canonical.encode("utf-8")
    except (ValueError, RecursionError):  # inf from an overflowing number, or a lone surrogate
        raise BadToolArguments("the arguments hold a value JSON cannot carry") from None
    return value, canonical


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
        canonical = ""
        try:
            arguments, canonical = parse_arguments(restore("".join(call.arguments)))
        except BadToolArguments as exc:
            decision = deny("chat.bad_tool_arguments", f"the tool call's arguments were refused: {exc}")
        else:
            decision = _decide(gateway, conv, call, arguments)
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
            kept.append({"id": call.id, "type": call.type, "function": {"name": call.name, "arguments": canonical}})
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


def _decide(gateway: Gateway, conv: Conversation, call: CallBuffer, arguments: dict[str, Any]) -> Decision:
    if not call.name:
        return deny("chat.bad_tool_call", "the model produced a tool call without a name")
    if call.type != "function":
        return deny("chat.bad_tool_call", f"unsupported tool call type {call.type[:40]!r}")
    action = Action(conv.agent, conv.session, call.name, arguments)
    approval = conv.pending.approved(gateway.approvals, action)
    decision = gateway.check(action, approval=approval)
    conv.pending.settle(action, decision, approval)
    return decision
