"""What every family reads: the policy (its specs and file lines), the target, and valid baselines."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from warded.config._yaml import Path_, load_yaml, locate
from warded.policy.compile import CompiledPolicy
from warded.policy.constraints import ArgSpec
from warded.redteam.model import Plan, Where
from warded.redteam.sandbox import PathWorld
from warded.redteam.targets import Target, TargetError, session_ids


@dataclass(slots=True)
class Context:
    """A run's view of the policy under test and the target it attacks."""

    policy: CompiledPolicy  # as the target loaded it (sandbox roots for in-process runs)
    source: str  # the user's policy file (SARIF points there)
    marks: dict[Path_, tuple[int, int]]
    target: Target
    worlds: dict[tuple[str, str], PathWorld]
    uri_paths: bool = False
    in_process: Any = None  # the InProcessTarget when the run has one (limits, audit, content need it)
    verify_cmd: str | None = None
    audit_db: str | None = None
    audit_pub: str | None = None
    corpus: tuple[str, ...] = ()
    new_session: Callable[[], str] = field(default_factory=lambda: session_ids("rt"))
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: int = 0  # attempts outside any plan (baseline calls) the target did not judge
    _baselines: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    _allowed: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def load(cls, policy: CompiledPolicy, source: str, target: Target, **kw: Any) -> Context:
        with open(source, "rb") as fh:
            _, marks = load_yaml(fh.read(), source)
        return cls(policy, source, marks, target, kw.pop("worlds", {}), **kw)

    def skip(self, family: str, where: str, reason: str) -> None:
        self.skipped.append({"family": family, "where": where, "reason": reason})

    def where(self, *path: str | int) -> Where:
        line, col = locate(self.marks, tuple(path))
        return Where(self.source, line, col)

    def arg_spec(self, tool: str, arg: str) -> ArgSpec:
        return self.policy.spec.tools[tool].args[arg]

    def agent_for(self, tool: str) -> str | None:
        for agent, tools in sorted(self.policy.agents.items()):
            if tool in tools:
                return agent
        return None

    def constrained(self, family: str) -> list[tuple[str, str, str, ArgSpec]]:
        """(agent, tool, argument, spec) for every argument with a ``family`` constraint and a granted agent."""
        out = []
        for tool, tspec in sorted(self.policy.spec.tools.items()):
            for arg, aspec in sorted(tspec.args.items()):
                if getattr(aspec, family, None) is None:
                    continue
                agent = self.agent_for(tool)
                if agent is None:
                    self.skip(family, f"{tool}.{arg}", "no agent is granted this tool")
                    continue
                out.append((agent, tool, arg, aspec))
        return out

    # -- baselines: a valid call per tool, so a case changes one argument only ----------------------

    def baseline(self, tool: str) -> dict[str, Any] | None:
        if tool not in self._baselines:
            self._baselines[tool] = self._build_baseline(tool)
        return self._baselines[tool]

    def _build_baseline(self, tool: str) -> dict[str, Any] | None:
        compiled = self.policy.tools.get(tool)
        if compiled is None:
            return {}
        out: dict[str, Any] = {}
        for arg, spec in self.policy.spec.tools[tool].args.items():
            checker = compiled.checkers.get(arg)
            needed = spec.required or tool in {b for bud in self.policy.budgets for b in bud.tools}
            if not needed:
                continue
            for candidate in self._candidates(tool, arg, spec):
                if checker is None or not checker.check(candidate):
                    out[arg] = candidate
                    break
            else:
                return None
        return out

    def _candidates(self, tool: str, arg: str, spec: ArgSpec) -> list[Any]:
        found: list[Any] = []
        world = self.worlds.get((tool, arg))
        if spec.path is not None and world is not None:
            found += [os.path.join(world.roots[0], n) for n in ("a.pdf", "a.txt", "sub/b.pdf")]
        if spec.email is not None:
            for pattern in spec.email.allow or ("*@example.com",):
                local, _, domain = pattern.rpartition("@")
                found.append(f"{local.replace('*', 'a') or 'a'}@{domain.replace('*.', 'www.').replace('*', 'a')}")
        if spec.domain is not None:
            found += [p.replace("*.", "www.") for p in spec.domain.allow or ()]
            found += ["https://" + p.replace("*.", "www.") + "/" for p in spec.domain.allow or ()]
        if spec.values is not None:
            found += list(spec.values.allow or ())
        if spec.number is not None:
            lo, hi = spec.number.min, spec.number.max
            found += [v for v in (lo, hi, 1, 0) if v is not None]
        if spec.sql is not None:
            tables = spec.sql.tables or ("t",)
            found += [f"SELECT * FROM {tables[0]}", "SELECT 1"]  # noqa: S608 - a test query for the policy
        if spec.pattern is not None:
            found += _regex_examples(spec.pattern)
        if spec.type == "array":
            found = [[v] for v in found] + [[]]
        defaults: dict[str, list[Any]] = {
            "string": ["a", "x"],
            "integer": [1],
            "number": [1.0],
            "boolean": [True],
            "array": [[]],
        }
        found += defaults.get(spec.type, ["a", 1])
        found.append({})
        return found

    def allowed_baseline(self, agent: str, tool: str) -> dict[str, Any] | None:
        """The baseline when the target ALLOWs it as is; None (and a skip) when it does not."""
        base = self.baseline(tool)
        if base is None:
            self.skip("baseline", tool, "no valid value found for a required argument")
            return None
        if tool not in self._allowed:
            verdict, failure = "error", ""
            for _ in range(3):  # a first call may pay for a cold start (a timeout DENY): ask again
                try:
                    verdict = self.target.decide(agent, self.new_session(), tool, base)
                except TargetError as exc:
                    self.errors += 1  # an error, not a denial: the run is incomplete
                    verdict, failure = "error", str(exc)
                    continue
                if verdict == "allow":
                    break
            self._allowed[tool] = verdict == "allow"
            if failure and verdict == "error":
                self.skip("run", f"baseline {tool}", f"the target failed on every baseline call: {failure}")
            elif verdict != "allow":
                self.skip("baseline", tool, f"a valid call is not allowed as is ({verdict}): nothing can bypass here")
        return base if self._allowed[tool] else None

    def send(self, agent: str, tool: str, arg: str, value: object) -> bool:
        """One case: the baseline with ``arg`` replaced by ``value``; True when the target ALLOWs it."""
        base = dict(self.baseline(tool) or {})
        base[arg] = value
        return self.target.decide(agent, self.new_session(), tool, base) == "allow"


