"""``warded bench agentdojo``: AgentDojo's suites replayed through the gateway, without an LLM.

Needs the optional extra (``pip install 'warded[agentdojo]'``). See :mod:`warded.bench.agentdojo.replay` for the
method and :mod:`warded.bench.agentdojo.report` for the figures.
"""

from warded.bench.agentdojo._adapter import AgentDojoMissing
from warded.bench.agentdojo.replay import BENCHMARK_VERSION, DEFAULT_ATTACKS, SUITES, BenchmarkError
from warded.bench.agentdojo.report import TOTAL_KEYS, add_arguments, main, render_table, run_agentdojo, run_from_args

__all__ = [
    "BENCHMARK_VERSION",
    "DEFAULT_ATTACKS",
    "SUITES",
    "TOTAL_KEYS",
    "AgentDojoMissing",
    "BenchmarkError",
    "add_arguments",
    "main",
    "render_table",
    "run_agentdojo",
    "run_from_args",
]
