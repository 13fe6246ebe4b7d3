"""Report formats of a red-team run: JSON (the run's own object), SARIF 2.1.0, JUnit XML and HTML.

Every writer reads the JSON object (``RunResult.to_json()``), so a stored report can be rendered again.
"""

from warded.redteam.reports.html import render_html
from warded.redteam.reports.junit import render_junit
from warded.redteam.reports.sarif import SARIF_SCHEMA, render_sarif

__all__ = ["SARIF_SCHEMA", "render_html", "render_junit", "render_sarif"]
