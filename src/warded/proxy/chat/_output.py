"""The chat proxy's outbound side: model text and tool calls, whole or streamed, checked before release.

Shapes the client sees (all standard OpenAI fields, plus one optional ``warded`` object):

* Text passes through :class:`OutputGuard` (source ``model_output``); redacted spans read
  ``[REDACTED:<rule id>]``. PII placeholders are restored after scanning.
* A blocked text: non-streaming, the choice's ``content`` becomes a ``[warded] ...`` notice, its tool calls
  are dropped and ``finish_reason`` is ``content_filter``; streaming, the text released so far stays, a
  last content delta carries the notice, every open choice finishes with ``content_filter``, then
  ``data: [DONE]``. The blocked text itself is never sent.
* Tool calls are decided (see ``_chat_tools``); removed ones are explained in ``content`` and listed in
  ``warded.tool_calls``; a choice left with no calls finishes with ``stop`` instead of ``tool_calls``.
  Streamed tool calls are sent only once complete, one delta each with the full arguments.
* ``logprobs`` are never passed on: they would carry the text of withheld tokens.
* ``warded`` (top level of the completion, or of the last chunk of a stream):
  ``{"tool_calls": [{id, name, verdict, decision_id, request_id, reasons}], "findings": [...],
  "blocked": [rule ids]}``, keys present only when non-empty.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from warded.errors import WardedError
from warded.gateway.gateway import Gateway
from warded.proxy.chat._errors import upstream_error
from warded.proxy.chat._guard import OutputGuard
from warded.proxy.chat._state import Conversation
from warded.proxy.chat._tools import MAX_ARGUMENT_CHARS, CallBuffer, decide_calls
from warded.scan.pipeline import Applied, ScanResult

MAX_CHOICES = 16
MAX_TOOL_CALLS = 128
_BASE_KEYS = ("id", "object", "created", "model", "system_fingerprint", "service_tier")
DONE = b"data: [DONE]\n\n"


@dataclass
class OutputContext:
    gateway: Gateway
    conv: Conversation
    scan: Callable[[str], ScanResult]
    restore: Callable[[str], str]
    context_chars: int
    max_hold: int


@dataclass
class _Choice:
    index: int
    content: OutputGuard
    refusal: OutputGuard
    calls: dict[int, CallBuffer] = field(default_factory=dict)
    released_text: bool = False
    finished: bool = False


def _notice(applied: tuple[Applied, ...], *, partial: bool) -> str:
    rule_ids = ", ".join(sorted({a.finding.rule_id for a in applied})) or "unknown"
    what = "The rest of this response" if partial else "This response"
    return f"[warded] {what} was withheld: the content guard found {rule_ids}."


class _Output:
    def __init__(self, ctx: OutputContext) -> None:
        self.ctx = ctx
        self.choices: dict[int, _Choice] = {}
        self.notes: list[dict[str, Any]] = []
        self.blocked: tuple[Applied, ...] = ()

    def choice(self, index: object) -> _Choice:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < MAX_CHOICES:
            raise upstream_error(502, "the upstream sent a malformed choice index", "upstream_malformed")
        st = self.choices.get(index)
        if st is None:
            ctx = self.ctx
            st = _Choice(
                index,
                OutputGuard(ctx.scan, ctx.restore, context_chars=ctx.context_chars, max_hold=ctx.max_hold),
                OutputGuard(ctx.scan, ctx.restore, context_chars=ctx.context_chars, max_hold=ctx.max_hold),
            )
            self.choices[index] = st
        return st

    def findings(self) -> list[Applied]:
        return [a for st in self.choices.values() for g in (st.content, st.refusal) for a in g.findings]

    def extension(self) -> dict[str, Any]:
        ext: dict[str, Any] = {}
        if self.notes:
            ext["tool_calls"] = self.notes
        found = self.findings()
        if found:
            ext["findings"] = [
                {"rule_id": a.finding.rule_id, "category": a.finding.category.value, "response": a.response.value}
                for a in found
            ]
        if self.blocked:
            ext["blocked"] = sorted({a.finding.rule_id for a in self.blocked})
        return ext

    def observe(self) -> None:
        """Tell the behavioural monitor about this completion: refused, content-guard findings, withheld."""
        refused = any(st.refusal.chars_in > 0 for st in self.choices.values())
        try:
            self.ctx.gateway.observe_output(
                self.ctx.conv.agent,
                self.ctx.conv.session,
                refused=refused,
                findings=len(self.findings()),
                blocked=bool(self.blocked),
            )
        except WardedError as exc:  # the monitor observes; its failure never changes what the client gets
            print(f"warded chat: the monitor could not record a completion: {exc}", file=sys.stderr)

    def audit_body(self) -> dict[str, Any]:
        return {
            "agent_id": self.ctx.conv.agent,
            "session_id": self.ctx.conv.session,
            "blocked": bool(self.blocked),
            "findings": [a.to_json() for a in self.findings()],
        }

    def buffer_calls(self, st: _Choice, deltas: object) -> None:
        if not isinstance(deltas, list):
            raise upstream_error(502, "the upstream sent malformed tool calls", "upstream_malformed")
        for delta in deltas:
            if not isinstance(delta, dict):
                raise upstream_error(502, "the upstream sent a malformed tool call", "upstream_malformed")
            index = delta.get("index", len(st.calls))
            if not isinstance(index, int) or not 0 <= index < MAX_TOOL_CALLS:
                raise upstream_error(502, "the upstream sent a malformed tool call index", "upstream_malformed")
            buf = st.calls.setdefault(index, CallBuffer())
            if isinstance(delta.get("id"), str):
                buf.id = delta["id"]
            if isinstance(delta.get("type"), str):
                buf.type = delta["type"]
            fn = delta.get("function")
            if fn is not None and not isinstance(fn, dict):
                raise upstream_error(502, "the upstream sent a malformed tool call", "upstream_malformed")
            if isinstance(fn, dict):
                name, args = fn.get("name"), fn.get("arguments")
                if not isinstance(name, str | None) or not isinstance(args, str | None):
                    # arguments sent as an object (not a JSON string) would otherwise be dropped, and the
                    # call decided and forwarded with none
                    raise upstream_error(502, "the upstream sent a malformed tool call", "upstream_malformed")
                if name is not None:
                    buf.name += name
                if args is not None:
                    buf.arguments.append(args)
                    buf.size += len(args)
            if buf.size > MAX_ARGUMENT_CHARS or len(buf.name) > 256:
                raise upstream_error(502, "the upstream sent an oversized tool call", "upstream_malformed")


# -- non-streaming -------------------------------------------------------------------------------


def process_completion(ctx: OutputContext, data: object) -> dict[str, Any]:
    """The completion to return to the client, every choice checked; raises ``ChatError`` if malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise upstream_error(502, "the upstream sent a malformed completion", "upstream_malformed")
    out = _Output(ctx)
    result: dict[str, Any] = {k: data[k] for k in _BASE_KEYS if k in data}
    result.setdefault("object", "chat.completion")
    if isinstance(data.get("usage"), dict):
        result["usage"] = data["usage"]
    choices: list[dict[str, Any]] = []
    for raw in data["choices"][:MAX_CHOICES]:
        if not isinstance(raw, dict) or not isinstance(raw.get("message"), dict):
            raise upstream_error(502, "the upstream sent a malformed choice", "upstream_malformed")
        st = out.choice(raw.get("index", len(choices)))
        message = raw["message"]
        content, refusal = message.get("content"), message.get("refusal")
        if not isinstance(content, str | None) or not isinstance(refusal, str | None):
            raise upstream_error(502, "the upstream sent a malformed message", "upstream_malformed")
        if message.get("tool_calls") is not None:
            out.buffer_calls(
                st, [{"index": i, **c} for i, c in enumerate(message["tool_calls"]) if isinstance(c, dict)]
            )
        text = st.content.complete(content) if content else ""
        refused = st.refusal.complete(refusal) if refusal else ""
        finish = raw.get("finish_reason")
        msg: dict[str, Any] = {"role": "assistant", "content": None}
        blocked = st.content.blocked + st.refusal.blocked
        if blocked:
            out.blocked += blocked
            msg["content"] = _notice(blocked, partial=False)
            finish = "content_filter"
        else:
            if content is not None:
                msg["content"] = text
            if refusal is not None:
                msg["refusal"] = refused
            if st.calls:
                decided = decide_calls(ctx.gateway, ctx.conv, [st.calls[i] for i in sorted(st.calls)], ctx.restore)
                out.notes.extend(decided.notes)
                if decided.explanation:
                    msg["content"] = f"{text}\n\n{decided.explanation}" if text else decided.explanation
                if decided.kept:
                    msg["tool_calls"] = decided.kept
                elif finish == "tool_calls":
                    finish = "stop"
        choices.append({"index": st.index, "message": msg, "logprobs": None, "finish_reason": finish})
    result["choices"] = choices
    ext = out.extension()
    if ext:
        result["warded"] = ext
    if out.findings() or out.blocked:
        ctx.gateway.audit.append("chat_output_scanned", out.audit_body())
    out.observe()
    return result


