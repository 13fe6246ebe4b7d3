"""The chat proxy's request allow-list: how each field of ``POST /v1/chat/completions`` reaches the upstream.

Every field the upstream receives is on this list, with one treatment; a field that is not (at the top
level or nested in any object below) is refused with an OpenAI-style 400 (``unsupported_parameter``),
never forwarded unread. Nulls are dropped.

=====================================  ===================================================================
field                                  treatment
=====================================  ===================================================================
``messages``                           per role and content part (see ``_chat_inputs``)
``tools[].function``                   ``type: function`` only. ``name`` a tool name; ``description``
                                       text; ``parameters`` a JSON Schema read keyword by keyword (below);
                                       ``strict`` boolean
``response_format``                    ``text`` / ``json_object`` / ``json_schema`` (``name`` a tool-style
                                       name, ``description`` text, ``schema`` as tool parameters)
``prediction``                         ``{type: content}``; its text (string or text parts) is text
``metadata``                           at most 16 string pairs; keys and values are text
``user``, ``safety_identifier``,       text
``prompt_cache_key``, ``stop``
``tool_choice``                        ``none``/``auto``/``required``, a named function, or
                                       ``allowed_tools`` naming functions
``logit_bias``                         token ids (digits) to numbers in [-100, 100]
numbers and flags                      ``temperature``, ``top_p``, penalties (finite numbers); ``n`` (1 to
                                       16), ``max_tokens``, ``max_completion_tokens``, ``seed``,
                                       ``top_logprobs`` (integers); ``stream``, ``logprobs``, ``store``,
                                       ``parallel_tool_calls``, ``stream_options`` (booleans)
keywords                               ``service_tier``, ``reasoning_effort``, ``verbosity``,
                                       ``prompt_cache_retention``, ``prompt_cache_options``,
                                       ``modalities`` (``text`` only), ``moderation``
refused                                ``functions``/``function_call`` (use ``tools``), custom tools,
                                       ``audio`` output and ``web_search_options`` (what they bring back
                                       cannot be checked)
=====================================  ===================================================================

*Text* is scanned as ``user`` source text (the policy's responses apply: DENY and REQUIRE_APPROVAL
findings refuse the request, REDACT spans are redacted) and then PII-masked when ``mask_pii`` is on.

A JSON Schema (tool ``parameters``, ``response_format`` schema) is read keyword by keyword:
``description``, ``title``, ``$comment``, ``pattern``, ``$ref``/``$id``/``$schema`` and property,
definition and ``required`` names are text; ``enum``/``const``/``default``/``examples`` values are read
whole by the shared walker (``warded.core.walk``), their strings as text (an object key inside them
that would have to be masked or redacted is refused); subschemas are read the same way; numeric and
boolean keywords are type-checked; an unknown keyword is refused. Past :data:`MAX_SCHEMA_DEPTH` levels or
:data:`MAX_SCHEMA_NODES` nodes a schema is refused. Results are cached per conversation, so tools and
fields resent with every turn are checked once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from warded.core.walk import Limits, map_texts, walk
from warded.proxy.chat._errors import bad_request
from warded.proxy.chat._inputs import (
    InputContext,
    cache_breakpoint,
    fields,
    guard_text,
    identifier,
    keyword,
    prepare_messages,
    string,
    tool_name,
)
from warded.proxy.chat._output import MAX_CHOICES
from warded.proxy.chat._state import digest

MAX_TOOLS = 512
MAX_SCHEMA_DEPTH = 64
MAX_SCHEMA_NODES = 20_000
MAX_METADATA = 16
MAX_STOP = 16
MAX_LOGIT_BIAS = 1024
_INT64 = 1 << 63
_TOKEN_ID = re.compile(r"[0-9]{1,7}")

Handler = Callable[[InputContext, Any, str], Any]

_REFUSED: Mapping[str, str] = {
    "functions": "'functions' is not supported; use 'tools'",
    "function_call": "'function_call' is not supported; use 'tool_choice'",
    "audio": "audio output cannot be checked by warded, so 'audio' is not supported",
    "web_search_options": "web search results would reach the model unchecked, so 'web_search_options' is "
    "not supported",
}


def prepare_request(ctx: InputContext, body: dict[str, Any]) -> dict[str, Any]:
    """The request to forward upstream: every field checked per its treatment, nothing else; raises
    :class:`~warded.proxy.chat._errors.ChatError` to refuse it."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value is None:
            continue
        if key in _REFUSED:
            raise bad_request(_REFUSED[key], "unsupported_parameter")
        handler = _TOP.get(key)
        if handler is None:
            raise bad_request(
                f"unsupported parameter {str(key)[:64]!r}: warded forwards only the fields it checks",
                "unsupported_parameter",
            )
        out[key] = handler(ctx, value, key) if key in _UNCACHED else _cached(ctx, handler, value, key)
    if "messages" not in out:
        raise bad_request("'messages' must be a non-empty array", "invalid_messages")
    return out


