"""Bypass classes in the policy file itself (issue 8, items 10 and 13).

Item 10: a hostile or broken ``warded.yaml`` must end in a ``file:line:col`` refusal, never a traceback or
an unbounded allocation: YAML anchors and aliases (a 511-byte alias bomb took ``warded check`` to 3 GB),
explicit tags, deep nesting (RecursionError) and huge number literals (Python's int conversion limit).

Item 13: a raw Cedar ``permit`` whose scope reaches agent/tool pairs the YAML does not grant is valid, but
widens the grants silently: ``warded check`` warns about it at its line, and the gateway records it.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from warded import ops
from warded.errors import PolicyError
from warded.gateway.gateway import Gateway

GOOD = """\
version: 1
agents:
  a: {tools: [t]}
tools:
  t: {tier: read}
"""
LOCATED = re.compile(r"^.+warded\.yaml:(\d+):(\d+): ")


def _bomb(levels: int = 10, width: int = 9) -> str:
    """Billion laughs: each level refers ``width`` times to the one before (width**levels strings)."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "version: 1\n" + "\n".join(lines) + "\n"


# (policy text, line of the first problem, words the first problem carries)
HOSTILE = [
    pytest.param(_bomb(), 2, "anchors", id="alias-bomb"),
    pytest.param(GOOD + "x: &a 1\ny: *a\n", 6, "anchors", id="anchor-and-alias"),
    pytest.param(GOOD + "x: &a 1\n", 6, "anchors", id="anchor-only"),
    pytest.param(GOOD + "y: *a\n", 6, "aliases", id="single-undefined-alias"),
    pytest.param(GOOD.replace("[t]", "&ts [t]") + "  b: {tools: *ts}\n", 3, "anchors", id="alias-as-tool-list"),
    pytest.param(GOOD + "x: " + "[" * 10_000 + "]" * 10_000 + "\n", 6, "nesting", id="deep-flow-nesting"),
    pytest.param(GOOD + "x: " + "[" * 10_000 + "\n", 6, "nesting", id="deep-unclosed-flow-nesting"),
    pytest.param(GOOD + "x: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n", 6, "nesting", id="deep-flow-mappings"),
    pytest.param(
        GOOD + "x:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 1_500)) + " " * 1_500 + "v\n",
        70,
        "nesting",
        id="deep-block-mappings",
    ),
    pytest.param(
        GOOD + "x:\n" + "".join(" " * i + "-\n" for i in range(1, 1_500)) + " " * 1_500 + "v\n",
        70,
        "nesting",
        id="deep-block-sequences",
    ),
    pytest.param(GOOD.replace("version: 1", "version: " + "1" * 5_000), 1, "number literal", id="huge-int"),
    pytest.param(
        GOOD + "limits:\n  - {id: l, max_calls: " + "9" * 5_000 + ", window: 1m}\n", 7, "number", id="huge-int-deep"
    ),
    pytest.param(GOOD.replace("version: 1", "version: 0x" + "f" * 5_000), 1, "number literal", id="huge-hex-int"),
    pytest.param(GOOD.replace("version: 1", "version: " + "1" * 5_000 + ".5"), 1, "number literal", id="huge-float"),
    pytest.param(
        GOOD.replace("version: 1", "version: 0." + "0" * 300 + "1e-5"), 1, "number literal", id="long-fraction-float"
    ),
    pytest.param(GOOD.replace("version: 1", "version: !!int 'abc'"), 1, "tags", id="tag-int-on-text"),
    pytest.param(GOOD.replace("version: 1", "version: !!float 'abc'"), 1, "tags", id="tag-float-on-text"),
    pytest.param(GOOD.replace("version: 1", "version: !!binary '@@'"), 1, "tags", id="tag-binary"),
    pytest.param(GOOD.replace("version: 1", "version: !custom 1"), 1, "tags", id="tag-local"),
    pytest.param(GOOD.replace("{tier: read}", "!!map {tier: read}"), 5, "tags", id="tag-on-mapping"),
    pytest.param(GOOD.replace("version: 1", "version: 2001-13-45"), 1, "cannot read value", id="impossible-date"),
    pytest.param(GOOD + "x: 2001-02-30\n", 6, "cannot read value", id="impossible-date-elsewhere"),
]


