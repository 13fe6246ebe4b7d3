"""The options of ``warded bench agentdojo``: light enough for the CLI to build its parser without AgentDojo."""

from __future__ import annotations

import argparse

__all__ = ["BENCHMARK_VERSION", "DEFAULT_ATTACKS", "SUITES", "add_arguments"]

SUITES = ("workspace", "travel", "banking", "slack")
DEFAULT_ATTACKS = ("important_instructions", "tool_knowledge", "ignore_previous")
BENCHMARK_VERSION = "v1.2.2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``warded bench agentdojo`` (for wiring into a parent parser)."""
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--suite", action="append", choices=SUITES, help="a suite to replay (repeatable; default all)")
    parser.add_argument(
        "--attack", action="append", help=f"an attack (repeatable; default {', '.join(DEFAULT_ATTACKS)})"
    )
    parser.add_argument("--limit", type=int, default=None, help="first N user tasks and N injection tasks per suite")
    parser.add_argument("--benchmark-version", default=BENCHMARK_VERSION)
    parser.add_argument("--policy-dir", default=None, help="directory with <suite>.yaml (default examples/agentdojo)")
    parser.add_argument(
        "--content-guard",
        action="store_true",
        help="also run the content guard's scanners (tuned with AgentDojo's templates, so not independent)",
    )
    parser.add_argument("--progress", action="store_true", help="report progress on standard error")
