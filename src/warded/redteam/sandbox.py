"""A sandboxed copy of the user's policy for in-process runs, and the files the path attacks need.

The copy differs from the original only where a run must not touch the user's deployment: its audit log
and key live in the run's work directory, a ``store:`` section (shared PostgreSQL/Redis) is dropped so a run
never writes to production state, every file the policy names (approver keys, agent keys, Cedar files) is
read from the original location, and each path root is mapped to a directory of the sandbox that holds
ordinary files, a sub-directory and symlinks pointing out of the root (the symlink attacks need them).
Everything else (tools, constraints, Cedar, limits, budgets, scanners) is the user's policy, unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from warded.config._yaml import load_yaml
from warded.errors import WardedError

#: Names planted in every sandbox root (the generators draw on them).
INSIDE_FILES = ("a.pdf", "a.txt", "sub/b.pdf")
#: Symlinks planted inside each root that point out of it: a directory and a file.
LINK_DIR = "link"
LINK_FILE = "evil.pdf"
OUTSIDE_FILES = ("secret.pdf", "secret.txt")


@dataclass(frozen=True, slots=True)
class PathWorld:
    """Where a path argument's roots live in the sandbox, and the tool's working directory."""

    roots: tuple[str, ...]  # sandbox roots (realpath), in the order of the policy's roots
    original_roots: tuple[str, ...]
    base: str | None  # the declared base (mapped into the sandbox when it lay inside a root)
    cwd: str  # where a tool without a declared base resolves relative paths
    outside: str


@dataclass(slots=True)
class Sandbox:
    """The sandboxed policy file and its path worlds (``(tool, argument)`` -> :class:`PathWorld`)."""

    policy_file: str
    workdir: str
    worlds: dict[tuple[str, str], PathWorld] = field(default_factory=dict)


def _absolute(base_dir: str, name: object) -> object:
    if isinstance(name, str) and not os.path.isabs(name):
        return os.path.join(base_dir, name)
    return name


def _plant(root: str, outside: str) -> None:
    os.makedirs(os.path.join(root, "sub"), exist_ok=True)
    for name in INSIDE_FILES:
        with open(os.path.join(root, name), "w", encoding="utf-8") as fh:
            fh.write("inside\n")
    for link, target in ((LINK_DIR, outside), (LINK_FILE, os.path.join(outside, OUTSIDE_FILES[0]))):
        where = os.path.join(root, link)
        if not os.path.lexists(where):
            os.symlink(target, where)


def build_sandbox(policy_path: str, workdir: str, *, audit: Mapping[str, Any] | None = None) -> Sandbox:
    """Write the sandboxed copy of ``policy_path`` under ``workdir`` (see the module docstring)."""
    try:
        with open(policy_path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise WardedError(f"cannot read policy {policy_path!r}: {exc.strerror}") from None
    data, _ = load_yaml(raw, policy_path)
    if not isinstance(data, dict):
        raise WardedError(f"{policy_path}: the policy must be a mapping")
    base_dir = os.path.dirname(os.path.abspath(policy_path))
    fs = os.path.join(workdir, "fs")
    outside = os.path.join(fs, "outside")
    cwd = os.path.join(fs, "cwd")
    for d in (outside, cwd):
        os.makedirs(d, exist_ok=True)
    for name in OUTSIDE_FILES:
        with open(os.path.join(outside, name), "w", encoding="utf-8") as fh:
            fh.write("outside: the attack read this\n")
    for name in INSIDE_FILES[:2]:
        with open(os.path.join(cwd, name), "w", encoding="utf-8") as fh:
            fh.write("the tool's working directory, outside every root\n")
    data.pop("store", None)
    audit_spec = {**dict(data.get("audit") or {}), **dict(audit or {})}
    audit_spec["path"] = os.path.join(workdir, "audit.db")
    audit_spec["key"] = os.path.join(workdir, "audit.key")
    data["audit"] = audit_spec
    approval = data.get("approval")
    if isinstance(approval, dict) and isinstance(approval.get("approvers"), dict):
        approval["approvers"] = {k: _absolute(base_dir, v) for k, v in approval["approvers"].items()}
    for agent in (data.get("agents") or {}).values():
        if isinstance(agent, dict) and "public_key" in agent:
            agent["public_key"] = _absolute(base_dir, agent["public_key"])
    if isinstance(data.get("cedar_files"), list):
        data["cedar_files"] = [_absolute(base_dir, n) for n in data["cedar_files"]]
    sandbox_dir = os.path.join(workdir, "policy")
    os.makedirs(sandbox_dir, exist_ok=True)
    out = Sandbox(os.path.join(sandbox_dir, os.path.basename(policy_path)), workdir)
    counter = 0
    for tname, tool in (data.get("tools") or {}).items():
        for aname, arg in ((tool or {}).get("args") or {}).items():
            spec = arg.get("path") if isinstance(arg, Mapping) else None
            if not isinstance(spec, dict) or not isinstance(spec.get("roots"), list):
                continue
            originals = tuple(os.path.normpath(os.path.join(base_dir, r)) for r in spec["roots"])
            mapped: list[str] = []
            for _ in originals:
                root = os.path.join(fs, f"root{counter}")
                counter += 1
                os.makedirs(root, exist_ok=True)
                _plant(root, outside)
                mapped.append(os.path.realpath(root))
            spec["roots"] = mapped
            base = spec.get("base")
            new_base: str | None = None
            if isinstance(base, str):
                absolute = os.path.normpath(os.path.join(base_dir, base))
                new_base = absolute
                for orig, new in zip(originals, mapped, strict=True):
                    if absolute == orig or absolute.startswith(orig + "/"):
                        new_base = new + absolute[len(orig) :]
                spec["base"] = new_base
            out.worlds[(str(tname), str(aname))] = PathWorld(
                tuple(mapped), originals, new_base, os.path.realpath(cwd), os.path.realpath(outside)
            )
    with open(out.policy_file, "w", encoding="utf-8") as fh:
        yaml.safe_dump(_plain(data), fh, sort_keys=False, allow_unicode=True)
    return out


def _plain(value: Any) -> Any:
    """YAML-dumpable plain containers (the loader may hand back tuples)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
