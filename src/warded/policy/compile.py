"""Compile a validated policy spec into the structures ``decide()`` reads.

``load_policy`` is the edge (it reads files); everything it calls after reading is pure.
A policy with any problem is refused whole: ``PolicyError`` lists every problem found.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cedarpy
from pydantic import ValidationError

from warded.approve.keys import load_approvers
from warded.audit.keys import load_public_key
from warded.config._yaml import Path_, load_yaml, locate, validation_problems
from warded.core.types import Tier
from warded.errors import PolicyError, PolicyProblem, WardedError
from warded.policy import cedar as cd
from warded.policy.constraints import ArgChecker, compile_arg
from warded.policy.schema import BudgetSpec, LimitSpec, OnExceed, PolicySpec, WhenPaused
from warded.scan.registry import ScannerLoadError, check_scanner_options
from warded.scan.registry import available as available_scanners


@dataclass(frozen=True, slots=True)
class CompiledTool:
    name: str
    tier: Tier
    checkers: Mapping[str, ArgChecker]
    additional_args: bool
    secret_args: frozenset[str]


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """Everything ``decide()`` needs, precomputed. Immutable once built."""

    source: str
    digest: str  # sha256 of the policy file and every Cedar file it names
    spec: PolicySpec
    agents: Mapping[str, frozenset[str]]
    tools: Mapping[str, CompiledTool]
    slices: Mapping[tuple[str, str], cd.Slice]
    entities: Any
    limits: tuple[LimitSpec, ...]
    budgets: tuple[BudgetSpec, ...]
    base_dir: str
    # Keys loaded from the policy's files: approvers {key_id: (name, key)} and agents {agent_id: key}.
    approvers: Mapping[str, tuple[str, Any]] = field(default_factory=dict)
    agent_keys: Mapping[str, Any] = field(default_factory=dict)
    cedar_policies: tuple[cd.CedarPolicy, ...] = field(default=())
    # Valid but worth a look (``warded check`` prints them; the gateway records them at start-up): raw
    # Cedar permits whose scope reaches agent/tool pairs the YAML does not grant.
    warnings: tuple[PolicyProblem, ...] = field(default=())
    # Memo of Cedar answers keyed by (agent, tool, context); Cedar is pure, so this is exact.
    cedar_cache: dict[tuple[object, ...], cd.CedarAnswer] = field(default_factory=dict, compare=False, repr=False)

    # Per-tool views of limits and budgets, filled on first use (pure functions of the policy).
    _limits_by_tool: dict[str, tuple[LimitSpec, ...]] = field(default_factory=dict, compare=False, repr=False)
    _budgets_by_tool: dict[str, tuple[BudgetSpec, ...]] = field(default_factory=dict, compare=False, repr=False)

    def limits_for(self, tool: str, tier: Tier) -> tuple[LimitSpec, ...]:
        found = self._limits_by_tool.get(tool)
        if found is None:
            found = tuple(lim for lim in self.limits if _matches(lim.tools, lim.tiers, tool, tier))
            self._limits_by_tool[tool] = found
        return found

    def budgets_for(self, tool: str, tier: Tier) -> tuple[BudgetSpec, ...]:
        found = self._budgets_by_tool.get(tool)
        if found is None:
            found = tuple(b for b in self.budgets if _matches(b.tools, b.tiers, tool, tier))
            self._budgets_by_tool[tool] = found
        return found

    def audit_path(self, name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(self.base_dir, name)


def _matches(tools: list[str], tiers: list[Tier], tool: str, tier: Tier) -> bool:
    if not tools and not tiers:
        return True
    return tool in tools or tier in tiers


def load_policy(path: str | os.PathLike[str]) -> CompiledPolicy:
    """Read and compile ``warded.yaml`` (and the Cedar files it names). Refuses on any problem."""
    file = os.fspath(path)
    try:
        with open(file, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise PolicyError([PolicyProblem(file, 1, 1, f"cannot read policy file: {exc.strerror}")]) from None
    data, marks = load_yaml(raw, file)
    base_dir = os.path.dirname(os.path.abspath(file))
    spec = validate_spec(data, marks, file)
    cedar_sources: list[tuple[str, int, str]] = []
    if spec.cedar:
        line, _ = locate(marks, ("cedar",))
        cedar_sources.append((file, line + 1, spec.cedar))
    problems: list[PolicyProblem] = []
    digest = hashlib.sha256(raw)
    for i, name in enumerate(spec.cedar_files):
        cedar_path = name if os.path.isabs(name) else os.path.join(base_dir, name)
        try:
            with open(cedar_path, "rb") as fh:
                content = fh.read()
            cedar_sources.append((cedar_path, 1, content.decode("utf-8")))
            digest.update(content)
        except (OSError, UnicodeDecodeError) as exc:
            line, col = locate(marks, ("cedar_files", i))
            problems.append(PolicyProblem(file, line, col, f"cannot read Cedar file {name!r}: {exc}"))
    approvers: dict[str, tuple[str, Any]] = {}
    for name, key_file in spec.approval.approvers.items():
        try:
            loaded = load_approvers({name: _relative(base_dir, key_file)})
        except WardedError as exc:
            line, col = locate(marks, ("approval", "approvers", name))
            problems.append(PolicyProblem(file, line, col, f"approval.approvers.{name}: {exc.diagnostics()}"))
            continue
        for kid, entry in loaded.items():
            if kid in approvers:
                line, col = locate(marks, ("approval", "approvers", name))
                problems.append(
                    PolicyProblem(file, line, col, f"approval.approvers.{name}: same key as {approvers[kid][0]!r}")
                )
            approvers[kid] = entry
    agent_keys: dict[str, Any] = {}
    for agent_name, agent_spec in spec.agents.items():
        if agent_spec.public_key is None:
            continue
        try:
            agent_keys[agent_name] = load_public_key(_relative(base_dir, agent_spec.public_key))
        except WardedError as exc:
            line, col = locate(marks, ("agents", agent_name, "public_key"))
            problems.append(PolicyProblem(file, line, col, f"agents.{agent_name}.public_key: {exc.diagnostics()}"))
    if problems:
        raise PolicyError(problems)
    compiled = compile_policy(spec, marks, file, cedar_sources, base_dir=base_dir, digest=digest.hexdigest())
    return replace(compiled, approvers=approvers, agent_keys=agent_keys)


def _relative(base_dir: str, name: str) -> str:
    return name if os.path.isabs(name) else os.path.join(base_dir, name)


def validate_spec(data: object, marks: dict[Path_, tuple[int, int]], file: str) -> PolicySpec:
    if not isinstance(data, dict):
        raise PolicyError([PolicyProblem(file, 1, 1, "the policy must be a mapping (key: value) at the top")])
    try:
        return PolicySpec.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(validation_problems(exc, marks, file)) from None


def compile_policy(
    spec: PolicySpec,
    marks: dict[Path_, tuple[int, int]],
    file: str,
    cedar_sources: list[tuple[str, int, str]],
    *,
    base_dir: str = ".",
    digest: str = "",
) -> CompiledPolicy:
    """Pure: a validated spec (plus raw Cedar text) to a ``CompiledPolicy``."""
    problems: list[PolicyProblem] = []

    def problem(path: Path_, message: str) -> None:
        line, col = locate(marks, path)
        problems.append(PolicyProblem(file, line, col, message))

    tools: dict[str, CompiledTool] = {}
    for tname, tspec in spec.tools.items():
        checkers: dict[str, ArgChecker] = {}
        for aname, aspec in tspec.args.items():
            if aspec.path is not None:
                # Relative roots (and base) are relative to the policy file, not to wherever the gateway runs.
                roots = tuple(os.path.normpath(os.path.join(base_dir, r)) for r in aspec.path.roots)
                update: dict[str, object] = {"roots": roots}
                if aspec.path.base is not None:
                    update["base"] = os.path.normpath(os.path.join(base_dir, aspec.path.base))
                path_spec = aspec.path.model_copy(update=update)
                aspec = aspec.model_copy(update={"path": path_spec})  # noqa: PLW2901
            try:
                checkers[aname] = compile_arg(tname, aname, aspec)
            except ValueError as exc:
                problem(("tools", tname, "args", aname), f"tools.{tname}.args.{aname}: {exc}")
        secrets = frozenset(a for a, s in tspec.args.items() if s.secret)
        tools[tname] = CompiledTool(tname, tspec.tier, checkers, tspec.additional_args, secrets)

    agents: dict[str, frozenset[str]] = {}
    for aname, agent_spec in spec.agents.items():
        seen: set[str] = set()
        for i, tname in enumerate(agent_spec.tools):
            if tname not in spec.tools:
                problem(("agents", aname, "tools", i), f"agents.{aname}.tools: unknown tool {tname!r}")
            if tname in seen:
                problem(("agents", aname, "tools", i), f"agents.{aname}.tools: {tname!r} listed twice")
            seen.add(tname)
        agents[aname] = frozenset(agent_spec.tools)

    ids: set[str] = set()
    windows: list[tuple[str, Sequence[LimitSpec | BudgetSpec]]] = [
        ("limits", spec.limits),
        ("budgets", spec.budgets),
    ]
    for kind, items in windows:
        for i, item in enumerate(items):
            if item.id in ids:
                problem((kind, i, "id"), f"{kind}[{i}]: id {item.id!r} is used twice")
            ids.add(item.id)
            for j, tname in enumerate(item.tools):
                if tname not in spec.tools:
                    problem((kind, i, "tools", j), f"{kind}[{i}]: unknown tool {tname!r}")
    for i, budget in enumerate(spec.budgets):
        for tname in budget.tools:
            tool = tools.get(tname)
            if tool is not None and budget.argument not in tool.checkers:
                problem(
                    ("budgets", i, "argument"),
                    f"budgets[{i}]: tool {tname!r} declares no argument {budget.argument!r}; "
                    "declare it (with a number constraint) so the budget can be enforced",
                )

    if spec.scan.enabled:
        installed = available_scanners()
        for i, name in enumerate(spec.scan.scanners):
            if name not in installed:
                problem(("scan", "scanners", i), f"scan.scanners: no scanner named {name!r} is installed")
                continue
            try:
                check_scanner_options(name, spec.scan.options.get(name))
            except ScannerLoadError as exc:
                problem(("scan", "scanners", i), f"scan.scanners: {exc}")
        for name in spec.scan.options:
            if name not in spec.scan.scanners:
                problem(("scan", "options", name), f"scan.options: {name!r} is not in scan.scanners")

    for i, tname in enumerate(spec.flow.trusted_tools):
        if tname not in spec.tools:
            problem(("flow", "trusted_tools", i), f"flow.trusted_tools: unknown tool {tname!r}")
    for section in ("trusted_fields", "ignore_arguments"):
        for tname in getattr(spec.flow, section):
            if tname not in spec.tools:
                problem(("flow", section, tname), f"flow.{section}: unknown tool {tname!r}")

    generated = _generate_cedar(spec)
    policies: list[cd.CedarPolicy] = []
    try:
        narrow = _static_tools(spec)
        policies.extend(
            replace(p, tools=narrow.get(p.rule_id)) for p in cd.parse_policies(generated, "generated", "generated.")
        )
    except ValueError as exc:  # a bug in warded, not in the user's file; still refuse to start
        problem((), f"internal error compiling policy to Cedar: {exc}")
    for src_file, first_line, text in cedar_sources:
        parsed = _parse_raw_cedar(src_file, first_line, text, problems)
        policies.extend(parsed)
    seen_rules: dict[str, str] = {}
    for pol in policies:
        if pol.origin != "generated" and pol.rule_id in seen_rules:
            problems.append(PolicyProblem(file, 1, 1, f"Cedar @id {pol.rule_id!r} is used twice ({pol.origin})"))
        seen_rules[pol.rule_id] = pol.origin

    if problems:
        raise PolicyError(problems)

    warnings = _broad_permits(policies, agents, tools)
    slices: dict[tuple[str, str], cd.Slice] = {}
    for aname in agents:
        for tname in tools:
            chosen = [p for p in policies if p.may_apply(aname, tname)]
            if any(p.effect == "permit" for p in chosen):
                slices[(aname, tname)] = cd.build_slice(chosen)
    entities = cd.build_entities(agents, {t: c.tier.value for t, c in tools.items()})
    return CompiledPolicy(
        source=file,
        digest=digest,
        spec=spec,
        agents=agents,
        tools=tools,
        slices=slices,
        entities=entities,
        limits=tuple(spec.limits),
        budgets=tuple(spec.budgets),
        base_dir=base_dir,
        cedar_policies=tuple(policies),
        warnings=warnings,
    )


def _broad_permits(
    policies: Sequence[cd.CedarPolicy], agents: Mapping[str, frozenset[str]], tools: Mapping[str, CompiledTool]
) -> tuple[PolicyProblem, ...]:
    """A warning for each raw Cedar permit whose scope matches an (agent, tool) pair the YAML does not grant.

    Such a permit widens the YAML grants: every request it matches is allowed unless a forbid denies it.
    The scope is read as slicing reads it (``principal``/``resource`` other than ``==`` count as any), and
    ``when`` conditions are not evaluated, so the warning says what the permit *can* allow.
    """
    out: list[PolicyProblem] = []
    for pol in policies:
        if pol.origin == "generated" or pol.effect != "permit":
            continue
        extra = [(a, t) for a in agents for t in tools if t not in agents[a] and pol.may_apply(a, t)]
        if not extra:
            continue
        file, _, line = pol.origin.rpartition(":")
        agent, tool = extra[0]
        scope = "any agent" if pol.principal is None else f"agent {pol.principal!r}"
        scope += ", any tool" if pol.resource is None else f", tool {pol.resource!r}"
        out.append(
            PolicyProblem(
                file,
                int(line) if line.isdigit() else 1,
                1,
                f"warning: raw Cedar permit {pol.rule_id!r} ({scope}) is broader than the YAML grants: it can "
                f"allow {len(extra)} agent/tool pair(s) the YAML does not grant (e.g. agent {agent!r} calling "
                f"{tool!r}); only forbids and its own conditions limit it",
            )
        )
    return tuple(out)


def _static_tools(spec: PolicySpec) -> dict[str, frozenset[str]]:
    """For generated forbids whose condition depends only on facts fixed per tool (its tier, whether a
    limit covers it), the tools where they can hold. Slices for other tools leave them out: Cedar's cost
    grows with every policy it evaluates, and these could never fire there."""
    tiers = {name: t.tier for name, t in spec.tools.items()}
    out = {
        cd.RULE_PAUSED: frozenset(n for n, tier in tiers.items() if tier is not Tier.READ),
        cd.RULE_QUARANTINE: frozenset(n for n, tier in tiers.items() if tier is not Tier.READ),
        cd.RULE_FLOW: frozenset(n for n, tier in tiers.items() if tier in spec.flow.sensitive_tiers),
        cd.RULE_APPROVAL_TIER: frozenset(n for n, tier in tiers.items() if tier in spec.approval.tiers),
    }
    for lim in spec.limits:
        out[f"limit.{lim.id}"] = frozenset(n for n, tier in tiers.items() if _matches(lim.tools, lim.tiers, n, tier))
    for budget in spec.budgets:
        out[f"budget.{budget.id}"] = frozenset(
            n for n, tier in tiers.items() if _matches(budget.tools, budget.tiers, n, tier)
        )
    return out


def _generate_cedar(spec: PolicySpec) -> str:
    q = cd.quote
    out: list[str] = []
    for aname, agent_spec in spec.agents.items():
        for tname in agent_spec.tools:
            out.append(
                f"@id({q(f'{cd.RULE_GRANT}.{aname}.{tname}')})\n"
                f"permit(principal == Agent::{q(aname)}, action == Action::{q(cd.ACTION_CALL)}, "
                f"resource == Tool::{q(tname)});"
            )
    out.append(f"@id({q(cd.RULE_CONSTRAINTS)})\nforbid(principal, action, resource) when {{ context.violations > 0 }};")
    out.append(
        f"@id({q(cd.RULE_TIER_MISMATCH)})\nforbid(principal, action, resource) when {{ context.tier_mismatch }};"
    )
    paused_guard = "!context.approved && " if spec.session.when_paused is WhenPaused.REQUIRE_APPROVAL else ""
    out.append(
        f"@id({q(cd.RULE_PAUSED)})\nforbid(principal, action, resource) "
        f'when {{ {paused_guard}context.paused && context.tier != "read" }};'
    )
    if spec.flow.enabled:
        guard = "!context.approved && " if spec.flow.on_untrusted is WhenPaused.REQUIRE_APPROVAL else ""
        out.append(f"@id({q(cd.RULE_FLOW)})\nforbid(principal, action, resource) when {{ {guard}context.taint > 0 }};")
        out.append(
            f"@id({q(cd.RULE_QUARANTINE)})\nforbid(principal, action, resource) "
            'when { !context.approved && context.quarantined && context.tier != "read" };'
        )
    out.append(f"@id({q(cd.RULE_SCAN_DENY)})\nforbid(principal, action, resource) when {{ context.scan_deny > 0 }};")
    out.append(
        f"@id({q(cd.RULE_SCAN_APPROVAL)})\nforbid(principal, action, resource) "
        "when { !context.approved && context.scan_approval > 0 };"
    )
    if spec.approval.tiers:
        tiers = ", ".join(q(t.value) for t in spec.approval.tiers)
        out.append(
            f"@id({q(cd.RULE_APPROVAL_TIER)})\nforbid(principal, action, resource) "
            f"when {{ !context.approved && [{tiers}].contains(context.tier) }};"
        )
    for tname, tspec in spec.tools.items():
        if tspec.approval:
            out.append(
                f"@id({q(f'{cd.RULE_APPROVAL_TOOL}.{tname}')})\nforbid(principal, action, "
                f"resource == Tool::{q(tname)}) when {{ !context.approved }};"
            )
    windowed: list[LimitSpec | BudgetSpec] = [*spec.limits, *spec.budgets]
    for item in windowed:
        kind = "limit" if isinstance(item, LimitSpec) else "budget"
        guard = "!context.approved && " if item.on_exceed is OnExceed.REQUIRE_APPROVAL else ""
        out.append(
            f"@id({q(f'{kind}.{item.id}')})\nforbid(principal, action, resource) "
            f"when {{ {guard}context.exceeded.contains({q(item.id)}) }};"
        )
    return "\n\n".join(out)


def _parse_raw_cedar(src_file: str, first_line: int, text: str, problems: list[PolicyProblem]) -> list[cd.CedarPolicy]:
    """Parse user-written Cedar; on error, find the statement that fails to report its line."""
    try:
        parsed = cd.parse_policies(text, f"{src_file}:{first_line}", f"cedar.{os.path.basename(src_file)}.")
    except ValueError as exc:
        line = _locate_cedar_error(text)
        problems.append(PolicyProblem(src_file, first_line + line - 1, 1, f"Cedar: {exc}"))
        return []
    lines = _statement_lines(text)
    if len(lines) != len(parsed):  # could not tell the statements apart: name the block
        return parsed
    return [replace(p, origin=f"{src_file}:{first_line + line - 1}") for p, line in zip(parsed, lines, strict=True)]


def _statement_lines(text: str) -> list[int]:
    """The line (1-based, within ``text``) where each Cedar policy in ``text`` starts, in order."""
    lines = text.split("\n")
    out: list[int] = []
    start = 0
    for i, line in enumerate(lines):
        if not line.rstrip().endswith(";"):
            continue
        chunk = "\n".join(lines[start : i + 1])
        try:
            count = len(json.loads(cedarpy.policies_to_json_str(chunk))["staticPolicies"])
        except ValueError:
            continue  # the ';' was inside a string or comment: the statement goes on
        out.extend([_first_code_line(lines, start) + 1] * count)
        start = i + 1
    return out


def _locate_cedar_error(text: str) -> int:
    """Line (1-based, within ``text``) where the first unparsable Cedar statement starts."""
    lines = text.split("\n")
    start = 0
    for i, line in enumerate(lines):
        if line.rstrip().endswith(";"):
            chunk = "\n".join(lines[start : i + 1])
            try:
                cedarpy.policies_to_json_str(chunk)
            except ValueError:
                return _first_code_line(lines, start) + 1
            start = i + 1
    return _first_code_line(lines, start) + 1


def _first_code_line(lines: list[str], start: int) -> int:
    for i in range(start, len(lines)):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("//"):
            return i
    return max(0, min(start, len(lines) - 1))
