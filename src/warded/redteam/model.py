"""The values a red-team run produces: findings, per-plan statistics and the run's result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis.strategies import SearchStrategy

#: ``bypass``: a constraint, limit or audit check the gateway must enforce was beaten (a defect).
#: ``evasion``: content (an injection) a detector missed: detection is statistical, so misses are measured.
Kind = Literal["bypass", "evasion"]


@dataclass(frozen=True, slots=True)
class Where:
    """The policy file line a plan attacks (SARIF points there)."""

    file: str
    line: int
    column: int = 1


@dataclass(frozen=True, slots=True)
class Plan:
    """One attack family aimed at one place: a strategy of inputs and the oracle that judges them.

    ``run(value)`` sends the case to the target and returns True when the attack got through (the
    target let it pass); ``oracle(value)`` says whether the case breaks the constraint's intent. A bypass
    is a case for which both hold. ``technique(value)`` names the mutation the case used.
    """

    family: str
    kind: Kind
    agent: str
    tool: str
    argument: str
    where: Where | None
    strategy: SearchStrategy[Any]
    oracle: Callable[[Any], bool]
    run: Callable[[Any], bool]
    technique: Callable[[Any], str]
    show: Callable[[Any], object] = lambda v: v
    rule: str = ""

    @property
    def key(self) -> str:
        return f"{self.family}:{self.agent}:{self.tool}:{self.argument}"


@dataclass(frozen=True, slots=True)
class Finding:
    """A case that got through: the smallest form Hypothesis found."""

    family: str
    kind: Kind
    technique: str
    agent: str
    tool: str
    argument: str
    input: object
    where: Where | None
    rule: str
    shrunk: bool

    @property
    def key(self) -> str:
        """Stable identity across runs (the baseline compares these)."""
        return f"{self.family}:{self.technique}:{self.agent}:{self.tool}:{self.argument}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "family": self.family,
            "kind": self.kind,
            "technique": self.technique,
            "agent": self.agent,
            "tool": self.tool,
            "argument": self.argument,
            "input": self.input,
            "rule": self.rule,
            "shrunk": self.shrunk,
        }
        if self.where is not None:
            out["policy_file"] = self.where.file
            out["policy_line"] = self.where.line
        return out


@dataclass(slots=True)
class PlanStats:
    """What one plan did: cases sent, attacks among them (oracle said so), and those that got through."""

    family: str
    kind: Kind
    key: str
    cases: int = 0
    attacks: int = 0
    successes: int = 0
    errors: int = 0  # attempts the target (or the oracle) did not judge: neither held nor through
    seconds: float = 0.0
    techniques: dict[str, list[int]] = field(default_factory=dict)  # technique: [attacks, successes]
    budget: int = 0  # cases planned at most
    completed: bool = False  # the plan ran to its end (not cut by the time limit or an error)


@dataclass(slots=True)
class RunResult:
    """A whole run. ``to_json`` is the ``--json`` object and the report every other format reads."""

    policy: str
    policy_sha256: str
    target: str
    started: float
    finished: float
    duration_s: float
    plans: list[PlanStats]
    findings: list[Finding]
    skipped: list[dict[str, str]]
    seed: int
    budget: int
    planned: int = 0  # plans the run built; fewer in ``plans`` means some never ran
    planned_cases: int = 0  # their budgets together: the most cases the run meant to draw
    errors: int = 0  # attempts outside any plan (baseline calls) the target did not judge

    @property
    def cases(self) -> int:
        return sum(p.cases for p in self.plans)

    @property
    def total_errors(self) -> int:
        return self.errors + sum(p.errors for p in self.plans)

    @property
    def bypasses(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "bypass"]

    @property
    def evasions(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "evasion"]

    def by_family(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for p in self.plans:
            fam = out.setdefault(
                p.family,
                {"kind": p.kind, "cases": 0, "attacks": 0, "successes": 0, "errors": 0, "plans": 0, "seconds": 0.0},
            )
            fam["seconds"] = round(fam["seconds"] + p.seconds, 3)
            fam["cases"] += p.cases
            fam["attacks"] += p.attacks
            fam["successes"] += p.successes
            fam["errors"] += p.errors
            fam["plans"] += 1
        for fam in out.values():
            fam["success_rate"] = round(fam["successes"] / fam["attacks"], 4) if fam["attacks"] else 0.0
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        from warded import __version__  # noqa: PLC0415 - tiny module, kept out of import time

        return {
            "tool": "warded-redteam",
            "warded_version": __version__,
            "policy": self.policy,
            "policy_sha256": self.policy_sha256,
            "target": self.target,
            "started": self.started,
            "finished": self.finished,
            "duration_s": round(self.duration_s, 3),
            "seed": self.seed,
            "budget": self.budget,
            "cases": self.cases,
            "cases_per_s": round(self.cases / self.duration_s, 1) if self.duration_s > 0 else 0.0,
            "errors": self.total_errors,
            "planned": {"plans": self.planned, "cases": self.planned_cases},
            "bypasses": [f.to_json() for f in self.bypasses],
            "evasions": [f.to_json() for f in self.evasions],
            "by_family": self.by_family(),
            "plans": [
                {
                    "key": p.key,
                    "family": p.family,
                    "cases": p.cases,
                    "attacks": p.attacks,
                    "successes": p.successes,
                    "errors": p.errors,
                    "budget": p.budget,
                    "completed": p.completed,
                    "seconds": round(p.seconds, 3),
                    "techniques": {t: {"attacks": a, "successes": s} for t, (a, s) in sorted(p.techniques.items())},
                }
                for p in self.plans
            ],
            "skipped": self.skipped,
        }


def report_from_json(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Check the shape of a stored report (a baseline, or one ``serve --require-redteam`` reads)."""
    from warded.errors import WardedError  # noqa: PLC0415

    if not isinstance(data, Mapping) or data.get("tool") != "warded-redteam":
        raise WardedError('not a warded red-team report (no "tool": "warded-redteam")')
    for key, kind in (("bypasses", list), ("by_family", dict), ("finished", (int, float)), ("policy_sha256", str)):
        if not isinstance(data.get(key), kind):
            raise WardedError(f"red-team report: {key!r} is missing or malformed")
    return data
