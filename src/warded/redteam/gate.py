"""The CI gate over a run's report, and the check ``warded serve --require-redteam`` makes.

Exit codes (stable; ``docs/redteam.md``):

* ``0`` the gate passed;
* ``1`` the gate failed: bypasses as ``--fail-on`` counts them;
* ``2`` the run could not start: a bad policy, option, scenario or baseline file;
* ``3`` the run is incomplete (its time limit was reached, or the target failed on some cases): nothing
  can be vouched for, so a CI job must not pass.

``--fail-on``: ``any`` fails on any bypass; ``new`` on a bypass whose key (family, technique, agent,
tool, argument) the baseline does not have; ``regression`` on a new bypass or on a family whose success
rate (content evasions included) rose above the baseline's. Without a baseline ``new`` and ``regression``
are ``any``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from warded.errors import WardedError
from warded.jsonio import loads
from warded.redteam.model import report_from_json

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3

FailOn = Literal["any", "new", "regression"]


@dataclass(frozen=True, slots=True)
class GateResult:
    code: int
    reasons: tuple[str, ...]


def load_report(path: str) -> Mapping[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = loads(fh.read())
    except OSError as exc:
        raise WardedError(f"cannot read red-team report {path!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise WardedError(f"{path}: not valid JSON ({exc})") from None
    return report_from_json(data)


def judge(report: Mapping[str, Any], fail_on: FailOn = "any", baseline: Mapping[str, Any] | None = None) -> GateResult:
    """Pure: the gate's answer for ``report`` (and ``baseline``)."""
    reasons: list[str] = []
    incomplete = [s for s in report.get("skipped", []) if s.get("family") == "run"]
    errors = sum(int(f.get("errors", 0)) for f in report.get("by_family", {}).values())
    bypasses = report.get("bypasses", [])
    if baseline is None or fail_on == "any":
        failing = list(bypasses)
    else:
        known = {b["key"] for b in baseline.get("bypasses", [])}
        failing = [b for b in bypasses if b["key"] not in known]
    reasons += [f"bypass {b['key']}: {json.dumps(b['input'])[:200]}" for b in failing]
    if fail_on == "regression" and baseline is not None:
        old = baseline.get("by_family", {})
        for name, fam in report.get("by_family", {}).items():
            before = old.get(name, {}).get("success_rate", 0.0) if isinstance(old.get(name), Mapping) else 0.0
            if float(fam.get("success_rate", 0.0)) > float(before):
                reasons.append(f"regression in {name}: success rate {before:.1%} -> {fam['success_rate']:.1%}")
    if reasons:
        return GateResult(EXIT_FAIL, tuple(reasons))
    if incomplete or errors:
        why = [s["reason"] for s in incomplete] + ([f"{errors} case(s) failed at the target"] if errors else [])
        return GateResult(EXIT_INCOMPLETE, tuple(why))
    return GateResult(EXIT_PASS, ())


def require_clean(report_path: str, policy_path: str, policy_digest: str) -> None:
    """Refuse (``WardedError``) unless the report is for this very policy, is newer than the policy file,
    and has no open bypass. ``warded serve --require-redteam`` calls this before it starts."""
    report = load_report(report_path)
    if report["policy_sha256"] != policy_digest:
        raise WardedError(
            f"red-team report {report_path} is for another version of the policy "
            f"(sha256 {report['policy_sha256'][:12]}…, the policy is {policy_digest[:12]}…): run warded redteam again"
        )
    try:
        changed = os.stat(policy_path).st_mtime
    except OSError as exc:
        raise WardedError(f"cannot read policy {policy_path!r}: {exc.strerror}") from None
    if float(report["finished"]) < changed:
        raise WardedError(f"red-team report {report_path} is older than {policy_path}: run warded redteam again")
    incomplete = [s for s in report.get("skipped", []) if s.get("family") == "run"]
    if incomplete:
        raise WardedError(f"red-team report {report_path} is of an incomplete run: {incomplete[0]['reason']}")
    if report["bypasses"]:
        keys = ", ".join(b["key"] for b in report["bypasses"][:5])
        raise WardedError(f"red-team report {report_path} has {len(report['bypasses'])} open bypass(es): {keys}")


def require_clean_policy(report_path: str, policy_path: str) -> None:
    """:func:`require_clean` for the policy file at ``policy_path`` (loaded to compute its digest)."""
    from warded.policy.compile import load_policy  # noqa: PLC0415

    require_clean(report_path, policy_path, load_policy(policy_path).digest)
