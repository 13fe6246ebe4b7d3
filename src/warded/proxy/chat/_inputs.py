"""The chat proxy's inbound side: every message is checked, labelled and (optionally) PII-masked.

``user``, ``system`` and ``developer`` messages are scanned as ``user`` source text and recorded with
their label (``user`` / ``system``); ``tool`` (and legacy ``function``) messages go through
``Gateway.guard_result`` as the output of the tool call they answer, so they are scanned as
``tool_output``, labelled ``tool:<name>``, audited, and can quarantine the session. ``assistant``
messages were checked on their way out and are only re-masked. A message accepted once in a
conversation is remembered (by digest) and not checked again when the history is resent.

Every field of a message is on an allow-list, per role and per content-part type; anything else is
refused (400), never forwarded unread:

=====================================  ===================================================================
field                                  treatment
=====================================  ===================================================================
``content`` (string or ``text`` part)  scanned (by role, as above), PII-masked
``refusal`` (field or part)            assistant only; PII-masked
``name``                               scanned and PII-masked (assistant: masked; ``function``: a tool name)
``tool_calls[]``                       ``type: function`` only; ``id`` an identifier, PII-masked;
                                       ``function.name`` a tool name; ``function.arguments`` parsed strictly
                                       (duplicate keys and invalid JSON refused), forwarded as canonical
                                       JSON with each string value PII-masked (a key carrying PII refused)
``tool_call_id``, ``audio.id``         an identifier (``[A-Za-z0-9_.:-]``), PII-masked
``image_url``, ``input_audio``,        media warded cannot read: refused unless the proxy is configured with
``file`` parts                         ``unsafe_forward_unscanned_media``; then their text (an http(s) URL,
                                       checked also percent-decoded; a file name or id) is scanned and
                                       masked, their payload (``data:`` URL, audio, file data) and the
                                       image or file behind a URL are forwarded unscanned and each such
                                       message is audited as ``chat_input_unscanned``
``detail``, ``format``, breakpoints    short keywords (lower-case letters, digits, ``_.-``)
=====================================  ===================================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from warded.core.types import Action
from warded.core.walk import DEEPEST, MAX_ITEMS, Limits, map_texts, walk
from warded.errors import ApprovalRequired, ResultBlocked
from warded.flow.taint import SYSTEM, USER
from warded.gateway.gateway import Gateway
from warded.proxy.chat._errors import ChatError, bad_request
from warded.proxy.chat._state import Conversation, digest
from warded.proxy.chat._tools import MAX_ARGUMENT_CHARS, BadToolArguments, parse_arguments
from warded.scan.pipeline import ScanPipeline, ScanResult
from warded.scan.types import Category, Response, Source
from warded.scan.vault import redact

MAX_MESSAGES = 4096
MAX_PARTS = 4096
MAX_TOOL_CALLS = 1024
_ROLE_FIELDS: Mapping[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "refusal", "tool_calls", "audio"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
_ROLE_PARTS: Mapping[str, frozenset[str]] = {
    "system": frozenset({"text"}),
    "developer": frozenset({"text"}),
    "user": frozenset({"text", "image_url", "input_audio", "file"}),
    "assistant": frozenset({"text", "refusal"}),
    "tool": frozenset({"text"}),
    "function": frozenset(),  # a string only
}
_MEDIA = frozenset({"image_url", "input_audio", "file"})
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,256}")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_KEYWORD = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_URL_SCHEMES = ("http://", "https://")
_MAX_UNQUOTE = 4
_ARGUMENT_LIMITS = Limits(max_depth=DEEPEST, max_items=MAX_ITEMS, max_chars=MAX_ARGUMENT_CHARS)


@dataclass(frozen=True, slots=True)
class InputContext:
    gateway: Gateway
    scan: Callable[[str], ScanResult]  # source ``user``; may be served from a cache
    pii: ScanPipeline | None
    conv: Conversation
    #: ``unsafe_forward_unscanned_media``: image, audio and file parts pass (their text still checked).
    media: bool = False


# -- field checks shared with the request's other fields (``_chat_request``) -------------------------


def fields(
    value: object, where: str, allowed: frozenset[str], required: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``value`` as an object holding only ``allowed`` keys (nulls dropped) and every ``required`` one."""
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object", "invalid_request")
    unknown = sorted(str(k) for k, v in value.items() if k not in allowed and v is not None)
    if unknown:
        raise bad_request(f"{where}: unsupported field(s) {', '.join(unknown)[:200]}", "unsupported_parameter")
    missing = sorted(k for k in required if value.get(k) is None)
    if missing:
        raise bad_request(f"{where}: missing field(s) {', '.join(missing)}", "invalid_request")
    return {k: v for k, v in value.items() if v is not None}


