"""Canonical JSON: one byte sequence per value; everything non-JSON is refused."""

from __future__ import annotations

import datetime
import json
import types
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warded.audit.canonical import MAX_DEPTH, canonical_json, canonical_str
from warded.errors import AuditError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": 2}, b'{"a":2,"b":1}'),
        ({"a": [1, 2.5, None, True, False]}, b'{"a":[1,2.5,null,true,false]}'),
        ({"é": "ü☃"}, '{"é":"ü☃"}'.encode()),
        ('line\nbreak\t"q"\\', b'"line\\nbreak\\t\\"q\\"\\\\"'),
        ("\x00", b'"\\u0000"'),
        (1, b"1"),
        (1.0, b"1.0"),
        (-0.0, b"-0.0"),
        (1e16, b"1e+16"),
        ((1, "x"), b'[1,"x"]'),
        ({"z": {"y": {}, "x": []}}, b'{"z":{"x":[],"y":{}}}'),
        ({"B": 1, "a": 2, "\u00e9": 3}, '{"B":1,"a":2,"é":3}'.encode()),
        (10**30, b"1000000000000000000000000000000"),
    ],
)
def test_encodes_canonically(value: object, expected: bytes) -> None:
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        {"x": float("-inf")},
        {1: "int key"},
        {None: "none key"},
        {True: "bool key"},
        {("a",): "tuple key"},
        b"bytes",
        {"x": {1, 2}},
        {"when": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)},
        {"amount": Decimal("1.5")},
        types.MappingProxyType({"a": 1}),
        object(),
        "lone \ud800 surrogate",
        {"key \udfff": 1},
        [10**5000],
    ],
)
def test_rejects_non_json(value: object) -> None:
    with pytest.raises(AuditError, match="canonical JSON"):
        canonical_json(value)


def test_rejects_cycles_and_deep_nesting() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(AuditError, match="nested deeper"):
        canonical_json(cyclic)
    deep: Any = 0
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(AuditError, match="nested deeper"):
        canonical_json(deep)
    shallow: Any = 0
    for _ in range(MAX_DEPTH):
        shallow = [shallow]
    assert canonical_json(shallow).count(b"[") == MAX_DEPTH


def test_insertion_order_does_not_matter() -> None:
    assert canonical_json({"a": 1, "b": {"c": 2, "d": 3}}) == canonical_json({"b": {"d": 3, "c": 2}, "a": 1})


def test_canonical_str_rejects_non_strings() -> None:
    with pytest.raises(AuditError, match="expected a string"):
        canonical_str(5)  # type: ignore[arg-type]


@given(JSON)
def test_round_trip_is_stable(value: object) -> None:
    encoded = canonical_json(value)
    assert canonical_json(json.loads(encoded)) == encoded
    reference = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert encoded == reference.encode("utf-8")


@given(st.text())
def test_canonical_str_matches_canonical_json(value: str) -> None:
    assert canonical_str(value) == canonical_json(value)
