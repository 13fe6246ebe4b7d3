"""The arguments of ``warded incident`` (imported by the CLI's parser: nothing heavy here)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="incident_cmd", required=True)
    p = sub.add_parser("create", help="a record from an audit range, an alert or a red-team finding")
    p.add_argument("--policy", default="warded.yaml")
    p.add_argument("--title", required=True)
    p.add_argument("--severity", choices=["low", "medium", "high", "critical"], default="medium")
    p.add_argument("--audit", default=None, metavar="FROM..TO", help="audit entry range (seq numbers)")
    p.add_argument("--alert", type=int, default=None, metavar="SEQ", help="an alert's audit entry")
    p.add_argument("--redteam", default=None, metavar="REPORT", help="a warded redteam JSON report")
    p.add_argument("--finding", default=None, help="the finding's key in the report (default: the first)")
    p.add_argument(
        "--indicator",
        action="append",
        default=[],
        metavar="KIND=VALUE",
        help="injection_signature, tool_digest, domain, model_sha256 or bypass_pattern (repeatable)",
    )
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("list", help="records, most recently updated first")
    p.add_argument("--policy", default="warded.yaml")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show", help="one record")
    p.add_argument("id")
    p.add_argument("--policy", default="warded.yaml")
    p = sub.add_parser("update", help="change a record's status (a timeline event)")
    p.add_argument("id")
    p.add_argument("--status", required=True, choices=["open", "investigating", "mitigated", "closed"])
    p.add_argument("--note", default="")
    p.add_argument("--policy", default="warded.yaml")
    p = sub.add_parser("export", help="the record as a signed OSV feed")
    p.add_argument("id")
    p.add_argument("--key", action="append", required=True, help="Ed25519 private key (warded keygen; repeatable)")
    p.add_argument("--out", default=None, help="write the feed here (default: stdout)")
    p.add_argument("--policy", default="warded.yaml")
    p = sub.add_parser("import", help="verify signed feeds (a file or folder) and enforce their indicators")
    p.add_argument("feed")
    p.add_argument("--trust", action="append", default=[], help="trusted public key (besides the approvers)")
    p.add_argument("--policy", default="warded.yaml")