def string(value: object, where: str, max_chars: int = 1 << 20) -> str:
    if not isinstance(value, str):
        raise bad_request(f"{where} must be a string", "invalid_request")
    if len(value) > max_chars:
        raise bad_request(f"{where} is over {max_chars} characters", "invalid_request")
    return value


def keyword(value: object, where: str) -> str:
    """An enum-like value (``auto``, ``wav``, ``24h``): lower-case letters, digits and ``_.-``, at most
    32 characters, at least one letter. It cannot carry an address, a URL or a sentence."""
    if not isinstance(value, str) or not _KEYWORD.fullmatch(value) or not any(c.isalpha() for c in value):
        raise bad_request(f"{where}: {str(value)[:40]!r} is not a valid value", "invalid_request")
    return value


def tool_name(ctx: InputContext, value: object, where: str) -> str:
    """A tool name (``[A-Za-z0-9_.-]``, at most 128). Not masked (the model must call it by this name): a
    name the PII scanner finds personal data in is refused."""
    if not isinstance(value, str) or not _TOOL_NAME.fullmatch(value):
        raise bad_request(f"{where}: {str(value)[:40]!r} is not a valid tool name", "invalid_request")
    if mask(ctx, value) != value:
        raise bad_request(f"{where}: the tool name carries personal data", "input_blocked", rule_ids=["pii"])
    return value


