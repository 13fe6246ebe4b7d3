"""The ``values`` family: exact membership, typed (``True`` is not ``1``), optional case folding."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from warded.policy.constraints import ArgChecker, ArgSpec, compile_arg


def checker(spec: dict[str, Any], tool: str = "pay", arg: str = "account") -> ArgChecker:
    return compile_arg(tool, arg, ArgSpec.model_validate(spec))


SENSITIVE = {"values": {"allow": ["ACC-1", "ACC-2", 7], "deny": ["ACC-2"]}}
INSENSITIVE = {"values": {"allow": ["ACC-1", "Kelvin"], "deny": ["drop"], "case_sensitive": False}}

CASES = [
    (SENSITIVE, "listed", "ACC-1", True),
    (SENSITIVE, "listed integer", 7, True),
    (SENSITIVE, "other case", "acc-1", False),
    (SENSITIVE, "trailing space", "ACC-1 ", False),
    (SENSITIVE, "prefix", "ACC-", False),
    (SENSITIVE, "denied beats allowed", "ACC-2", False),
    (SENSITIVE, "not listed", "ACC-3", False),
    (SENSITIVE, "integer as a string", "7", False),
    (SENSITIVE, "float equal to a listed integer", 7.0, False),
    (SENSITIVE, "True is not 1", True, False),
    (SENSITIVE, "None", None, False),
    (SENSITIVE, "full-width look-alike", "ＡＣＣ-1", False),
    (INSENSITIVE, "case folded", "acc-1", True),
    (INSENSITIVE, "upper case", "KELVIN", True),
    (INSENSITIVE, "Kelvin sign folds to k", "\u212aelvin", True),
    (INSENSITIVE, "denied, other case", "DROP", False),
    (INSENSITIVE, "denied, full-width", "ＤＲＯＰ", False),
    (INSENSITIVE, "not listed", "acc-2", False),
]


@pytest.mark.parametrize(("spec", "case", "value", "ok"), CASES, ids=[c[1] for c in CASES])
def test_values_cases(spec: dict[str, Any], case: str, value: object, ok: bool) -> None:
    violations = checker(spec).check(value)
    if ok:
        assert violations == [], case
    else:
        assert [v.rule_id for v in violations] == ["arg.pay.account.values"], case


def test_deny_only() -> None:
    check = checker({"values": {"deny": ["root", 0]}}).check
    assert check("alice") == [] and check(5) == []
    assert check("root") != [] and check(0) != []
    assert check(False) != []  # not a string or integer at all


def test_lists() -> None:
    check = checker(SENSITIVE).check
    assert check(["ACC-1", 7]) == []
    assert check([]) == []
    assert check(["ACC-1", "ACC-9"]) != []


def test_message_and_secret() -> None:
    [violation] = checker(SENSITIVE).check("ACC-9")
    assert "'account'" in violation.message and "ACC-9" in violation.message
    [violation] = checker(SENSITIVE | {"secret": True}).check("ACC-9")
    assert "ACC-9" not in violation.message


@pytest.mark.parametrize(
    ("values", "needle"),
    [({"allow": []}, "empty list"), ({}, "constrains nothing"), ({"deny": []}, "constrains nothing")],
)
def test_unusable_specs(values: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        checker({"values": values})


def test_booleans_are_not_accepted_as_entries() -> None:
    with pytest.raises(ValidationError):
        ArgSpec.model_validate({"values": {"allow": [True]}})
