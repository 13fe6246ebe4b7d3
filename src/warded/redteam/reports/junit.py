"""JUnit XML: one test suite per attack family, one test case per plan; a case that got through is a
``<failure>`` (bypasses) or, for content evasions, a failure too (CI systems show both). A plan whose
attempts errored, or that did not finish, is an ``<error>``; so is each reason the run is incomplete
(a target that failed on the baseline calls, the time limit), in a ``redteam.run`` suite: errors are
not passes. Written with ``xml.etree``, so names and inputs are escaped by the library."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any


def render_junit(report: Mapping[str, Any]) -> str:
    findings: dict[str, list[Mapping[str, Any]]] = {}
    for f in [*report.get("bypasses", []), *report.get("evasions", [])]:
        plan_key = f"{f['family']}:{f['agent']}:{f['tool']}:{f['argument']}"
        findings.setdefault(plan_key, []).append(f)
    families: dict[str, list[Mapping[str, Any]]] = {}
    for plan in report.get("plans", []):
        families.setdefault(plan["family"], []).append(plan)
    run_errors = [s for s in report.get("skipped", []) if s.get("family") == "run"]
    errored = sum(1 for p in report.get("plans", []) if _errored(p))
    root = ET.Element(
        "testsuites",
        name="warded-redteam",
        tests=str(sum(len(p) for p in families.values()) + len(run_errors)),
        failures=str(sum(len(v) for v in findings.values())),
        errors=str(errored + len(run_errors)),
        time=f"{float(report.get('duration_s', 0.0)):.3f}",
    )
    if run_errors:
        suite = ET.SubElement(
            root, "testsuite", name="redteam.run", tests=str(len(run_errors)), failures="0", errors=str(len(run_errors))
        )
        for s in run_errors:
            case = ET.SubElement(suite, "testcase", classname="redteam.run", name=str(s.get("where", "run")))
            ET.SubElement(case, "error", type="incomplete", message=str(s.get("reason", ""))[:300])
    for family, plans in sorted(families.items()):
        failed = [p for p in plans if p["key"] in findings]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"redteam.{family}",
            tests=str(len(plans)),
            failures=str(len(failed)),
            errors=str(sum(1 for p in plans if _errored(p))),
        )
        for plan in plans:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"redteam.{family}",
                name=f"{plan['key']} ({plan['cases']} cases, {plan['attacks']} attacks)",
            )
            for f in findings.get(plan["key"], []):
                failure = ET.SubElement(
                    case, "failure", type=f["kind"], message=f"{f['technique']}: {f['kind']} of {f['rule']}"
                )
                where = f" at {f['policy_file']}:{f['policy_line']}" if f.get("policy_file") else ""
                failure.text = f"smallest input{where}: {json.dumps(f['input'])}"
            if _errored(plan):
                ET.SubElement(
                    case,
                    "error",
                    type="target_error",
                    message=f"{plan.get('errors', 0)} attempt(s) errored"
                    + ("" if plan.get("completed") is True else "; the plan did not finish"),
                )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _errored(plan: Mapping[str, Any]) -> bool:
    return bool(plan.get("errors")) or plan.get("completed") is not True