def identifier(ctx: InputContext, value: object, where: str) -> str:
    """An opaque id (``[A-Za-z0-9_.:-]``, at most 256): no spaces, no ``@``; PII-masked (the same value
    always gets the same placeholder, so references between messages still match)."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise bad_request(f"{where}: {str(value)[:40]!r} is not a valid identifier", "invalid_request")
    return mask(ctx, value)


def guard_text(ctx: InputContext, text: object, where: str, what: str) -> str:
    """Free text sent upstream that is not a message (tool descriptions, schema text, ``prediction``,
    ``metadata``, ``user``, ``stop``...): scanned as ``user`` source text, refused on DENY or
    REQUIRE_APPROVAL findings, REDACT spans redacted, then PII-masked. Not recorded for taint tracing."""
    return mask(ctx, _checked(ctx, string(text, where), what, where))


def mask(ctx: InputContext, text: str) -> str:
    vault = ctx.conv.vault
    if vault is None or ctx.pii is None or not text:
        return text
    result = ctx.pii.scan(text, Source.USER)
    found = [a.finding for a in result.applied if a.finding.category is Category.PII and a.finding.span is not None]
    return vault.mask(text, found) if found else text


def _checked(ctx: InputContext, text: str, what: str, where: str) -> str:
    result = ctx.scan(text)
    if not result.applied:
        return text
    _audit(ctx, "chat_input_scanned", where, what, result)
    worst = result.response
    spanless = [a for a in result.applied if a.response is Response.REDACT and a.finding.span is None]
    if worst in (Response.DENY, Response.REQUIRE_APPROVAL) or spanless:
        rule_ids = sorted({a.finding.rule_id for a in result.applied if a.response is not Response.LABEL})
        raise bad_request(
            f"{where}: the {what} was refused by the content guard ({', '.join(rule_ids)})",
            "input_blocked",
            rule_ids=rule_ids,
        )
    if worst is Response.REDACT:
        text = redact(text, [a.finding for a in result.applied if a.response is Response.REDACT])
    return text


# -- messages -----------------------------------------------------------------------------------------


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
    if not isinstance(role, str) or role not in _ROLE_FIELDS:
        raise bad_request(f"messages[{index}]: unsupported role {str(role)[:40]!r}", "invalid_role")
    where = f"messages[{index}]"
    msg = fields(message, where, _ROLE_FIELDS[role])
    out: dict[str, Any] = {"role": role}
    content = msg.get("content")
    media: list[str] = []
    if role in ("system", "developer", "user"):
        label = USER if role == "user" else SYSTEM
        if "name" in msg:
            out["name"] = guard_text(ctx, msg["name"], f"{where}.name", f"{role} name")
        out["content"] = _map_content(
            ctx, content, where, role, lambda text: _guard_input(ctx, text, role, label, where), media=media
        )
    elif role in ("tool", "function"):
        if role == "function":
            name, args = tool_name(ctx, msg.get("name"), f"{where}.name"), dict[str, Any]()
            out["name"] = name
        else:
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in calls:
                raise bad_request(
                    f"{where}: the tool message answers no tool call in this conversation", "unknown_tool_call"
                )
            name, args = calls[call_id]
            out["tool_call_id"] = identifier(ctx, call_id, f"{where}.tool_call_id")
        action = Action(ctx.conv.agent, ctx.conv.session, name, args)
        out["content"] = _map_content(
            ctx, content, where, role, lambda text: _guard_tool(ctx, action, text, where), media=media
        )
    else:  # assistant: checked on its way out; only re-masked
        if "name" in msg:
            out["name"] = mask(ctx, string(msg["name"], f"{where}.name", 4096))
        if content is not None:
            out["content"] = _map_content(ctx, content, where, role, lambda text: mask(ctx, text), media=media)
        if "refusal" in msg:
            out["refusal"] = mask(ctx, string(msg["refusal"], f"{where}.refusal"))
        if "tool_calls" in msg:
            out["tool_calls"] = _history_calls(ctx, msg["tool_calls"], where)
        if "audio" in msg:
            audio = fields(msg["audio"], f"{where}.audio", frozenset({"id"}), frozenset({"id"}))
            out["audio"] = {"id": identifier(ctx, audio["id"], f"{where}.audio.id")}
    if out.get("content") is None:
        out.pop("content", None)
    if media:
        ctx.gateway.audit.append(
            "chat_input_unscanned",
            {"agent_id": ctx.conv.agent, "session_id": ctx.conv.session, "message": where, "parts": media},
        )
    return out


def _guard_input(ctx: InputContext, text: str, role: str, label: str, where: str) -> str:
    text = _checked(ctx, text, f"{role} message", where)
    ctx.gateway.record(ctx.conv.agent, ctx.conv.session, label, text)
    return mask(ctx, text)


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
    return mask(ctx, value)


def _history_calls(ctx: InputContext, tool_calls: object, where: str) -> list[dict[str, Any]]:
    """An assistant message's ``tool_calls`` as resent by the client: only function calls, arguments
    parsed strictly and forwarded as the canonical JSON the tool messages are judged against, masked."""
    if not isinstance(tool_calls, list) or len(tool_calls) > MAX_TOOL_CALLS:
        raise bad_request(f"{where}: 'tool_calls' must be an array of at most {MAX_TOOL_CALLS}", "invalid_messages")
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(tool_calls):
        at = f"{where}.tool_calls[{i}]"
        call = fields(raw, at, frozenset({"id", "type", "function"}), frozenset({"id", "function"}))
        if call.get("type", "function") != "function":
            raise bad_request(f"{at}: only function tool calls are supported", "unsupported_parameter")
        fn = fields(call["function"], f"{at}.function", frozenset({"name", "arguments"}), frozenset({"name"}))
        args, canonical = _arguments(fn.get("arguments"), at)
        out.append(
            {
                "id": identifier(ctx, call["id"], f"{at}.id"),
                "type": "function",
                "function": {
                    "name": tool_name(ctx, fn["name"], f"{at}.function.name"),
                    "arguments": canonical
                    if ctx.conv.vault is None
                    else _mask_arguments(ctx, args, f"{at}.function.arguments"),
                },
            }
        )
    return out


def _mask_arguments(ctx: InputContext, args: dict[str, Any], where: str) -> str:
    """Canonical JSON of ``args`` with every string value PII-masked as the decoded text it is (not as
    its JSON-escaped form). A key carrying personal data is refused: it cannot be masked in place."""
    read = walk(args, _ARGUMENT_LIMITS, where)
    if read.overflow is not None:
        raise bad_request(f"{where}: {read.overflow.message}", "invalid_tool_arguments")
    for text in read.texts:
        if text.key and mask(ctx, text.text) != text.text:
            raise bad_request(f"{text.path}: an argument name carries personal data", "input_blocked", rule_ids=["pii"])
    masked = map_texts(args, lambda _, text: mask(ctx, text), _ARGUMENT_LIMITS)
    return json.dumps(masked, ensure_ascii=False, separators=(",", ":"))


def _arguments(raw: object, where: str) -> tuple[dict[str, Any], str]:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise bad_request(f"{where}: 'arguments' must be a JSON string", "invalid_tool_arguments")
    try:
        return parse_arguments(raw)
    except BadToolArguments as exc:
        raise bad_request(f"{where}: {exc}", "invalid_tool_arguments") from None


def _map_content(
    ctx: InputContext, content: object, where: str, role: str, fn: Callable[[str], str], *, media: list[str]
) -> object:
    if isinstance(content, str):
        return fn(content)
    if content is None:
        return None
    allowed = _ROLE_PARTS[role]
    if not isinstance(content, list) or not allowed:
        raise bad_request(f"{where}: 'content' must be a string or an array of parts", "invalid_messages")
    if len(content) > MAX_PARTS:
        raise bad_request(f"{where}: at most {MAX_PARTS} content parts", "invalid_messages")
    return [_part(ctx, part, f"{where}.content[{i}]", allowed, fn, media=media) for i, part in enumerate(content)]


def _part(
    ctx: InputContext, part: object, where: str, allowed: frozenset[str], fn: Callable[[str], str], *, media: list[str]
) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in allowed:
        raise bad_request(f"{where}: unsupported content part {str(kind)[:40]!r} here", "invalid_messages")
    if kind in _MEDIA and not ctx.media:
        raise bad_request(
            f"{where}: {kind} parts cannot be scanned, so they are refused (the operator can allow them, "
            "unscanned, with unsafe_forward_unscanned_media)",
            "unscannable_content",
        )
    if kind == "refusal":
        p = fields(part, where, frozenset({"type", "refusal"}), frozenset({"refusal"}))
        return {"type": kind, "refusal": mask(ctx, string(p["refusal"], f"{where}.refusal"))}
    p = fields(part, where, frozenset({"type", kind, "prompt_cache_breakpoint"}), frozenset({kind}))
    out: dict[str, Any] = {"type": kind}
    if kind == "text":
        out["text"] = fn(string(p["text"], f"{where}.text"))
    elif kind == "image_url":
        image = fields(p[kind], f"{where}.image_url", frozenset({"url", "detail"}), frozenset({"url"}))
        out[kind] = {"url": _url(ctx, image["url"], f"{where}.image_url.url")}
        if "detail" in image:
            out[kind]["detail"] = keyword(image["detail"], f"{where}.image_url.detail")
        media.append(kind)
    elif kind == "input_audio":
        audio = fields(p[kind], f"{where}.input_audio", frozenset({"data", "format"}), frozenset({"data", "format"}))
        out[kind] = {"data": string(audio["data"], f"{where}.input_audio.data", 1 << 30)}
        out[kind]["format"] = keyword(audio["format"], f"{where}.input_audio.format")
        media.append(kind)
    else:  # file
        file = fields(p[kind], f"{where}.file", frozenset({"file_data", "file_id", "filename"}))
        if not file:
            raise bad_request(f"{where}.file needs file_data or file_id", "invalid_request")
        out[kind] = {}
        if "file_data" in file:
            out[kind]["file_data"] = string(file["file_data"], f"{where}.file.file_data", 1 << 30)
        if "file_id" in file:
            out[kind]["file_id"] = identifier(ctx, file["file_id"], f"{where}.file.file_id")
        if "filename" in file:
            out[kind]["filename"] = guard_text(ctx, file["filename"], f"{where}.file.filename", "file name")
        media.append(kind)
    if "prompt_cache_breakpoint" in p:
        out["prompt_cache_breakpoint"] = cache_breakpoint(
            p["prompt_cache_breakpoint"], f"{where}.prompt_cache_breakpoint"
        )
    return out


def cache_breakpoint(value: object, where: str) -> dict[str, str]:
    bp = fields(value, where, frozenset({"mode", "ttl"}), frozenset({"mode"}))
    return {k: keyword(v, f"{where}.{k}") for k, v in bp.items()}


def _url(ctx: InputContext, url: object, where: str) -> str:
    """An image URL. ``data:`` URLs pass as they are (the option allowing media says their payload goes
    unscanned). An http(s) URL is text the upstream sends to a third party: scanned and masked, and
    then checked again percent-decoded (``alice%40corp.com``), where any finding refuses it, since
    encoded text cannot be masked in place. Other schemes are refused."""
    text = string(url, where)
    lowered = text[:8].lower()
    if lowered.startswith("data:"):
        return text
    if not lowered.startswith(_URL_SCHEMES):
        raise bad_request(f"{where}: only http(s) and data: URLs are accepted", "invalid_request")
    masked = guard_text(ctx, text, where, "image URL")
    plain = masked
    for _ in range(_MAX_UNQUOTE):
        decoded = unquote_plus(plain)
        if decoded == plain:
            break
        plain = decoded
    else:
        raise bad_request(f"{where}: the URL is percent-encoded too many times over", "input_blocked")
    if plain != masked:
        rule_ids = {a.finding.rule_id for a in ctx.scan(plain).applied if a.response is not Response.LABEL}
        if ctx.pii is not None and ctx.conv.vault is not None:
            pii = ctx.pii.scan(plain, Source.USER).applied
            rule_ids |= {a.finding.rule_id for a in pii if a.finding.category is Category.PII}
        if rule_ids:
            raise bad_request(
                f"{where}: the URL carries percent-encoded text the content guard refuses "
                f"({', '.join(sorted(rule_ids))})",
                "input_blocked",
                rule_ids=sorted(rule_ids),
            )
    return masked


def _tool_calls_by_id(messages: list[Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Tool call id -> (tool name, arguments) from the assistant messages in the history. The arguments
    are parsed as strictly as the model's own calls are (a duplicate key is refused), so a tool message
    is judged against the same arguments the model was shown."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        tool_calls = message.get("tool_calls")
        if not isinstance(tool_calls, list):
            continue
        for i, call in enumerate(tool_calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(call.get("id"), str):
                continue
            where = f"messages[{index}].tool_calls[{i}]"
            if call["id"] in calls:
                raise bad_request(f"{where}: tool call id {call['id'][:64]!r} is used twice", "invalid_messages")
            name = fn.get("name")
            args, _ = _arguments(fn.get("arguments"), where)
            if isinstance(name, str) and name:
                calls[call["id"]] = (name, args)
    return calls


def _audit(ctx: InputContext, kind: str, where: str, what: str, result: ScanResult) -> None:
    ctx.gateway.audit.append(
        kind,
        {
            "agent_id": ctx.conv.agent,
            "session_id": ctx.conv.session,
            "message": where,
            "what": what,
            "response": result.response.value if result.response is not None else None,
            "findings": [a.to_json() for a in result.applied],
        },
    )
