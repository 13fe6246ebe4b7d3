"""The chat proxy's inbound side: every message is checked, labelled and (optionally) PII-masked.

``user``, ``system`` and ``developer`` messages are scanned as ``user`` source text and recorded with
their label (``user`` / ``system``); ``tool`` (and legacy ``function``) messages go through
``Gateway.guard_result`` as the output of the tool call they answer, so they are scanned as
``tool_output``, labelled ``tool:<name>``, audited, and can quarantine the session. ``assistant``
messages were checked on their way out and are only re-masked. A message accepted once in a
conversation is remembered (by digest) and not checked again when the history is resent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from warded.core.types import Action
from warded.errors import ApprovalRequired, ResultBlocked
from warded.flow.taint import SYSTEM, USER
from warded.gateway.gateway import Gateway
from warded.proxy.chat._errors import ChatError, bad_request
from warded.proxy.chat._state import Conversation, digest
from warded.scan.pipeline import ScanPipeline, ScanResult
from warded.scan.types import Category, Response, Source
from warded.scan.vault import redact

MAX_MESSAGES = 4096
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "refusal"})
_PART_TYPES = frozenset({"text", "image_url"})


@dataclass(frozen=True, slots=True)
class InputContext:
    gateway: Gateway
    scan: Callable[[str], ScanResult]  # source ``user``; may be served from a cache
    pii: ScanPipeline | None
    conv: Conversation


def prepare_messages(ctx: InputContext, messages: object) -> list[dict[str, Any]]:
    """The messages to forward upstream, each checked; raises :class:`ChatError` to refuse the request."""
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array", "invalid_messages")
    if len(messages) > MAX_MESSAGES:
        raise bad_request(f"at most {MAX_MESSAGES} messages per request", "too_many_messages")
    calls = _tool_calls_by_id(messages)
    out: list[dict[str, Any]] = []
    with ctx.conv.lock:
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                raise bad_request(f"messages[{index}] must be an object", "invalid_messages")
            key = digest(message)
            cached = ctx.conv.seen.get(key)
            if cached is None:
                cached = _prepare_one(ctx, index, message, calls)
                ctx.conv.remember(key, cached)
            out.append(cached)
    return out


def _prepare_one(
    ctx: InputContext, index: int, message: dict[str, Any], calls: dict[str, tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    role = message.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise bad_request(f"messages[{index}]: unsupported role {str(role)[:40]!r}", "invalid_role")
    unknown = sorted(k for k, v in message.items() if k not in _FIELDS and v is not None)
    if unknown:
        raise bad_request(f"messages[{index}]: unsupported field(s) {', '.join(unknown)[:200]}", "invalid_messages")
    out = {k: v for k, v in message.items() if v is not None}
    content = message.get("content")
    where = f"messages[{index}]"
    if role in ("system", "developer", "user"):
        label = USER if role == "user" else SYSTEM
        out["content"] = _map_content(content, where, lambda text: _guard_input(ctx, text, role, label, where))
    elif role in ("tool", "function"):
        call_id = message.get("tool_call_id")
        if role == "function":
            name, args = str(message.get("name") or ""), dict[str, Any]()
        elif isinstance(call_id, str) and call_id in calls:
            name, args = calls[call_id]
        else:
            raise bad_request(
                f"{where}: the tool message answers no tool call in this conversation", "unknown_tool_call"
            )
        if not name:
            raise bad_request(f"{where}: a function message needs a name", "invalid_messages")
        action = Action(ctx.conv.agent, ctx.conv.session, name, args)
        out["content"] = _map_content(content, where, lambda text: _guard_tool(ctx, action, text, where))
    else:  # assistant: checked on its way out; only re-masked
        if content is not None:
            out["content"] = _map_content(content, where, lambda text: _mask(ctx, text))
        tool_calls = message.get("tool_calls")
        if tool_calls is not None:
            out["tool_calls"] = _mask_calls(ctx, tool_calls, where)
    return out


def _guard_input(ctx: InputContext, text: str, role: str, label: str, where: str) -> str:
    result = ctx.scan(text)
    if result.applied:
        _audit(ctx, "chat_input_scanned", where, role, result)
        worst = result.response
        spanless = [a for a in result.applied if a.response is Response.REDACT and a.finding.span is None]
        if worst in (Response.DENY, Response.REQUIRE_APPROVAL) or spanless:
            rule_ids = sorted({a.finding.rule_id for a in result.applied if a.response is not Response.LABEL})
            raise bad_request(
                f"{where}: the {role} message was refused by the content guard ({', '.join(rule_ids)})",
                "input_blocked",
                rule_ids=rule_ids,
            )
        if worst is Response.REDACT:
            text = redact(text, [a.finding for a in result.applied if a.response is Response.REDACT])
    ctx.gateway.record(ctx.conv.agent, ctx.conv.session, label, text)
    return _mask(ctx, text)


def _guard_tool(ctx: InputContext, action: Action, text: str, where: str) -> str:
    try:
        value = ctx.gateway.guard_result(action, text)
    except ApprovalRequired as exc:
        raise ChatError(
            403,
            f"{where}: the output of tool {action.tool!r} is withheld pending human approval "
            f"(approval request {exc.request_id}): {exc.decision.summary()}",
            "approval_required",
            approval_id=exc.request_id,
            rule_ids=list(exc.decision.rule_ids),
        ) from None
    except ResultBlocked as exc:
        raise bad_request(
            f"{where}: the output of tool {action.tool!r} was refused by the content guard: {exc.decision.summary()}",
            "input_blocked",
            rule_ids=list(exc.decision.rule_ids),
        ) from None
    if not isinstance(value, str):
        raise bad_request(f"{where}: the tool output could not be checked", "input_blocked")
    return _mask(ctx, value)


def _mask(ctx: InputContext, text: str) -> str:
    vault = ctx.conv.vault
    if vault is None or ctx.pii is None or not text:
        return text
    result = ctx.pii.scan(text, Source.USER)
    found = [a.finding for a in result.applied if a.finding.category is Category.PII and a.finding.span is not None]
    return vault.mask(text, found) if found else text


def _mask_calls(ctx: InputContext, tool_calls: object, where: str) -> list[Any]:
    if not isinstance(tool_calls, list):
        raise bad_request(f"{where}: 'tool_calls' must be an array", "invalid_messages")
    if ctx.conv.vault is None:
        return tool_calls
    out: list[Any] = []
    for call in tool_calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
            out.append({**call, "function": {**fn, "arguments": _mask(ctx, fn["arguments"])}})
        else:
            out.append(call)
    return out


def _map_content(content: object, where: str, fn: Callable[[str], str]) -> object:
    if isinstance(content, str):
        return fn(content)
    if content is None:
        return None
    if not isinstance(content, list):
        raise bad_request(f"{where}: 'content' must be a string or an array of parts", "invalid_messages")
    parts: list[Any] = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _PART_TYPES:
            raise bad_request(f"{where}.content[{i}]: unsupported content part {str(kind)[:40]!r}", "invalid_messages")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise bad_request(f"{where}.content[{i}]: a text part needs 'text'", "invalid_messages")
            parts.append({**part, "text": fn(text)})
        else:
            parts.append(part)
    return parts


def _tool_calls_by_id(messages: list[Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Tool call id -> (tool name, parsed arguments) from the assistant messages in the history."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(call.get("id"), str):
                continue
            name = fn.get("name")
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except (TypeError, ValueError):
                args = {}
            if isinstance(name, str) and name:
                calls[call["id"]] = (name, args if isinstance(args, dict) else {})
    return calls


def _audit(ctx: InputContext, kind: str, where: str, role: str, result: ScanResult) -> None:
    ctx.gateway.audit.append(
        kind,
        {
            "agent_id": ctx.conv.agent,
            "session_id": ctx.conv.session,
            "message": where,
            "role": role,
            "response": result.response.value if result.response is not None else None,
            "findings": [a.to_json() for a in result.applied],
        },
    )
