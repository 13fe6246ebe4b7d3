"""What the audit log keeps of a call: bounded, JSON-safe copies, with the decision's obligations honoured.

A decision obliges the audit to hash the arguments the policy marks ``secret`` (``hash_in_audit``) and
to keep out every text the policy says to hide (``redact_in_audit``: the spans of secret and PII findings,
findings answered with ``redact``, the values of secret arguments). The gateway collects those texts as
``{text: rule_id}``; the records built here replace each by its marker (:func:`warded.audit.redact.scrub`)
before anything is cut to size, so no cut can leave part of one. Pure: values in, values out.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any, cast

from warded.audit.redact import scrub
from warded.audit.secrets import hash_secret
from warded.core.types import Action, Decision, Tier
from warded.core.walk import Text

__all__ = [
    "MASKED_ARGUMENT",
    "MAX_AUDIT_STRING",
    "audit_action",
    "audit_value",
    "decision_record",
    "hide_spans",
    "result_record",
]

MAX_AUDIT_STRING = 4096
"""Longer text is kept as its length, SHA-256 and first 256 characters."""

MASKED_ARGUMENT = "[REDACTED:secret argument]"
"""What a taint explanation's quoted value becomes when the argument is secret."""

_MAX_DEPTH = 32
_MAX_ITEMS = 256


def audit_value(value: object, depth: int = 0) -> object:
    """A JSON-safe, bounded copy of an argument for the audit log (large text is hashed)."""
    if depth > _MAX_DEPTH:
        return {"$omitted": "too deep"}
    kind = type(value)
    if kind is str:
        text = cast(str, value)
        if len(text) <= MAX_AUDIT_STRING and text.isascii():
            return text  # the common case: short ASCII text needs no escaping or truncation
    if value is None or kind is bool or kind is int:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        safe = value.encode("utf-8", "backslashreplace").decode("utf-8")
        if len(safe) > MAX_AUDIT_STRING:
            return {
                "$truncated": True,
                "length": len(safe),
                "sha256": hashlib.sha256(safe.encode("utf-8")).hexdigest(),
                "head": safe[:256],
            }
        return safe
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {str(k): audit_value(v, depth + 1) for k, v in items[:_MAX_ITEMS]}
        if len(items) > _MAX_ITEMS:
            out["$omitted_keys"] = len(items) - _MAX_ITEMS
        return out
    if isinstance(value, list | tuple):
        seq = [audit_value(v, depth + 1) for v in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            seq.append({"$omitted_items": len(value) - _MAX_ITEMS})
        return seq
    if isinstance(value, bytes | bytearray):
        return {"$bytes": len(value), "sha256": hashlib.sha256(bytes(value)).hexdigest()}
    return {"$type": type(value).__name__}


def hide_spans(marked: Iterable[tuple[Text, tuple[int, int] | None, str]], out: dict[str, str]) -> None:
    """Add to ``out`` the plaintext to hide of each ``(text, span, rule_id)``: the span, or without one the
    whole text. Places that are not texts (index below 0, such as where a walk stopped) hold nothing."""
    for item, span, rule_id in marked:
        if item.index < 0:
            continue
        text = item.text
        if span is None:
            if text:
                out.setdefault(text, rule_id)
            continue
        start, end = max(0, span[0]), min(len(text), span[1])
        if start < end:
            out.setdefault(text[start:end], rule_id)


def audit_action(
    action: object, secret_args: frozenset[str], hidden: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The action as the audit records it: secret-marked arguments as salted hashes, every ``hidden`` text
    replaced by its marker before anything is cut to size (so no cut can leave part of one)."""
    if not isinstance(action, Action):
        return {"$invalid": type(action).__name__}
    hidden = hidden or {}
    args: dict[str, Any] = {}
    arguments = action.arguments if isinstance(action.arguments, Mapping) else {}
    for key, value in list(arguments.items())[:_MAX_ITEMS]:
        name = str(audit_value(scrub(str(key), hidden)))
        if key in secret_args:
            try:
                args[name] = hash_secret(value)
            except Exception:
                args[name] = {"$secret": "unhashable"}
        else:
            args[name] = audit_value(scrub(value, hidden))
    return {
        "agent_id": audit_value(action.agent_id),
        "session_id": audit_value(action.session_id),
        "tool": audit_value(action.tool),
        "tier": action.tier.value if isinstance(action.tier, Tier) else None,
        "labels": sorted(str(audit_value(label)) for label in action.labels),
        "arguments": args,
    }


def decision_record(
    action: object,
    decision: Decision,
    secret_args: frozenset[str],
    hidden: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of a ``decision`` entry: the action, the decision and ``extra`` (approval, taint), with
    nothing the policy hides in any of them, and no secret argument's value quoted by a taint explanation."""
    body: dict[str, Any] = {"action": audit_action(action, secret_args, hidden), "decision": decision.to_json()}
    body.update(extra or {})
    body = scrub(body, hidden)
    for item in body.get("taint", ()):
        if isinstance(item, dict) and item.get("argument") in secret_args:
            item["value"] = MASKED_ARGUMENT
    return body


def result_record(
    action: object,
    response: str | None,
    findings: list[dict[str, Any]],
    secret_args: frozenset[str],
    hidden: Mapping[str, str],
    *,
    refused: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The body of a ``result_scanned`` entry: the action, the response and the findings on the result
    (and, for a result refused unread, why), with nothing the policy hides in any of them."""
    body: dict[str, Any] = {
        "action": audit_action(action, secret_args, hidden),
        "response": response,
        "findings": findings,
    }
    if refused is not None:
        body["refused"] = dict(refused)
    return cast(dict[str, Any], scrub(body, hidden))
