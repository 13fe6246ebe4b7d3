"""The one strict JSON parser: every refusal carries its rule, every caller translates it."""

from __future__ import annotations

from typing import Any

import pytest

from warded import jsonio
from warded.errors import WardedError

REFUSED: dict[str, tuple[bytes | str, str, dict[str, Any]]] = {
    "not UTF-8": (b'{"a": "\xff"}', "json.encoding", {}),
    "truncated": (b'{"a":', "json.syntax", {}),
    "empty": (b"", "json.syntax", {}),
    "trailing garbage": (b"{} x", "json.syntax", {}),
    "duplicate key": (b'{"to": "ok@a.b", "to": "evil@x.y"}', "json.duplicate_key", {}),
    "duplicate key, nested": (b'{"a": [{"k": 1, "k": 2}]}', "json.duplicate_key", {}),
    "NaN": (b'{"x": NaN}', "json.constant", {}),
    "Infinity": (b"[Infinity]", "json.constant", {}),
    "-Infinity": (b"[-Infinity]", "json.constant", {}),
    "overflowing number": (b"[1e999]", "json.number_range", {}),
    "lone surrogate, value": (b'{"a": "\\ud800"}', "json.lone_surrogate", {}),
    "lone surrogate, key": (b'{"\\udfff": 1}', "json.lone_surrogate", {}),
    "lone surrogate, str input": ('["\ud800"]', "json.lone_surrogate", {}),
    "recursion": (b"[" * 100_000 + b"]" * 100_000, "json.too_deep", {}),
    "past max_depth": (b'{"a":' * 10 + b"1" + b"}" * 10, "json.too_deep", {"max_depth": 5}),
    "past max_members": (b'{"a": 1, "b": {"c": 2, "d": 3}}', "json.too_many_members", {"max_members": 3}),
    "huge integer": (b"[" + b"9" * 5000 + b"]", "json.syntax", {}),
}

ACCEPTED: dict[str, tuple[bytes | str, Any, dict[str, Any]]] = {
    "object": (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}, {}),
    "surrogate pair": (b'["\\ud83d\\ude00"]', ["\U0001f600"], {}),
    "escaped backslash before u": (b'["\\\\ud800"]', ["\\ud800"], {}),
    "str input": ('{"k": "v"}', {"k": "v"}, {}),
    "within max_depth": (b'{"a": {"b": 1}}', {"a": {"b": 1}}, {"max_depth": 5}),
    "at max_members": (b'{"a": 1, "b": {"c": 2}}', {"a": 1, "b": {"c": 2}}, {"max_members": 3}),
    "overflow left to the caller": (b"[1e999]", [float("inf")], {"refuse_overflow": False}),
    "surrogate left to the caller": (b'["\\ud800"]', ["\ud800"], {"refuse_lone_surrogates": False}),
}


@pytest.mark.parametrize(("data", "rule", "options"), REFUSED.values(), ids=REFUSED.keys())
def test_refused_with_its_rule(data: bytes | str, rule: str, options: dict[str, Any]) -> None:
    with pytest.raises(jsonio.JsonRefused) as info:
        jsonio.loads(data, **options)
    assert info.value.rule == rule
    assert str(info.value)


@pytest.mark.parametrize(("data", "expected", "options"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted(data: bytes | str, expected: Any, options: dict[str, Any]) -> None:
    assert jsonio.loads(data, **options) == expected


def test_duplicate_key_names_the_key() -> None:
    with pytest.raises(jsonio.JsonRefused) as info:
        jsonio.loads('{"to": 1, "to": 2}')
    assert info.value.subject == "to"


def test_refusal_is_a_warded_error() -> None:
    with pytest.raises(WardedError):
        jsonio.loads("NaN")
