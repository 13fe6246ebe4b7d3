"""The options of ``warded bench agentdojo``: light enough for the CLI to build its parser without AgentDojo."""

from __future__ import annotations

import argparse

__all__ = [
    "BENCHMARK_VERSION",
    "DEFAULT_ATTACKS",
    "GOAL_ALIASES",
    "GOAL_CHOICES",
    "GOAL_LABELS",
    "GOAL_SETS",
    "NOVEL_WORDINGS",
    "SUITES",
    "add_arguments",
    "goal_sets_for",
]

SUITES = ("workspace", "travel", "banking", "slack")
DEFAULT_ATTACKS = ("important_instructions", "tool_knowledge", "ignore_previous")
BENCHMARK_VERSION = "v1.2.2"
#: The development goals' own attack wordings (``warded.bench.agentdojo.novel.WORDINGS``), replayed beside
#: AgentDojo's three.
NOVEL_WORDINGS = ("note_from_owner", "service_notice")

#: The goal sets, each reported in rows of its own (``warded.bench.agentdojo.goalsets``).
GOAL_SETS = ("agentdojo", "development", "heldout")
#: Older names: the development goals were first called the independent (``novel``) goals.
GOAL_ALIASES = {"novel": "development"}
#: ``--goals`` values that name several sets.
_GROUPS = {"both": ("agentdojo", "development"), "all": GOAL_SETS}
GOAL_CHOICES = (*GOAL_SETS, *GOAL_ALIASES, *_GROUPS)
GOAL_LABELS = {
    "agentdojo": "AgentDojo's injection tasks",
    "development": "development goals (novel.py: a rule was added after seeing them)",
    "heldout": "held-out goals (heldout.py: an independent red-teamer, measured once)",
}


def goal_sets_for(choice: str) -> tuple[str, ...]:
    """The goal sets a ``--goals`` value names, aliases resolved."""
    if choice in _GROUPS:
        return _GROUPS[choice]
    return (GOAL_ALIASES.get(choice, choice),)


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
        "--guard",
        choices=("off", "on", "both"),
        default="both",
        help="the content guard as the policy file loads it: off, on, or both as two labelled rows (default)",
    )
    parser.add_argument("--content-guard", action="store_true", help="the same as --guard on")
    parser.add_argument(
        "--goals",
        choices=GOAL_CHOICES,
        default="all",
        help="AgentDojo's injection tasks, the development goals (alias: novel), the held-out goals, both (AgentDojo's"
        " and the development goals) or all three (default); each set is reported in rows of its own",
    )
    parser.add_argument(
        "--no-plan",
        action="store_true",
        help="the replay agent declares no plan (no plan lock unless the policy sets one)",
    )
    parser.add_argument(
        "--no-sources",
        action="store_true",
        help="the plan names the user task's tools only, no argument sources (derived from the ground truth)",
    )
    parser.add_argument(
        "--stride", type=int, default=1, help="replay one (user task, goal) pair in n, every goal alike (a sample)"
    )
    parser.add_argument("--progress", action="store_true", help="report progress on standard error")
