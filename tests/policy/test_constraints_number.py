"""The ``number`` family and numeric ``type``s: bounds, integers, and what Python quietly treats as numbers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from warded.policy.constraints import ArgChecker, ArgSpec, compile_arg


def checker(spec: dict[str, Any], tool: str = "pay", arg: str = "amount") -> ArgChecker:
    return compile_arg(tool, arg, ArgSpec.model_validate(spec))


BOUNDED = {"number": {"min": 0, "max": 1000}}
INTEGER = {"number": {"min": 1, "max": 10, "integer": True}}
FLOAT_BOUNDS = {"number": {"min": -0.5, "max": 0.5}}

CASES = [
    (BOUNDED, "inside", 500, True),
    (BOUNDED, "min inclusive", 0, True),
    (BOUNDED, "max inclusive", 1000, True),
    (BOUNDED, "float inside", 999.99, True),
    (BOUNDED, "negative zero", -0.0, True),
    (BOUNDED, "below", -1, False),
    (BOUNDED, "just above", 1000.0001, False),
    (BOUNDED, "huge integer", 10**400, False),
    (BOUNDED, "NaN slips past comparisons", float("nan"), False),
    (BOUNDED, "infinity", float("inf"), False),
    (BOUNDED, "minus infinity", float("-inf"), False),
    (BOUNDED, "True is not 1", True, False),
    (BOUNDED, "False is not 0", False, False),
    (BOUNDED, "numeric string", "5", False),
    (BOUNDED, "None", None, False),
    (INTEGER, "integer", 5, True),
    (INTEGER, "integral float", 5.0, False),
    (INTEGER, "float", 5.5, False),
    (INTEGER, "bool", True, False),
    (INTEGER, "out of range", 11, False),
    (FLOAT_BOUNDS, "integer inside float bounds", 0, True),
    (FLOAT_BOUNDS, "outside float bounds", 1, False),
]


@pytest.mark.parametrize(("spec", "case", "value", "ok"), CASES, ids=[c[1] for c in CASES])
def test_number_cases(spec: dict[str, Any], case: str, value: object, ok: bool) -> None:
    violations = checker(spec).check(value)
    if ok:
        assert violations == [], case
    else:
        assert [v.rule_id for v in violations] == ["arg.pay.amount.number"], case


TYPE_CASES = [
    ("integer", 3, True),
    ("integer", -(10**30), True),
    ("integer", True, False),
    ("integer", 3.0, False),
    ("integer", "3", False),
    ("number", 3, True),
    ("number", 3.5, True),
    ("number", False, False),
    ("number", float("nan"), False),
    ("number", float("inf"), False),
    ("number", "3.5", False),
    ("boolean", True, True),
    ("boolean", 1, False),
    ("boolean", "true", False),
]


@pytest.mark.parametrize(("type_", "value", "ok"), TYPE_CASES)
def test_numeric_types(type_: str, value: object, ok: bool) -> None:
    violations = checker({"type": type_}).check(value)
    assert (violations == []) is ok
    if not ok:
        assert [v.rule_id for v in violations] == ["arg.pay.amount.type"]


def test_every_element_of_a_list() -> None:
    check = checker(BOUNDED | {"type": "array"}).check
    assert check([1, 2.5, 1000]) == []
    assert check([]) == []
    [violation] = check([1, 2000])
    assert "(element 1)" in violation.message and "2000" in violation.message


def test_huge_values_keep_messages_short() -> None:
    [violation] = checker(BOUNDED).check(10**5000)
    assert len(violation.message) < 200


@pytest.mark.parametrize(
    ("number", "needle"),
    [
        ({"min": 10, "max": 1}, "greater than"),
        ({}, "set min, max or integer"),
        ({"min": float("nan")}, "NaN"),
    ],
)
def test_unusable_specs(number: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        checker({"number": number})


def test_bool_bounds_are_schema_errors() -> None:
    with pytest.raises(ValidationError):
        ArgSpec.model_validate({"number": {"min": True}})
