"""SARIF 2.1.0: one result per finding, located at the policy file line of the constraint it beat, so
code-scanning UIs (GitHub, GitLab, VS Code's SARIF viewer) show it on the policy. Validated against the
official schema (``schemas/sarif-2.1.0-rtm.5.json``, vendored) by the tests and by ``validate_sarif``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0-rtm.5.json"


def schema() -> dict[str, Any]:
    text = resources.files("warded.redteam.reports").joinpath("schemas/sarif-2.1.0-rtm.5.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _uri(path: str, base: str | None) -> str:
    """A relative URI when the file is under ``base`` (the repository), else an absolute ``file://`` one."""
    absolute = os.path.abspath(path)
    root = os.path.abspath(base or os.getcwd())
    if absolute.startswith(root + os.sep):
        return os.path.relpath(absolute, root).replace(os.sep, "/")
    return "file://" + absolute


def _rule_id(finding: Mapping[str, Any]) -> str:
    return f"warded.redteam.{finding['family']}.{finding['technique']}"


def render_sarif(report: Mapping[str, Any], *, base: str | None = None) -> dict[str, Any]:
    findings = [*report.get("bypasses", []), *report.get("evasions", [])]
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in findings:
        rid = _rule_id(f)
        bypass = f["kind"] == "bypass"
        rules.setdefault(
            rid,
            {
                "id": rid,
                "name": f"{f['family']}/{f['technique']}",
                "shortDescription": {"text": f"{f['family']} attack ({f['technique']}) got through"},
                "fullDescription": {
                    "text": "A generated attack the oracle judged to break the policy's intent was allowed."
                    if bypass
                    else "An injection the content guard should flag was delivered unflagged."
                },
                "defaultConfiguration": {"level": "error" if bypass else "warning"},
                "properties": {"family": f["family"], "kind": f["kind"]},
            },
        )
        message = (
            f"{f['family']} {'bypass' if bypass else 'evasion'} ({f['technique']}) of {f['rule'] or 'the policy'}: "
            f"agent {f['agent']!r}, tool {f['tool']!r}, argument {f['argument']!r}; smallest input that got "
            f"through: {json.dumps(f['input'], ensure_ascii=False)[:500]}"
        )
        result: dict[str, Any] = {
            "ruleId": rid,
            "level": "error" if bypass else "warning",
            "message": {"text": message},
            "partialFingerprints": {"wardedFinding/v1": f["key"]},
            "properties": {"input": f["input"], "shrunk": f["shrunk"], "constraint": f["rule"]},
        }
        if f.get("policy_file"):
            result["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f["policy_file"], base)},
                        "region": {"startLine": max(1, int(f.get("policy_line") or 1))},
                    }
                }
            ]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "warded-redteam",
                        "version": str(report.get("warded_version", "")),
                        "informationUri": "https://github.com/warded/warded/blob/main/docs/redteam.md",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
                "properties": {
                    "cases": report.get("cases"),
                    "cases_per_s": report.get("cases_per_s"),
                    "by_family": report.get("by_family"),
                    "policy_sha256": report.get("policy_sha256"),
                },
            }
        ],
    }


def validate_sarif(document: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` is valid SARIF 2.1.0."""
    import jsonschema  # noqa: PLC0415

    jsonschema.Draft4Validator(schema()).validate(document)
