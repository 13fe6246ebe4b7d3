"""The ``path`` family: roots, globs, deny globs, symlinks and lexical tricks (real files in tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from warded.policy._constraints._glob import compile_glob
from warded.policy.constraints import ArgChecker, ArgSpec, compile_arg


def checker(spec: dict[str, Any], tool: str = "read_file", arg: str = "path") -> ArgChecker:
    return compile_arg(tool, arg, ArgSpec.model_validate(spec))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/srv/mail (the root) with files, look-alike siblings and symlinks in and out."""
    mail = tmp_path / "srv" / "mail"
    (mail / "inbox").mkdir(parents=True)
    (mail / "inbox" / "a.eml").write_text("a")
    (mail / "notes.txt").write_text("n")
    (mail / ".ssh").mkdir()
    (mail / ".ssh" / "id_rsa").write_text("k")
    (mail / ".ssh" / "key.eml").write_text("k")
    (tmp_path / "srv" / "mail2").mkdir()
    (tmp_path / "srv" / "mail2" / "x.eml").write_text("x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.eml").write_text("s")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.eml").write_text("decoy")
    (mail / "evil.eml").symlink_to(tmp_path / "outside" / "secret.eml")
    (mail / "inlink.eml").symlink_to(mail / "inbox" / "a.eml")
    (mail / "dirlink").symlink_to(tmp_path / "outside")
    (mail / "sshlink.eml").symlink_to(mail / ".ssh" / "id_rsa")
    (mail / "loop.eml").symlink_to(mail / "loop.eml")
    (tmp_path / "rootlink").symlink_to(mail)
    return tmp_path


def _spec(tree: Path, **extra: object) -> dict[str, Any]:
    path: dict[str, Any] = {
        "roots": [str(tree / "srv" / "mail")],
        "globs": ["**/*.eml"],
        "deny_globs": ["**/.ssh/**"],
    }
    path.update(extra)
    return {"type": "string", "path": path}


# (case, value with {t} for the tmp dir and {m} for the root, passes?)
CASES = [
    ("absolute inside", "{m}/inbox/a.eml", True),
    ("relative path without a declared base", "inbox/a.eml", False),
    ("dot without a declared base", ".", False),
    ("file that does not exist yet", "{m}/new/draft.eml", True),
    ("symlink to a file inside", "{m}/inlink.eml", True),
    ("double slash collapses", "/{m}//inbox//a.eml", True),
    ("dot segments", "{m}/./inbox/./a.eml", True),
    ("dot-dot that stays inside", "{m}/inbox/../inbox/a.eml", True),
    ("relative dot-dot escape", "../../outside/secret.eml", False),
    ("absolute dot-dot escape", "{m}/../../outside/secret.eml", False),
    ("dot-dot escape hidden by slashes and dots", "{m}//.//..//..//outside/secret.eml", False),
    ("sibling with the root as string prefix", "{t}/srv/mail2/x.eml", False),
    ("symlink to a file outside", "{m}/evil.eml", False),
    ("through a directory symlink outside", "{m}/dirlink/secret.eml", False),
    ("kernel follows the symlink before '..'", "{m}/dirlink/../inbox/a.eml", False),
    ("symlink loop", "{m}/loop.eml", False),
    ("escape behind a symlink loop", "{m}/loop.eml/../../../outside/secret.eml", False),
    ("completely outside", "/etc/passwd", False),
    ("deny glob wins over allow glob", "{m}/.ssh/key.eml", False),
    ("deny glob is case-insensitive", "{m}/.SSH/key.eml", False),
    ("symlink into a denied directory", "{m}/sshlink.eml", False),
    ("the denied directory itself", "{m}/.ssh", False),
    ("no allowed glob matches", "{m}/notes.txt", False),
    ("the root itself matches no glob", "{m}", False),
    ("empty string", "", False),
    ("NUL byte", "{m}/inbox/a.eml\x00.txt", False),
    ("newline", "{m}/inbox/a\n.eml", False),
    ("zero-width space", "{m}/inbox/a\u200b.eml", False),
    ("right-to-left override", "{m}/inbox/a\u202elme.txt", False),
    ("backslash traversal", "..\\..\\outside\\secret.eml", False),
    ("home shorthand", "~/inbox/a.eml", False),
    ("home of another user", "~root/.ssh/id_rsa", False),
    ("lone surrogate", "{m}/inbox/\ud800.eml", False),
    ("longer than PATH_MAX", "{m}/" + "a/" * 2100 + "x.eml", False),
]


@pytest.mark.parametrize(("case", "template", "ok"), CASES, ids=[c[0] for c in CASES])
def test_path_cases(tree: Path, case: str, template: str, ok: bool) -> None:
    value = template.format(t=tree, m=tree / "srv" / "mail")
    violations = checker(_spec(tree)).check(value)
    if ok:
        assert violations == [], case
    else:
        assert [v.rule_id for v in violations] == ["arg.read_file.path.path"], case


@pytest.mark.parametrize("value", [5, None, True, b"/srv/mail/a.eml", {"p": 1}, 3.5])
def test_non_strings_are_refused(tree: Path, value: object) -> None:
    [violation] = checker(_spec(tree) | {"type": "any"}).check(value)
    assert violation.rule_id == "arg.read_file.path.path"
    assert "not a string" in violation.message


def test_every_element_of_a_list_is_checked(tree: Path) -> None:
    spec = _spec(tree) | {"type": "array"}
    check = checker(spec).check
    m = tree / "srv" / "mail"
    assert check([f"{m}/inbox/a.eml", f"{m}/inlink.eml"]) == []
    assert check([]) == []
    [violation] = check([f"{m}/inbox/a.eml", f"{m}/evil.eml"])
    assert "(element 1)" in violation.message
    [violation] = check([f"{m}/inbox/a.eml", "inbox/a.eml"])
    assert "(element 1)" in violation.message and "declares no base" in violation.message


