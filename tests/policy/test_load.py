"""Loading warded.yaml: errors carry file and line, and a policy with any error is refused whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from warded.errors import PolicyError
from warded.policy.compile import load_policy

Write = Callable[[str], Path]

GOOD = """\
version: 1
agents:
  a:
    tools: [t]
tools:
  t:
    tier: read
"""


def problems(write: Write, text: str) -> list[str]:
    path = write(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return [str(p) for p in info.value.problems]


def test_good_policy_loads(write_policy: Write) -> None:
    policy = load_policy(write_policy(GOOD))
    assert set(policy.agents) == {"a"}
    assert len(policy.digest) == 64
    assert policy.warnings == ()


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (GOOD + "surprise: 1\n", 8, "unknown key"),
        (GOOD.replace("tier: read", "tier: reed"), 7, "tier"),
        (GOOD.replace("tier: read", "tier: read\n    approval: maybe"), 8, "approval"),
        (GOOD.replace("tools: [t]", "tools: [t, nope]"), 4, "unknown tool 'nope'"),
        (GOOD.replace("tools: [t]", "tools: [t, t]"), 4, "listed twice"),
        (GOOD + "tools:\n  u: {tier: read}\n", 8, "duplicate key 'tools'"),
        (GOOD.replace("version: 1", "version: 2"), 1, "version"),
        (GOOD + "limits:\n  - {id: x, max_calls: 0, window: 1m}\n", 9, "max_calls"),
        (GOOD + "limits:\n  - {id: x, max_calls: 3, window: soon}\n", 9, "bad duration"),
        (
            GOOD + "limits:\n  - {id: x, max_calls: 3, window: 1m}\n  - {id: x, max_calls: 3, window: 1m}\n",
            10,
            "used twice",
        ),
        (GOOD + "agents2: {}\n", 8, "unknown key"),
        (GOOD.replace("    tier: read", "    tier: read\n    args:\n      p: {pattern: '(unclosed'}"), 9, "pattern"),
        (
            GOOD.replace("    tier: read", "    tier: read\n    args:\n      q: {sql: {dialect: nosuchsql}}"),
            9,
            "dialect",
        ),
        (
            GOOD
            + "cedar: |\n  permit(principal, action, resource);\n\n  forbid(principal, action, resource) when { context.x > };\n",
            11,
            "Cedar",
        ),
        (GOOD + "cedar_files: [missing.cedar]\n", 8, "cannot read Cedar file"),
        (
            GOOD + "budgets:\n  - {id: b, tools: [t], argument: amount, max_total: 10, window: 1d}\n",
            9,
            "declares no argument",
        ),
        ("version: 1\nagents: [unclosed\n", 3, "YAML syntax error"),
        ("", 1, "empty"),
        ("- just\n- a list\n", 1, "mapping"),
        ("version: 1\nagents: !!python/object:os.system {}\n", 2, "YAML"),
        ("version: 1\nbase: &b {tools: [t]}\nagents:\n  a:\n    <<: *b\n", 5, "merge keys"),
        ("version: 1\nbase: &b {tools: [t]}\nagents:\n  a:\n    <<: *b\n", 2, "anchors"),
        (GOOD + "x: *nothing\n", 8, "aliases"),
        (GOOD.replace("tier: read", "tier: !!str read"), 7, "tags"),
        (GOOD + "x: " + "[" * 100 + "]" * 100 + "\n", 8, "nesting deeper"),
        (GOOD.replace("version: 1", "version: " + "9" * 200), 1, "number literal"),
    ],
)
def test_problems_name_file_and_line(write_policy: Write, text: str, line: int, needle: str) -> None:
    found = problems(write_policy, text)
    assert any(needle in p for p in found), found
    assert any(f"warded.yaml:{line}:" in p for p in found), found


def test_every_problem_is_reported_not_just_the_first(write_policy: Write) -> None:
    found = problems(write_policy, GOOD.replace("tools: [t]", "tools: [nope1, nope2]"))
    assert len(found) == 2


def test_non_utf8_and_nul_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"version: 1\nagents: {\xff: 1}\n")
    with pytest.raises(PolicyError, match="refused") as info:
        load_policy(bad)
    assert "UTF-8" in str(info.value.problems[0])
    bad.write_bytes(b"version: 1\n\x00\n")
    with pytest.raises(PolicyError) as info:
        load_policy(bad)
    assert "NUL" in str(info.value.problems[0])


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="refused"):
        load_policy(tmp_path / "nope.yaml")


def test_cedar_file_is_loaded_and_bad_cedar_file_names_its_line(write_policy: Write, tmp_path: Path) -> None:
    (tmp_path / "extra.cedar").write_text(
        '@id("x")\nforbid(principal, action, resource == Tool::"t");\n\npermit(principal, action,);\n'
    )
    found = problems(write_policy, GOOD + "cedar_files: [extra.cedar]\n")
    assert any("extra.cedar:4:" in p for p in found), found


def test_cedar_rule_id_may_not_shadow_a_generated_one(write_policy: Write) -> None:
    found = problems(write_policy, GOOD + 'cedar: |\n  @id("grant.a.t")\n  forbid(principal, action, resource);\n')
    assert any("used twice" in p for p in found), found


def test_diagnostics_are_human_readable(write_policy: Write) -> None:
    path = write_policy(GOOD + "surprise: 1\n")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    text = info.value.diagnostics()
    assert "gateway will not start" in text
    assert f"{path}:8:1: surprise: unknown key" in text
