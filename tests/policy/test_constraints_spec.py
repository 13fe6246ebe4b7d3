"""ArgSpec schema, compile_arg refusals, shape checks (type, max_length), rule ids and fail-closed checks."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import ValidationError

from warded.policy._constraints._base import FamilyCheck
from warded.policy.constraints import (
    ArgChecker,
    ArgSpec,
    NumberSpec,
    PathSpec,
    Violation,
    compile_arg,
)


def checker(spec: dict[str, Any], tool: str = "t", arg: str = "a") -> ArgChecker:
    return compile_arg(tool, arg, ArgSpec.model_validate(spec))


def test_full_example_from_the_brief_loads() -> None:
    args: dict[str, dict[str, Any]] = {
        "path": {
            "type": "string",
            "required": True,
            "max_length": 4096,
            "path": {"roots": ["/srv/mail"], "globs": ["**/*.eml"], "deny_globs": ["**/.ssh/**"]},
        },
        "to": {"email": {"allow": ["*@example.com", "bob@partner.org"], "deny": ["ceo@example.com"]}},
        "url": {"domain": {"allow": ["example.com", "*.example.org"], "deny": [], "schemes": ["https"]}},
        "account": {"values": {"allow": ["ACC-1", "ACC-2"], "deny": [], "case_sensitive": True}},
        "amount": {"number": {"min": 0, "max": 1000, "integer": False}},
        "subject": {"pattern": "[A-Za-z0-9 ,.!?-]{1,80}"},
        "query": {"sql": {"dialect": "sqlite", "read_only": True, "tables": ["orders", "customers"]}},
    }
    checkers = {name: checker(spec, "tool", name) for name, spec in args.items()}
    assert checkers["path"].required is True
    assert checkers["to"].required is False
    assert all(not c.secret for c in checkers.values())
    spec = ArgSpec.model_validate(args["path"])
    assert spec.path == PathSpec(roots=("/srv/mail",), globs=("**/*.eml",), deny_globs=("**/.ssh/**",))


@pytest.mark.parametrize(
    "spec",
    [
        {"typo": 1},
        {"type": "str"},
        {"required": "yes"},
        {"max_length": "10"},
        {"max_length": -1},
        {"max_length": 1.5},
        {"path": {"roots": ["/x"], "glob": ["*"]}},
        {"path": {"globs": ["*"]}},
        {"path": {"roots": "/x"}},
        {"email": {"allow": "*@x.com"}},
        {"number": {"min": "0"}},
        {"values": {"allow": [1.5]}},
        {"sql": {"read_only": 1}},
        {"pattern": 5},
    ],
)
def test_schema_is_strict_and_closed(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ArgSpec.model_validate(spec)


def test_models_are_frozen() -> None:
    spec = ArgSpec.model_validate({"number": {"min": 1}})
    with pytest.raises(ValidationError):
        spec.required = True
    with pytest.raises(ValidationError):
        spec.number.min = 5  # type: ignore[union-attr]
    assert NumberSpec(min=1) == NumberSpec(min=1)


def test_checker_and_violation_are_frozen() -> None:
    c = checker({"type": "string"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.required = True  # type: ignore[misc]
    v = Violation("r", "m")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.rule_id = "x"  # type: ignore[misc]


def test_attributes_and_rule_ids() -> None:
    c = checker({"type": "string", "required": True, "secret": True, "pattern": "x"}, "send_email", "to")
    assert (c.tool, c.arg, c.required, c.secret) == ("send_email", "to", True, True)
    assert [v.rule_id for v in c.check(5)] == ["arg.send_email.to.type"]
    assert [v.rule_id for v in c.check("y")] == ["arg.send_email.to.pattern"]


TYPES = [
    ("string", "x", True),
    ("string", "", True),
    ("string", 5, False),
    ("string", None, False),
    ("string", b"x", False),
    ("array", [], True),
    ("array", [1, "x"], True),
    ("array", (1,), True),
    ("array", "abc", False),
    ("array", {"a": 1}, False),
    ("object", {}, True),
    ("object", {"k": [1]}, True),
    ("object", [], False),
    ("object", "{}", False),
    ("any", None, True),
    ("any", object(), True),
]


@pytest.mark.parametrize(("type_", "value", "ok"), TYPES)
def test_types(type_: str, value: object, ok: bool) -> None:
    violations = checker({"type": type_}).check(value)
    assert (violations == []) is ok
    if not ok:
        [violation] = violations
        assert violation.rule_id == "arg.t.a.type"
        assert "'a'" in violation.message


MAX_LENGTH = [
    ({"type": "string", "max_length": 3}, "abc", True),
    ({"type": "string", "max_length": 3}, "abcd", False),
    ({"type": "string", "max_length": 0}, "", True),
    ({"type": "array", "max_length": 2}, [1, 2], True),
    ({"type": "array", "max_length": 2}, [1, 2, 3], False),
    ({"max_length": 2}, "abc", False),
    ({"max_length": 2}, 12345, True),  # not a sized value: type any has no length to check
]


@pytest.mark.parametrize(("spec", "value", "ok"), MAX_LENGTH)
def test_max_length(spec: dict[str, Any], value: object, ok: bool) -> None:
    violations = checker(spec).check(value)
    assert (violations == []) is ok
    if not ok:
        assert [v.rule_id for v in violations] == ["arg.t.a.max_length"]


def test_shape_failure_stops_before_families() -> None:
    c = checker({"type": "array", "max_length": 1, "email": {"allow": ["*@x.com"]}})
    assert [v.rule_id for v in c.check(["bad", "worse"])] == ["arg.t.a.max_length"]


def test_several_families_all_report() -> None:
    c = checker({"values": {"deny": ["root@x.com"]}, "email": {"allow": ["*@y.com"]}})
    assert [v.rule_id for v in c.check("root@x.com")] == ["arg.t.a.email", "arg.t.a.values"]


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"type": "integer", "email": {"allow": ["*@x.com"]}}, "email constraint cannot apply"),
        ({"type": "string", "number": {"min": 1}}, "number constraint cannot apply"),
        ({"type": "boolean", "values": {"allow": ["x"]}}, "values constraint cannot apply"),
        ({"type": "integer", "max_length": 3}, "max_length constraint cannot apply"),
        ({"type": "object", "pattern": "x"}, "pattern constraint cannot apply"),
        ({"type": "number", "path": {"roots": ["/x"]}}, "path constraint cannot apply"),
    ],
)
def test_constraints_must_fit_the_type(spec: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        checker(spec)


def test_empty_names_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        compile_arg("", "a", ArgSpec())


class _Boom(FamilyCheck):
    __slots__ = ()
    family = "boom"

    def check(self, value: object) -> str | None:
        raise RuntimeError("bug")


def test_a_family_that_raises_denies() -> None:
    c = ArgChecker(
        tool="t",
        arg="a",
        required=False,
        secret=False,
        _type=None,
        _max_length=None,
        _families=(("arg.t.a.boom", _Boom()),),
        _prefix="arg.t.a.",
    )
    [violation] = c.check("x")
    assert violation.rule_id == "arg.t.a.boom"
    assert "internal error, denied" in violation.message
    [violation] = c.check(["x"])
    assert "internal error, denied" in violation.message


class _HostileList(list[object]):
    def __len__(self) -> int:
        raise RuntimeError("no")


class _HostileStr(str):
    __slots__ = ()

    def lower(self) -> str:
        raise RuntimeError("no")

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


def test_hostile_objects_never_raise() -> None:
    c = checker({"max_length": 3})
    [violation] = c.check(_HostileList())
    assert "internal error, denied" in violation.message
    # A str subclass is copied to a plain str, so its overrides cannot influence the decision.
    values = checker({"values": {"allow": ["ok"]}})
    assert values.check(_HostileStr("evil")) != []
    assert values.check(_HostileStr("ok")) == []
    email = checker({"email": {"allow": ["*@x.com"]}})
    assert email.check(_HostileStr("a@evil.com")) != []


def test_messages_truncate_long_values() -> None:
    [violation] = checker({"values": {"allow": ["a"]}}).check("z" * 10_000)
    assert len(violation.message) < 200
    assert "..." in violation.message


def test_secret_never_echoed_by_any_family(tmp_path: Any) -> None:
    secret = "hunter2hunter2"
    specs: list[dict[str, Any]] = [
        {"values": {"allow": ["a"]}},
        {"pattern": "a"},
        {"email": {"allow": ["*@x.com"]}},
        {"domain": {"allow": ["x.com"]}},
        {"path": {"roots": [str(tmp_path)]}},
        {"sql": {"tables": ["t"]}},
        {"number": {"min": 1}},
        {"type": "integer"},
    ]
    for spec in specs:
        for value in [secret, f"/{secret}", f"{secret}@evil.com", f"SELECT * FROM {secret}", [secret]]:
            for violation in checker(spec | {"secret": True}).check(value):
                assert secret not in violation.message, (spec, value)
