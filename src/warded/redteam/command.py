"""``warded redteam``: run, write the reports, record the run where asked, and answer with the gate's code.

The CLI parses arguments and calls :func:`main_from_args`; everything else is here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from warded.errors import WardedError
from warded.redteam import gate
from warded.redteam.reports import render_html, render_junit, render_sarif
from warded.redteam.runner import Options, run


def _keys(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        agent, sep, key = pair.partition("=")
        if not sep or not agent or not key:
            raise WardedError(f"--api-key wants AGENT=KEY, got {pair.split('=')[0]!r}=…")
        out[agent] = key
    return out


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def metrics_text(report: Mapping[str, Any]) -> str:
    """Prometheus text exposition (for node_exporter's textfile collector or a Pushgateway)."""
    lines = [
        "# HELP warded_redteam_cases Generated attack cases in the last red-team run.",
        "# TYPE warded_redteam_cases gauge",
        f"warded_redteam_cases {report['cases']}",
        "# HELP warded_redteam_bypasses Open bypasses found by the last red-team run.",
        "# TYPE warded_redteam_bypasses gauge",
        f"warded_redteam_bypasses {len(report['bypasses'])}",
        "# HELP warded_redteam_errors Attempts the target did not judge in the last red-team run.",
        "# TYPE warded_redteam_errors gauge",
        f"warded_redteam_errors {report['errors']}",
        "# HELP warded_redteam_last_run_timestamp_seconds When the last red-team run finished.",
        "# TYPE warded_redteam_last_run_timestamp_seconds gauge",
        f"warded_redteam_last_run_timestamp_seconds {report['finished']:.3f}",
        "# HELP warded_redteam_success_rate Attack success rate by family in the last red-team run.",
        "# TYPE warded_redteam_success_rate gauge",
    ]
    for name, fam in sorted(report["by_family"].items()):
        lines.append(f'warded_redteam_success_rate{{family="{name}"}} {fam["success_rate"]}')
    return "\n".join(lines) + "\n"


def record_in_audit(policy: str, report: Mapping[str, Any]) -> int:
    """Append a ``redteam_run`` entry (summary, bypass keys) to the deployment's own audit log."""
    from warded.gateway.gateway import Gateway  # noqa: PLC0415

    gw = Gateway.from_file(policy)
    try:
        return gw.record_event(
            "redteam_run",
            {
                "target": report["target"],
                "policy_sha256": report["policy_sha256"],
                "cases": report["cases"],
                "bypasses": [b["key"] for b in report["bypasses"]],
                "evasions": len(report["evasions"]),
                "by_family": {k: v["success_rate"] for k, v in report["by_family"].items()},
            },
        )
    finally:
        gw.close()


def summary(report: Mapping[str, Any]) -> str:
    lines = [
        f"warded redteam: {report['cases']} cases in {report['duration_s']} s "
        f"({report['cases_per_s']} cases/s) against {report['target']}",
        f"{'family':<10} {'cases':>6} {'attacks':>8} {'through':>8} {'success':>8} {'errors':>7}",
    ]
    for name, fam in report["by_family"].items():
        lines.append(
            f"{name:<10} {fam['cases']:>6} {fam['attacks']:>8} {fam['successes']:>8} {fam['success_rate']:>8.1%}"
            f" {fam['errors']:>7}"
        )
    if report["errors"]:
        lines.append(f"ERRORS: {report['errors']} attempt(s) failed at the target: the run is incomplete")
    for kind in ("bypasses", "evasions"):
        for f in report[kind]:
            where = f" ({f['policy_file']}:{f['policy_line']})" if f.get("policy_file") else ""
            label = "BYPASS" if kind == "bypasses" else "EVASION"
            lines.append(f"{label} {f['key']}{where}: {json.dumps(f['input'])[:160]}")
    for s in report["skipped"]:
        lines.append(f"not attacked: {s['family']} {s['where']}: {s['reason']}")
    return "\n".join(lines)


def main_from_args(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        baseline = gate.load_report(args.baseline) if args.baseline else None
        options = Options(
            policy=args.policy,
            target=args.target,
            api_keys=_keys(args.api_key),
            families=tuple(args.family),
            budget=args.budget,
            seed=args.seed,
            time_limit_s=args.time_limit,
            tool_cwd=args.tool_cwd,
            uri_paths=args.uri_paths,
            verify_cmd=args.verify_cmd,
            audit_db=args.audit_db,
            audit_pub=args.audit_pub,
            corpus_wheels=args.corpus_wheels,
            scenarios=tuple(args.scenarios),
            chat_url=args.chat,
            chat_key=args.chat_key,
            chat_model=args.chat_model,
            agentdojo=tuple(s for s in (args.agentdojo or "").split(",") if s),
            agentdojo_limit=args.agentdojo_limit,
            progress=err,
        )
        if options.budget < 1:
            raise WardedError("--budget must be at least 1")
        result = run(options)
    except WardedError as exc:
        print(f"warded redteam: {exc.diagnostics()}", file=err)
        return gate.EXIT_USAGE
    report = result.to_json()
    text = json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False)
    try:
        if args.out:
            _write(args.out, text + "\n")
        if args.sarif:
            _write(args.sarif, json.dumps(render_sarif(report), indent=2, ensure_ascii=False) + "\n")
        if args.junit:
            _write(args.junit, render_junit(report))
        if args.html:
            _write(args.html, render_html(report, baseline))
        if args.metrics_file:
            _write(args.metrics_file, metrics_text(report))
    except OSError as exc:  # a report CI cannot read vouches for nothing
        print(f"warded redteam: could not write a report: {exc}", file=err)
        return gate.EXIT_INCOMPLETE
    if args.record:
        try:
            record_in_audit(args.policy, report)
        except WardedError as exc:
            print(f"warded redteam: could not record the run in the audit log: {exc.diagnostics()}", file=err)
            return gate.EXIT_INCOMPLETE
    print(text if args.json else summary(report), file=out)
    verdict = gate.judge(report, args.fail_on, baseline)
    for reason in verdict.reasons:
        print(f"gate: {reason}", file=err)
    return verdict.code
