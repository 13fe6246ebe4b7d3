"""The CI gate over a run's report, and the check ``warded serve --require-redteam`` makes.

Exit codes (stable; ``docs/redteam.md``):

* ``0`` the gate passed;
* ``1`` the gate failed: bypasses as ``--fail-on`` counts them;
* ``2`` the run could not start: a bad policy, option, scenario or baseline file;
* ``3`` the run is incomplete: any attempt errored (the target was down, timed out, answered 401/404/429/
  5xx or without a verdict; an oracle or a plan failed), fewer plans ran than the run built, a plan did not
  finish, no case ran at all, the time limit was reached, or a report could not be written. Errors are
  not passes: nothing can be vouched for, so a CI job must not pass, and ``warded serve --require-redteam``
  refuses the report. A report that does not say how many attempts errored or were planned (an older or
  hand-made one) is incomplete too.

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


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _values(report: Mapping[str, Any], key: str) -> list[Any]:
    value = report.get(key)
    return list(value.values()) if isinstance(value, Mapping) else []


def incomplete_reasons(report: Mapping[str, Any]) -> list[str]:
    """Pure: why ``report`` cannot be vouched for (empty when it can). Errors are not passes."""
    skipped = report.get("skipped", [])
    if not isinstance(skipped, list):
        return ["the report's skipped list is malformed: not vouched for"]
    reasons = [str(s.get("reason", "")) for s in skipped if isinstance(s, Mapping) and s.get("family") == "run"]
    errors = _count(report.get("errors"))
    per_family = [_count(f.get("errors", 0)) if isinstance(f, Mapping) else None for f in _values(report, "by_family")]
    if None in per_family:
        reasons.append("the report's per-family error counts are malformed: not vouched for")
    family_errors = sum(n or 0 for n in per_family)
    planned = report.get("planned")
    plans = report.get("plans")
    cases = _count(report.get("cases"))
    if errors is None or not isinstance(planned, Mapping) or not isinstance(plans, list) or cases is None:
        return [*reasons, "the report does not say how many attempts errored or were planned: not vouched for"]
    if errors or family_errors:
        reasons.append(f"{max(errors, family_errors)} attempt(s) failed at the target: errors are not passes")
    want = _count(planned.get("plans"))
    if want is None or len(plans) < want:
        reasons.append(f"only {len(plans)} of {want} planned plan(s) ran")
    unfinished = [p.get("key", "?") for p in plans if not (isinstance(p, Mapping) and p.get("completed") is True)]
    if unfinished:
        reasons.append(f"{len(unfinished)} plan(s) did not finish: {', '.join(map(str, unfinished[:5]))}")
    if cases == 0:
        reasons.append("no case was run: nothing was attacked")
    return reasons


def judge(report: Mapping[str, Any], fail_on: FailOn = "any", baseline: Mapping[str, Any] | None = None) -> GateResult:
    """Pure: the gate's answer for ``report`` (and ``baseline``)."""
    reasons: list[str] = []
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
    incomplete = incomplete_reasons(report)
    if incomplete:
        return GateResult(EXIT_INCOMPLETE, tuple(incomplete))
    return GateResult(EXIT_PASS, ())


def require_clean(report_path: str, policy_path: str, policy_digest: str) -> None:
    """Refuse (``WardedError``) unless the report is for this very policy, is newer than the policy file,
    is complete (no errored attempt, every planned plan finished) and has no open bypass.
    ``warded serve --require-redteam`` calls this before it starts."""
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
    incomplete = incomplete_reasons(report)
    if incomplete:
        raise WardedError(f"red-team report {report_path} is of an incomplete run: {'; '.join(incomplete[:3])}")
    if report["bypasses"]:
        keys = ", ".join(b["key"] for b in report["bypasses"][:5])
        raise WardedError(f"red-team report {report_path} has {len(report['bypasses'])} open bypass(es): {keys}")


def require_clean_policy(report_path: str, policy_path: str) -> None:
    """:func:`require_clean` for the policy file at ``policy_path`` (loaded to compute its digest)."""
    from warded.policy.compile import load_policy  # noqa: PLC0415

    require_clean(report_path, policy_path, load_policy(policy_path).digest)