def test_without_symlink_resolution_only_the_lexical_path_counts(tree: Path) -> None:
    m = tree / "srv" / "mail"
    check = checker(_spec(tree, resolve_symlinks=False)).check
    assert check(f"{m}/evil.eml") == []  # documented: the flag trusts symlinks
    assert check(f"{m}/../../outside/secret.eml") != []


def test_root_that_is_a_symlink_is_resolved_at_compile_time(tree: Path) -> None:
    check = checker({"path": {"roots": [str(tree / "rootlink")]}}).check
    assert check(f"{tree}/rootlink/inbox/a.eml") == []
    assert check(f"{tree}/rootlink/evil.eml") != []
    # Named through the target directory: lexically outside the configured root, so refused.
    assert check(f"{tree}/srv/mail/inbox/a.eml") != []


def test_several_roots(tree: Path) -> None:
    check = checker({"path": {"roots": [str(tree / "srv" / "mail"), str(tree / "srv" / "mail2")]}}).check
    assert check(f"{tree}/srv/mail2/x.eml") == []
    assert check("inbox/a.eml") != []  # relative, and no base declared
    assert check(f"{tree}/outside/secret.eml") != []
    roots = [str(tree / "srv" / "mail"), str(tree / "srv" / "mail2")]
    with_base = checker({"path": {"roots": roots, "base": str(tree / "srv" / "mail2")}}).check
    assert with_base("x.eml") == []  # joined to base, not to the first root
    assert with_base("../mail/inbox/a.eml") == []


def test_absolute_glob_matches_the_absolute_path(tree: Path) -> None:
    m = tree / "srv" / "mail"
    check = checker({"path": {"roots": [str(m)], "globs": [f"{m}/inbox/*"]}}).check
    assert check(f"{m}/inbox/a.eml") == []
    assert check(f"{m}/notes.txt") != []


def test_message_names_argument_and_value_but_not_secrets(tree: Path) -> None:
    [violation] = checker(_spec(tree)).check("/etc/passwd")
    assert "'path'" in violation.message and "/etc/passwd" in violation.message
    [violation] = checker(_spec(tree) | {"secret": True}).check("/etc/passwd")
    assert "/etc/passwd" not in violation.message


GLOBS = [
    ("**/*.eml", "a.eml", True),
    ("**/*.eml", "x/y/a.eml", True),
    ("**/*.eml", "a.emlx", False),
    ("*.eml", "x/a.eml", False),  # '*' stays within one segment
    ("inbox/*", "inbox/a", True),
    ("inbox/*", "inbox/a/b", False),
    ("inbox/**", "inbox", True),
    ("inbox/**", "inbox/a/b", True),
    ("inbox/**", "inboxes/a", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/xb", False),
    ("**", "", True),
    ("**", "deep/er/file", True),
    ("?.txt", "a.txt", True),
    ("?.txt", "ab.txt", False),
    ("[ab].txt", "b.txt", True),
    ("[ab].txt", "c.txt", False),
    ("[!ab].txt", "c.txt", True),
    ("[!ab].txt", "a.txt", False),
    ("x[!a]y", "x/y", False),  # a negated class never matches '/'
    ("[a-c]1", "b1", True),
    ("a.b", "axb", False),  # '.' is literal
    ("(a|b)", "a", False),  # regex syntax is literal
    ("(a|b)", "(a|b)", True),
    ("/abs/*.eml", "/abs/m.eml", True),
]


@pytest.mark.parametrize(("glob", "path", "ok"), GLOBS)
def test_glob_translation(glob: str, path: str, ok: bool) -> None:
    compiled = compile_glob(glob)
    assert compiled.matches(path, path) is ok


BAD_SPECS = [
    ({"roots": []}, "roots is empty"),
    ({"roots": ["srv/mail"]}, "not an absolute path"),
    ({"roots": ["/srv/mail\x00"]}, "control or invisible character"),
    ({"roots": ["/srv"], "base": "srv"}, "path.base 'srv' is not an absolute path"),
    ({"roots": ["/srv"], "base": "/srv/\u200b"}, "control or invisible character"),
    ({"roots": ["/srv"], "globs": ["a**b"]}, "whole path segment"),
    ({"roots": ["/srv"], "globs": ["[abc"]}, "unclosed"),
    ({"roots": ["/srv"], "globs": ["a//b"]}, "empty, '.' or '..'"),
    ({"roots": ["/srv"], "globs": ["../x"]}, "empty, '.' or '..'"),
    ({"roots": ["/srv"], "globs": [""]}, "empty glob"),
    ({"roots": ["/srv"], "globs": ["a\\*"]}, "backslash"),
    ({"roots": ["/srv"], "deny_globs": ["[+-0]x"]}, "can match '/'"),
    ({"roots": ["/srv"], "globs": ["[z-a]"]}, "invalid character class"),
]


@pytest.mark.parametrize(("path", "needle"), BAD_SPECS)
def test_unusable_specs_are_refused(path: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match="tool 'read_file', argument 'path'") as info:
        checker({"path": path})
    assert needle in str(info.value)


def test_relative_value_resolves_like_the_documentation_says(tree: Path) -> None:
    # With a declared base: same answer as realpath(base / value) being inside the root.
    m = tree / "srv" / "mail"
    check = checker({"path": {"roots": [str(m)], "base": str(m)}}).check
    for value in ["inbox/a.eml", "inlink.eml", "evil.eml", "dirlink", "."]:
        real = os.path.realpath(m / value)
        inside = real == str(m) or real.startswith(str(m) + "/")
        assert (check(value) == []) is inside, value