def _cached(ctx: InputContext, handler: Handler, value: object, where: str) -> Any:
    """A field's checked form, remembered per conversation: tools and the like are resent every turn."""
    key = digest(["field", where, value])
    with ctx.conv.lock:
        hit = ctx.conv.seen.get(key)
        if hit is None:
            hit = {"value": handler(ctx, value, where)}
            ctx.conv.remember(key, hit)
    return hit["value"]


# -- scalars ---------------------------------------------------------------------------------------


def _boolean(ctx: InputContext, value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"'{where}' must be a boolean", "invalid_request")
    return value


def _number(ctx: InputContext, value: object, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"'{where}' must be a finite number", "invalid_request")
    return value


def _integer(low: int, high: int) -> Handler:
    def check(ctx: InputContext, value: object, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise bad_request(f"'{where}' must be an integer from {low} to {high}", "invalid_request")
        return value

    return check


def _keyword(ctx: InputContext, value: object, where: str) -> str:
    return keyword(value, where)


def _text(what: str) -> Handler:
    def check(ctx: InputContext, value: object, where: str) -> str:
        return guard_text(ctx, value, where, what)

    return check


def _model(ctx: InputContext, value: object, where: str) -> str:
    return string(value, where, 256)  # the proxy checked it against the configured models


def _messages(ctx: InputContext, value: object, where: str) -> list[dict[str, Any]]:
    return prepare_messages(ctx, value)


# -- small objects -----------------------------------------------------------------------------------


def _stop(ctx: InputContext, value: object, where: str) -> str | list[str]:
    if isinstance(value, str):
        return guard_text(ctx, value, where, "stop sequence")
    if not isinstance(value, list) or len(value) > MAX_STOP:
        raise bad_request(f"'{where}' must be a string or an array of at most {MAX_STOP}", "invalid_request")
    return [guard_text(ctx, s, f"{where}[{i}]", "stop sequence") for i, s in enumerate(value)]


def _metadata(ctx: InputContext, value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > MAX_METADATA:
        raise bad_request(f"'{where}' must be an object of at most {MAX_METADATA} strings", "invalid_request")
    out: dict[str, str] = {}
    for key, item in value.items():
        name = guard_text(ctx, string(key, f"{where} key", 64), f"{where} key", "metadata key")
        out[name] = guard_text(ctx, string(item, f"{where}.{key[:64]}", 512), f"{where}.{key[:64]}", "metadata value")
    return out


def _logit_bias(ctx: InputContext, value: object, where: str) -> dict[str, float | int]:
    if not isinstance(value, dict) or len(value) > MAX_LOGIT_BIAS:
        raise bad_request(f"'{where}' must be an object of at most {MAX_LOGIT_BIAS} entries", "invalid_request")
    out: dict[str, float | int] = {}
    for key, bias in value.items():
        if not _TOKEN_ID.fullmatch(key):
            raise bad_request(f"'{where}': keys must be token ids", "invalid_request")
        number = _number(ctx, bias, f"{where}.{key}")
        if not -100 <= number <= 100:
            raise bad_request(f"'{where}.{key}' must be from -100 to 100", "invalid_request")
        out[key] = number
    return out


def _stream_options(ctx: InputContext, value: object, where: str) -> dict[str, bool]:
    opts = fields(value, where, frozenset({"include_usage", "include_obfuscation"}))
    return {k: _boolean(ctx, v, f"{where}.{k}") for k, v in opts.items()}


def _modalities(ctx: InputContext, value: object, where: str) -> list[str]:
    if not isinstance(value, list) or any(m != "text" for m in value):
        raise bad_request(f"'{where}': only text output can be checked by warded", "unsupported_parameter")
    return list(value)


def _prompt_cache_options(ctx: InputContext, value: object, where: str) -> dict[str, str]:
    opts = fields(value, where, frozenset({"mode", "ttl"}))
    return {k: keyword(v, f"{where}.{k}") for k, v in opts.items()}


def _moderation(ctx: InputContext, value: object, where: str) -> dict[str, Any]:
    mod = fields(value, where, frozenset({"model", "policy"}), frozenset({"model"}))
    out: dict[str, Any] = {"model": identifier(ctx, mod["model"], f"{where}.model")}
    if "policy" in mod:
        policy = fields(mod["policy"], f"{where}.policy", frozenset({"input", "output"}))
        out["policy"] = {
            k: {"mode": keyword(fields(v, f"{where}.policy.{k}", frozenset({"mode"}), frozenset({"mode"}))["mode"],
                                f"{where}.policy.{k}.mode")}
            for k, v in policy.items()
        }  # fmt: skip
    return out


def _prediction(ctx: InputContext, value: object, where: str) -> dict[str, Any]:
    pred = fields(value, where, frozenset({"type", "content"}), frozenset({"type", "content"}))
    if pred["type"] != "content":
        raise bad_request(f"'{where}.type' must be 'content'", "invalid_request")
    content = pred["content"]
    if isinstance(content, str):
        return {"type": "content", "content": guard_text(ctx, content, f"{where}.content", "prediction")}
    if not isinstance(content, list):
        raise bad_request(f"'{where}.content' must be a string or an array of text parts", "invalid_request")
    parts: list[dict[str, Any]] = []
    for i, raw in enumerate(content):
        at = f"{where}.content[{i}]"
        part = fields(raw, at, frozenset({"type", "text", "prompt_cache_breakpoint"}), frozenset({"type", "text"}))
        if part["type"] != "text":
            raise bad_request(f"'{at}': only text parts are accepted", "invalid_request")
        checked: dict[str, Any] = {"type": "text", "text": guard_text(ctx, part["text"], f"{at}.text", "prediction")}
        if "prompt_cache_breakpoint" in part:
            checked["prompt_cache_breakpoint"] = cache_breakpoint(
                part["prompt_cache_breakpoint"], f"{at}.prompt_cache_breakpoint"
            )
        parts.append(checked)
    return {"type": "content", "content": parts}


# -- tools -----------------------------------------------------------------------------------------


def _tools(ctx: InputContext, value: object, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise bad_request(f"'{where}' must be an array of at most {MAX_TOOLS} tools", "invalid_request")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, raw in enumerate(value):
        at = f"{where}[{i}]"
        if isinstance(raw, dict) and raw.get("type") == "custom":
            raise bad_request(f"'{at}': custom tools are not supported (warded decides function calls)",
                              "unsupported_parameter")  # fmt: skip
        tool = fields(raw, at, frozenset({"type", "function"}), frozenset({"function"}))
        if tool.get("type", "function") != "function":
            raise bad_request(f"'{at}.type' must be 'function'", "unsupported_parameter")
        fn = fields(
            tool["function"], f"{at}.function", frozenset({"name", "description", "parameters", "strict"}),
            frozenset({"name"}),
        )  # fmt: skip
        name = tool_name(ctx, fn["name"], f"{at}.function.name")
        if name in names:
            raise bad_request(f"'{at}': the tool {name!r} is defined twice", "invalid_request")
        names.add(name)
        checked: dict[str, Any] = {"name": name}
        if "description" in fn:
            checked["description"] = guard_text(
                ctx, fn["description"], f"{at}.function.description", "tool description"
            )
        if "parameters" in fn:
            checked["parameters"] = _schema_root(ctx, fn["parameters"], f"{at}.function.parameters")
        if "strict" in fn:
            checked["strict"] = _boolean(ctx, fn["strict"], f"{at}.function.strict")
        out.append({"type": "function", "function": checked})
    return out


def _tool_choice(ctx: InputContext, value: object, where: str) -> str | dict[str, Any]:
    if isinstance(value, str):
        if value not in ("none", "auto", "required"):
            raise bad_request(f"'{where}' must be none, auto or required", "invalid_request")
        return value
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "function":
        choice = fields(value, where, frozenset({"type", "function"}), frozenset({"function"}))
        return {"type": "function", "function": _named(ctx, choice["function"], f"{where}.function")}
    if kind == "allowed_tools":
        choice = fields(value, where, frozenset({"type", "allowed_tools"}), frozenset({"allowed_tools"}))
        allowed = fields(
            choice["allowed_tools"],
            f"{where}.allowed_tools",
            frozenset({"mode", "tools"}),
            frozenset({"mode", "tools"}),
        )
        tools = allowed["tools"]
        if not isinstance(tools, list) or len(tools) > MAX_TOOLS:
            raise bad_request(f"'{where}.allowed_tools.tools' must be an array of tools", "invalid_request")
        named: list[dict[str, Any]] = []
        for i, raw in enumerate(tools):
            at = f"{where}.allowed_tools.tools[{i}]"
            tool = fields(raw, at, frozenset({"type", "function"}), frozenset({"type", "function"}))
            if tool["type"] != "function":
                raise bad_request(f"'{at}.type' must be 'function'", "unsupported_parameter")
            named.append({"type": "function", "function": _named(ctx, tool["function"], f"{at}.function")})
        mode = keyword(allowed["mode"], f"{where}.allowed_tools.mode")
        return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": named}}
    raise bad_request(f"'{where}' must name a function tool (custom tools are not supported)", "unsupported_parameter")


def _named(ctx: InputContext, value: object, where: str) -> dict[str, str]:
    fn = fields(value, where, frozenset({"name"}), frozenset({"name"}))
    return {"name": tool_name(ctx, fn["name"], f"{where}.name")}


def _response_format(ctx: InputContext, value: object, where: str) -> dict[str, Any]:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("text", "json_object"):
        fields(value, where, frozenset({"type"}))
        return {"type": kind}
    if kind != "json_schema":
        raise bad_request(f"'{where}.type' must be text, json_object or json_schema", "invalid_request")
    fmt = fields(value, where, frozenset({"type", "json_schema"}), frozenset({"json_schema"}))
    at = f"{where}.json_schema"
    spec = fields(fmt["json_schema"], at, frozenset({"name", "description", "schema", "strict"}), frozenset({"name"}))
    out: dict[str, Any] = {"name": tool_name(ctx, spec["name"], f"{at}.name")}
    if "description" in spec:
        out["description"] = guard_text(ctx, spec["description"], f"{at}.description", "response format description")
    if "schema" in spec:
        out["schema"] = _schema_root(ctx, spec["schema"], f"{at}.schema")
    if "strict" in spec:
        out["strict"] = _boolean(ctx, spec["strict"], f"{at}.strict")
    return {"type": "json_schema", "json_schema": out}


# -- JSON Schema, keyword by keyword -----------------------------------------------------------------

_S_TEXT = frozenset(
    {"description", "title", "$comment", "pattern", "$ref", "$dynamicRef", "$id", "$anchor", "$dynamicAnchor",
     "$schema", "contentEncoding", "contentMediaType"}
)  # fmt: skip
_S_KEYWORD = frozenset({"format"})
_S_SCHEMA = frozenset(
    {"additionalProperties", "not", "contains", "propertyNames", "if", "then", "else", "unevaluatedProperties",
     "unevaluatedItems", "additionalItems"}
)  # fmt: skip
_S_SCHEMAS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_S_MAP = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_S_NUMBER = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
_S_COUNT = frozenset(
    {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains", "maxContains"}
)  # fmt: skip
_S_BOOL = frozenset({"uniqueItems", "nullable", "readOnly", "writeOnly", "deprecated"})
_S_VALUE = frozenset({"const", "default"})
_S_VALUES = frozenset({"enum", "examples"})
_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


class _Budget:
    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes = 0


def _schema_root(ctx: InputContext, value: object, where: str) -> Any:
    return _schema(ctx, value, where, 0, _Budget())


def _schema(ctx: InputContext, node: object, where: str, depth: int, budget: _Budget) -> Any:
    budget.nodes += 1
    if depth > MAX_SCHEMA_DEPTH or budget.nodes > MAX_SCHEMA_NODES:
        raise bad_request(
            f"'{where}': the schema is over warded's bounds ({MAX_SCHEMA_DEPTH} levels, {MAX_SCHEMA_NODES} nodes)",
            "schema_too_large",
        )
    if isinstance(node, bool):
        return node
    if not isinstance(node, dict):
        raise bad_request(f"'{where}' must be a JSON Schema object", "invalid_request")
    out: dict[str, Any] = {}
    for key, value in node.items():
        at = f"{where}.{str(key)[:64]}"
        if value is None and key not in _S_VALUE:
            continue
        if key in _S_TEXT:
            out[key] = guard_text(ctx, value, at, "tool schema text")
        elif key in _S_KEYWORD:
            out[key] = keyword(value, at)
        elif key == "type":
            out[key] = _schema_type(value, at)
        elif key in _S_SCHEMA:
            out[key] = _schema(ctx, value, at, depth + 1, budget)
        elif key == "items":
            out[key] = (
                [_schema(ctx, v, f"{at}[{i}]", depth + 1, budget) for i, v in enumerate(value)]
                if isinstance(value, list)
                else _schema(ctx, value, at, depth + 1, budget)
            )
        elif key in _S_SCHEMAS:
            if not isinstance(value, list):
                raise bad_request(f"'{at}' must be an array of schemas", "invalid_request")
            out[key] = [_schema(ctx, v, f"{at}[{i}]", depth + 1, budget) for i, v in enumerate(value)]
        elif key in _S_MAP:
            out[key] = {
                _name(ctx, name, at, budget): _schema(ctx, sub, f"{at}.{name[:64]}", depth + 1, budget)
                for name, sub in _object(value, at).items()
            }
        elif key == "required":
            out[key] = [_name(ctx, name, at, budget) for name in _array(value, at)]
        elif key == "dependentRequired":
            out[key] = {
                _name(ctx, name, at, budget): [_name(ctx, n, at, budget) for n in _array(names, f"{at}.{name[:64]}")]
                for name, names in _object(value, at).items()
            }
        elif key == "discriminator":
            out[key] = _discriminator(ctx, value, at, budget)
        elif key in _S_NUMBER:
            out[key] = value if isinstance(value, bool) and key.startswith("exclusive") else _number(ctx, value, at)
        elif key in _S_COUNT:
            out[key] = _integer(0, _INT64 - 1)(ctx, value, at)
        elif key in _S_BOOL:
            out[key] = _boolean(ctx, value, at)
        elif key in _S_VALUE:
            out[key] = _literal(ctx, value, at, budget)
        elif key in _S_VALUES:
            out[key] = [_literal(ctx, v, f"{at}[{i}]", budget) for i, v in enumerate(_array(value, at))]
        else:
            raise bad_request(f"'{where}': unsupported JSON Schema keyword {str(key)[:64]!r}", "unsupported_parameter")
    return out


def _schema_type(value: object, where: str) -> str | list[str]:
    if isinstance(value, str) and value in _TYPES:
        return value
    if isinstance(value, list) and value and all(isinstance(t, str) and t in _TYPES for t in value):
        return [str(t) for t in value]
    raise bad_request(f"'{where}' must name JSON Schema types", "invalid_request")


def _name(ctx: InputContext, name: object, where: str, budget: _Budget) -> str:
    budget.nodes += 1
    return guard_text(ctx, string(name, f"{where} name", 1024), f"{where} name", "tool schema name")


def _discriminator(ctx: InputContext, value: object, where: str, budget: _Budget) -> dict[str, Any]:
    disc = fields(value, where, frozenset({"propertyName", "mapping"}), frozenset({"propertyName"}))
    out: dict[str, Any] = {"propertyName": _name(ctx, disc["propertyName"], f"{where}.propertyName", budget)}
    if "mapping" in disc:
        out["mapping"] = {
            _name(ctx, k, f"{where}.mapping", budget): _name(ctx, v, f"{where}.mapping.{k[:64]}", budget)
            for k, v in _object(disc["mapping"], f"{where}.mapping").items()
        }
    return out


def _literal(ctx: InputContext, value: object, where: str, budget: _Budget) -> Any:
    """A schema's literal value (``const``, ``default``, an ``enum`` or ``examples`` item): any JSON, read
    whole by the shared walker. Its strings are text; an object key the guard would have to change (a
    finding it redacts or masks) is refused, since a key cannot be rewritten without changing the value."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _number(ctx, value, where)
    if isinstance(value, str):
        return guard_text(ctx, value, where, "tool schema value")
    limits = Limits(max_depth=MAX_SCHEMA_DEPTH, max_items=MAX_SCHEMA_NODES, max_chars=1 << 22)
    read = walk(value, limits, where)
    budget.nodes += read.items
    if read.overflow is not None or budget.nodes > MAX_SCHEMA_NODES:
        bound = read.overflow.message if read.overflow is not None else f"more than {MAX_SCHEMA_NODES} nodes"
        raise bad_request(f"'{where}': the schema is over warded's bounds: {bound}", "schema_too_large")
    for text in read.texts:
        if text.key and guard_text(ctx, text.text, text.path, "tool schema value") != text.text:
            raise bad_request(f"'{text.path}': an object key in a schema value carries text warded must change",
                              "input_blocked")  # fmt: skip
    return map_texts(value, lambda i, t: guard_text(ctx, t, f"{where} (text {i})", "tool schema value"), limits)


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"'{where}' must be an object", "invalid_request")
    return value


def _array(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad_request(f"'{where}' must be an array", "invalid_request")
    return value


_TOP: Mapping[str, Handler] = {
    "model": _model,
    "messages": _messages,
    "stream": _boolean,
    "stream_options": _stream_options,
    "temperature": _number,
    "top_p": _number,
    "frequency_penalty": _number,
    "presence_penalty": _number,
    "n": _integer(1, MAX_CHOICES),
    "max_tokens": _integer(1, _INT64 - 1),
    "max_completion_tokens": _integer(1, _INT64 - 1),
    "seed": _integer(-_INT64, _INT64 - 1),
    "logprobs": _boolean,
    "top_logprobs": _integer(0, 20),
    "logit_bias": _logit_bias,
    "stop": _stop,
    "tools": _tools,
    "tool_choice": _tool_choice,
    "parallel_tool_calls": _boolean,
    "response_format": _response_format,
    "prediction": _prediction,
    "metadata": _metadata,
    "user": _text("user field"),
    "safety_identifier": _text("safety identifier"),
    "prompt_cache_key": _text("prompt cache key"),
    "store": _boolean,
    "service_tier": _keyword,
    "reasoning_effort": _keyword,
    "verbosity": _keyword,
    "prompt_cache_retention": _keyword,
    "prompt_cache_options": _prompt_cache_options,
    "modalities": _modalities,
    "moderation": _moderation,
}
#: Checked afresh each time: messages have their own per-message cache; scalars cost nothing.
_UNCACHED = frozenset(
    {"model", "messages", "stream", "temperature", "top_p", "frequency_penalty", "presence_penalty", "n", "max_tokens",
     "max_completion_tokens", "seed", "logprobs", "top_logprobs", "parallel_tool_calls", "store", "service_tier",
     "reasoning_effort", "verbosity", "prompt_cache_retention"}
)  # fmt: skip
