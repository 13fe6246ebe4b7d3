"""JUnit XML: one test suite per attack family, one test case per plan; a case that got through is a
``<failure>`` (bypasses) or, for content evasions, a failure too (CI systems show both). Written with
``xml.etree``, so names and inputs are escaped by the library."""

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
    root = ET.Element(
        "testsuites",
        name="warded-redteam",
        tests=str(sum(len(p) for p in families.values())),
        failures=str(sum(len(v) for v in findings.values())),
        time=f"{float(report.get('duration_s', 0.0)):.3f}",
    )
    for family, plans in sorted(families.items()):
        failed = [p for p in plans if p["key"] in findings]
        suite = ET.SubElement(
            root, "testsuite", name=f"redteam.{family}", tests=str(len(plans)), failures=str(len(failed)), errors="0"
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
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