def _regex_examples(pattern: str) -> list[str]:
    try:
        compiled = re.compile(pattern)
    except re.error:
        return []
    out = [s for s in ("a", "abc", "000000", "123456", "Hello world", "x" * 8) if compiled.fullmatch(s)]
    if out:
        return out
    for size in (1, 6):
        try:
            out.append(
                find(
                    st.from_regex(compiled, fullmatch=True),
                    lambda s, n=size: len(s) >= n and s.isprintable() and s.isascii(),  # type: ignore[misc]
                    settings=settings(
                        database=None,
                        max_examples=60,
                        derandomize=True,
                        phases=[Phase.generate, Phase.shrink],
                        suppress_health_check=list(HealthCheck),
                    ),
                )
            )
        except (NoSuchExample, Unsatisfiable):
            continue
    return out


def wrap(spec: ArgSpec, value: object) -> object:
    """An element-wise family's value as the argument carries it (inside a list for arrays)."""
    return [value] if spec.type == "array" else value


def technique_of(rules: Mapping[str, Callable[[Any], bool]], default: str) -> Callable[[Any], str]:
    def name(value: Any) -> str:
        for label, test in rules.items():
            try:
                if test(value):
                    return label
            except Exception:  # noqa: S112 - a label test on a hostile value: try the next
                continue
        return default

    return name


def argument_plan(
    ctx: Context,
    family: str,
    target: tuple[str, str, str, ArgSpec],
    constraint: str,
    *,
    strategy: st.SearchStrategy[Any],
    oracle: Callable[[Any], bool],
    technique: Callable[[Any], str],
    value: Callable[[Any], object] | None = None,
    show: Callable[[Any], object] | None = None,
    raw: bool = False,
) -> Plan:
    """A bypass plan against one constrained argument (``target`` = agent, tool, argument, spec, as
    ``Context.constrained`` yields them): each case's value (``value(case)``, the case itself by default) is
    sent as that argument, wrapped in its container shape unless ``raw``; the plan points at the policy line
    of the argument's ``constraint`` and at rule ``arg.<tool>.<argument>.<constraint>``."""
    agent, tool, arg, spec = target
    pick = value if value is not None else (lambda case: case)

    def run(case: Any) -> bool:
        sent = pick(case)
        return ctx.send(agent, tool, arg, sent if raw else wrap(spec, sent))

    return Plan(
        family,
        "bypass",
        agent,
        tool,
        arg,
        ctx.where("tools", tool, "args", arg, constraint),
        strategy,
        oracle,
        run,
        technique,
        show=show if show is not None else pick,
        rule=f"arg.{tool}.{arg}.{constraint}",
    )
