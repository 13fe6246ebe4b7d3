"""The ``pattern`` family: RE2 full match, length cap before matching, invalid patterns refused at load."""

from __future__ import annotations

from typing import Any

import pytest

from warded.policy.constraints import PATTERN_MAX_INPUT, ArgChecker, ArgSpec, compile_arg


def checker(spec: dict[str, Any], tool: str = "send_email", arg: str = "subject") -> ArgChecker:
    return compile_arg(tool, arg, ArgSpec.model_validate(spec))


SUBJECT = {"pattern": "[A-Za-z0-9 ,.!?-]{1,80}"}

CASES = [
    (SUBJECT, "plain", "Hello, world!", True),
    (SUBJECT, "prefix match is not enough", "Hello; rm -rf /", False),
    (SUBJECT, "suffix match is not enough", "$(id) Hello", False),
    (SUBJECT, "newline at the end", "Hello\n", False),
    (SUBJECT, "empty", "", False),
    (SUBJECT, "too long for the pattern", "a" * 81, False),
    (SUBJECT, "unicode look-alike", "Ηello", False),
    (SUBJECT, "not a string", 42, False),
    (SUBJECT, "lone surrogate", "ab\udc00", False),
    ({"pattern": "a|b"}, "alternation anchored as a whole", "ab", False),
    ({"pattern": "a|b"}, "alternation", "b", True),
    ({"pattern": "(a+)+$"}, "catastrophic in backtracking engines", "a" * 5000 + "!", False),
    ({"pattern": "[^/]+"}, "unicode passes a negated class", "héllo", True),
]


@pytest.mark.parametrize(("spec", "case", "value", "ok"), CASES, ids=[c[1] for c in CASES])
def test_pattern_cases(spec: dict[str, Any], case: str, value: object, ok: bool) -> None:
    violations = checker(spec).check(value)
    if ok:
        assert violations == [], case
    else:
        assert [v.rule_id for v in violations] == ["arg.send_email.subject.pattern"], case


def test_max_length_is_checked_before_matching() -> None:
    check = checker({"type": "string", "max_length": 10, "pattern": ".*"}).check
    assert check("a" * 10) == []
    assert [v.rule_id for v in check("a" * 11)] == ["arg.send_email.subject.max_length"]


def test_default_input_cap() -> None:
    check = checker({"pattern": ".*"}).check
    assert check("a" * PATTERN_MAX_INPUT) == []
    [violation] = check("a" * (PATTERN_MAX_INPUT + 1))
    assert "longer than" in violation.message


def test_elements_of_a_list() -> None:
    check = checker({"type": "array", "pattern": "[a-z]+"}).check
    assert check(["abc", "def"]) == []
    assert check(["abc", "DEF"]) != []
    assert check([]) == []


def test_secret_values_are_not_echoed() -> None:
    [violation] = checker(SUBJECT | {"secret": True}).check("hunter2; DROP")
    assert "hunter2" not in violation.message


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [
        ("(a)\\1", "not a valid RE2"),  # backreference: needs backtracking
        ("(?=a)a", "not a valid RE2"),  # lookahead
        ("[a-", "not a valid RE2"),
        ("a{1001}", "not a valid RE2"),
        ("", "empty"),
    ],
)
def test_unusable_patterns(pattern: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        checker({"pattern": pattern})
