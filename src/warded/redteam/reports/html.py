"""A self-contained HTML report: attack success by family as an inline SVG bar chart (against the
baseline's rate when one is given), the findings with the smallest inputs, what was skipped. No script, no
external stylesheet, font or CDN: it opens offline and passes a strict Content-Security-Policy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

_W, _BAR, _GAP, _LABEL = 640, 16, 10, 120


def _chart(by_family: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> str:
    names = sorted(by_family)
    rows = 2 if baseline else 1
    height = len(names) * (rows * _BAR + _GAP) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" role="img" '
        'aria-label="attack success rate by family">'
    ]
    y = 10
    span = _W - _LABEL - 70
    for name in names:
        fam = by_family[name]
        rate = float(fam.get("success_rate", 0.0))
        out.append(f'<text x="0" y="{y + _BAR - 3}" font-size="12">{escape(name)}</text>')
        out.append(
            f'<rect x="{_LABEL}" y="{y}" width="{max(1.0, span * rate):.1f}" height="{_BAR}" fill="#c0392b">'
            f"<title>{escape(name)}: {fam.get('successes', 0)}/{fam.get('attacks', 0)}</title></rect>"
        )
        out.append(
            f'<text x="{_LABEL + span * rate + 6:.1f}" y="{y + _BAR - 3}" font-size="11">{rate:.1%} '
            f"({fam.get('successes', 0)}/{fam.get('attacks', 0)})</text>"
        )
        y += _BAR
        if baseline:
            old = baseline.get(name, {})
            old_rate = float(old.get("success_rate", 0.0)) if isinstance(old, Mapping) else 0.0
            out.append(
                f'<rect x="{_LABEL}" y="{y}" width="{max(1.0, span * old_rate):.1f}" height="{_BAR}" '
                f'fill="#95a5a6"><title>baseline {escape(name)}: {old_rate:.1%}</title></rect>'
            )
            out.append(
                f'<text x="{_LABEL + span * old_rate + 6:.1f}" y="{y + _BAR - 3}" font-size="11" fill="#555">'
                f"baseline {old_rate:.1%}</text>"
            )
            y += _BAR
        y += _GAP
    out.append(f'<text x="{_LABEL}" y="{height - 5}" font-size="11" fill="#555">red: this run')
    out.append(", grey: baseline</text>" if baseline else "</text>")
    out.append("</svg>")
    return "".join(out)


def _findings(rows: list[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    out = ["<table><tr><th>family</th><th>technique</th><th>agent / tool / argument</th>"
           "<th>policy line</th><th>smallest input</th></tr>"]  # fmt: skip
    for f in rows:
        where = f"{escape(str(f.get('policy_file', '')))}:{f.get('policy_line', '')}" if f.get("policy_file") else ""
        out.append(
            f"<tr><td>{escape(f['family'])}</td><td>{escape(f['technique'])}</td>"
            f"<td>{escape(f['agent'])} / {escape(f['tool'])} / {escape(f['argument'])}</td><td>{where}</td>"
            f"<td><code>{escape(json.dumps(f['input']))}</code></td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def render_html(report: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> str:
    by_family = report.get("by_family", {})
    base_fams = baseline.get("by_family") if baseline else None
    skipped = "".join(
        f"<li>{escape(s['family'])} — {escape(s['where'])}: {escape(s['reason'])}</li>"
        for s in report.get("skipped", [])
    )
    title = f"warded red-team report: {escape(str(report.get('policy', '')))}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{title}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
        "code{word-break:break-all}</style></head><body>"
        f"<h1>{title}</h1>"
        f"<p>Target {escape(str(report.get('target', '')))}; policy sha256 "
        f"<code>{escape(str(report.get('policy_sha256', '')))}</code>; {report.get('cases', 0)} cases in "
        f"{report.get('duration_s', 0)} s ({report.get('cases_per_s', 0)} cases/s); seed {report.get('seed', 0)}.</p>"
        f"<p><strong>{len(report.get('bypasses', []))} bypass(es)</strong>, "
        f"{len(report.get('evasions', []))} content evasion(s).</p>"
        "<h2>Attack success by family</h2>"
        + _chart(by_family, base_fams if isinstance(base_fams, Mapping) else None)
        + "<h2>Bypasses</h2>"
        + _findings(report.get("bypasses", []))
        + "<h2>Content evasions</h2>"
        + _findings(report.get("evasions", []))
        + f"<h2>Not attacked</h2><ul>{skipped or '<li>nothing</li>'}</ul></body></html>\n"
    )