# -- streaming -----------------------------------------------------------------------------------


def _deltas(deltas: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"index": i, "delta": od, "logprobs": None, "finish_reason": None} for i, od in deltas.items()]


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n\n"


class StreamRelay:
    """Turns upstream chunks into the chunks the client may see. ``blocked`` ends the stream."""

    def __init__(self, ctx: OutputContext) -> None:
        self.out = _Output(ctx)
        self.ctx = ctx
        self.base: dict[str, Any] = {"object": "chat.completion.chunk"}
        self.done = False

    @property
    def blocked(self) -> bool:
        return bool(self.out.blocked)

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse({**self.base, "choices": choices, **extra})

    def on_chunk(self, chunk: object, *, last: bool = True) -> list[bytes]:
        """One upstream chunk. With ``last=False`` (more chunks arrived in the same read) text is only
        buffered: one scan then covers the whole batch when the batch's last chunk comes."""
        if not isinstance(chunk, dict) or not isinstance(chunk.get("choices", []), list):
            raise upstream_error(502, "the upstream sent a malformed chunk", "upstream_malformed")
        self.base.update({k: chunk[k] for k in _BASE_KEYS if k in chunk})
        deltas: dict[int, dict[str, Any]] = {}
        finals: list[bytes] = []
        for raw in chunk.get("choices", []):
            if not isinstance(raw, dict):
                raise upstream_error(502, "the upstream sent a malformed choice", "upstream_malformed")
            st = self.out.choice(raw.get("index"))
            if st.finished:
                continue
            delta = raw.get("delta") or {}
            if not isinstance(delta, dict):
                raise upstream_error(502, "the upstream sent a malformed delta", "upstream_malformed")
            if isinstance(delta.get("role"), str):
                deltas.setdefault(st.index, {})["role"] = delta["role"]
            for key, guard in (("content", st.content), ("refusal", st.refusal)):
                text = delta.get(key)
                if text is None:
                    continue
                if not isinstance(text, str):
                    raise upstream_error(502, f"the upstream sent a malformed {key}", "upstream_malformed")
                guard.append(text)
            if delta.get("tool_calls") is not None:
                self.out.buffer_calls(st, delta["tool_calls"])
            finish = raw.get("finish_reason")
            if finish is not None:
                closing = self._finish(st, finish)
                if self.blocked:
                    return self._block(st, self.out.blocked, deltas)
                finals.extend(closing)
        if last:
            for st in self.out.choices.values():
                if st.finished:
                    continue
                for key, guard in (("content", st.content), ("refusal", st.refusal)):
                    released = guard.poll()
                    if guard.blocked:
                        return self._block(st, guard.blocked, deltas)
                    if released:
                        deltas.setdefault(st.index, {})[key] = released
                        st.released_text = st.released_text or key == "content"
        events = [self._chunk(_deltas(deltas))] if deltas else []
        events.extend(finals)
        if isinstance(chunk.get("usage"), dict):
            events.append(self._chunk([], usage=chunk["usage"]))
        return events

    def _finish(self, st: _Choice, finish: object) -> list[bytes]:
        st.finished = True
        text = st.content.finish()
        refused = st.refusal.finish()
        if st.content.blocked or st.refusal.blocked:
            self.out.blocked += st.content.blocked + st.refusal.blocked
            return []
        od: dict[str, Any] = {}
        if st.calls:
            decided = decide_calls(
                self.ctx.gateway, self.ctx.conv, [st.calls[i] for i in sorted(st.calls)], self.ctx.restore
            )
            self.out.notes.extend(decided.notes)
            if decided.explanation:
                sep = "\n\n" if (st.released_text or text) else ""
                text = f"{text}{sep}{decided.explanation}"
            if decided.kept:
                od["tool_calls"] = [{"index": i, **call} for i, call in enumerate(decided.kept)]
            elif finish == "tool_calls":
                finish = "stop"
        if text:
            od["content"] = text
        if refused:
            od["refusal"] = refused
        events = (
            [self._chunk([{"index": st.index, "delta": od, "logprobs": None, "finish_reason": None}])] if od else []
        )
        events.append(self._chunk([{"index": st.index, "delta": {}, "logprobs": None, "finish_reason": finish}]))
        return events

    def _block(self, st: _Choice, blocked: tuple[Applied, ...], deltas: dict[int, dict[str, Any]]) -> list[bytes]:
        self.out.blocked = (*self.out.blocked, *(a for a in blocked if a not in self.out.blocked))
        deltas.pop(st.index, None)
        events = [self._chunk(_deltas(deltas))] if deltas else []
        notice = {"index": st.index, "delta": {"content": _notice(blocked, partial=True)}, "logprobs": None}
        events.append(self._chunk([{**notice, "finish_reason": None}]))
        closing: list[dict[str, Any]] = [
            {"index": c.index, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}
            for c in self.out.choices.values()
            if not c.finished
        ]
        for c in self.out.choices.values():
            c.finished = True
        events.append(self._chunk(closing, warded=self.out.extension()))
        self.done = True
        return events

    def on_end(self) -> list[bytes]:
        """The upstream finished (``[DONE]``); raises ``ChatError`` if a choice never finished."""
        if not self.out.choices or any(not c.finished for c in self.out.choices.values()):
            raise upstream_error(
                502, "the upstream stream ended before the response was complete", "upstream_truncated"
            )
        ext = self.out.extension()
        self.done = True
        return [self._chunk([], warded=ext)] if ext else []