@pytest.mark.parametrize(("text", "line", "words"), HOSTILE)
def test_hostile_yaml_is_a_located_refusal(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "warded.yaml"
    path.write_text(text, encoding="utf-8")
    tracemalloc.start()
    try:
        with pytest.raises(PolicyError) as info:
            ops.check_policy(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    first = str(info.value.problems[0])
    match = LOCATED.match(first)
    assert match is not None, first
    assert int(match.group(1)) == line, first
    assert words in first, first
    assert all(LOCATED.match(str(p)) for p in info.value.problems)
    # Nothing is expanded: memory stays within a small multiple of the file, never the alias expansion.
    assert peak < 64 * 1024 * 1024, peak


def test_alias_bomb_reports_a_bounded_number_of_problems(tmp_path: Path) -> None:
    path = tmp_path / "warded.yaml"
    path.write_text(_bomb(levels=12, width=40), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        ops.check_policy(str(path))
    assert len(info.value.problems) <= 51
    assert "stopped reading" in str(info.value.problems[-1])


def test_merge_key_through_an_alias_reports_both(tmp_path: Path) -> None:
    path = tmp_path / "warded.yaml"
    path.write_text("version: 1\nbase: &b {tools: [t]}\nagents:\n  a:\n    <<: *b\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        ops.check_policy(str(path))
    found = [str(p) for p in info.value.problems]
    assert any(":2:" in p and "anchors" in p for p in found), found
    assert any(":5:" in p and "merge keys" in p for p in found), found


def test_cli_check_prints_located_problems_not_a_traceback(tmp_path: Path) -> None:
    for i, text in enumerate([_bomb(), GOOD + "x: " + "[" * 10_000 + "]" * 10_000 + "\n", "version: " + "1" * 5000]):
        path = tmp_path / f"p{i}" / "warded.yaml"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        run = subprocess.run(
            [sys.executable, "-m", "warded.cli", "check", str(path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 1, run.stderr
        assert "Traceback" not in run.stderr and "Error:" not in run.stderr, run.stderr
        assert f"{path}:" in run.stderr and "policy refused" in run.stderr


# -- item 13: raw Cedar permits broader than the YAML grants ----------------------------------------

TWO = """\
version: 1
agents:
  a: {tools: [t]}
  b: {tools: [u]}
tools:
  t: {tier: read}
  u: {tier: write}
cedar: |
"""

# (raw Cedar, the line of the policy file it starts on or None when no warning is due)
RAW = [
    pytest.param("  permit(principal, action, resource);\n", 9, id="permit-all"),
    pytest.param(
        '  @id("all")\n  permit(principal, action, resource) when { true };\n', 9, id="permit-all-conditional"
    ),
    pytest.param('  permit(principal == Agent::"a", action, resource);\n', 9, id="any-tool-for-one-agent"),
    pytest.param('  permit(principal, action, resource == Tool::"t");\n', 9, id="any-agent-for-one-tool"),
    pytest.param('  permit(principal is Agent, action, resource == Tool::"u");\n', 9, id="principal-is-agent"),
    pytest.param('  permit(principal == Agent::"b", action, resource == Tool::"t");\n', 9, id="ungranted-pair"),
    pytest.param(
        '  // first a forbid;\n  forbid(principal, action, resource == Tool::"u");\n\n'
        '  @id("late")\n  permit(principal, action == Action::"call", resource);\n',
        12,
        id="second-statement-located",
    ),
    pytest.param('  permit(principal == Agent::"a", action, resource == Tool::"t");\n', None, id="within-grants"),
    pytest.param('  permit(principal, action == Action::"other", resource);\n', None, id="other-action"),
    pytest.param("  forbid(principal, action, resource);\n", None, id="forbid-only"),
]


@pytest.mark.parametrize(("cedar", "line"), RAW)
def test_raw_permit_broader_than_the_grants_is_a_located_warning(tmp_path: Path, cedar: str, line: int | None) -> None:
    path = tmp_path / "warded.yaml"
    path.write_text(TWO + cedar, encoding="utf-8")
    policy = ops.check_policy(str(path))  # valid: still loads
    if line is None:
        assert policy.warnings == ()
        return
    [warning] = policy.warnings
    assert (warning.file, warning.line) == (str(path), line)
    assert "broader than the YAML grants" in warning.message


def test_cli_check_prints_the_warning_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "warded.yaml"
    path.write_text(TWO + "  permit(principal, action, resource);\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "warded.cli", "check", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert f"{path}:9:" in run.stderr and "broader than the YAML grants" in run.stderr
    assert "OK" in run.stdout


def test_gateway_records_policy_warnings_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "warded.yaml"
    text = TWO + "  permit(principal, action, resource);\n"
    path.write_text(
        text.replace("cedar: |", "scan: {enabled: false}\naudit: {path: audit.db, key: audit.key}\ncedar: |")
    )
    gateway = Gateway.from_file(path)
    gateway.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "audit.db")) as db:
        rows = db.execute("SELECT body FROM audit_entries WHERE kind = 'gateway_started'").fetchall()
    [body] = [json.loads(r[0]) for r in rows]
    [warning] = body["policy_warnings"]
    assert "broader than the YAML grants" in warning
