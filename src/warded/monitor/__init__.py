"""Behavioural monitoring: per-agent baselines and fingerprints, online anomaly tests, alerts.

See :mod:`warded.monitor.detector` for the statistics and docs/monitoring.md for the operator's view.
"""

from warded.monitor.detector import AgentModel, Anomaly
from warded.monitor.monitor import RULE_ANOMALY, Monitor, gate_flagged
from warded.monitor.signals import Observation, read_call, read_output

__all__ = [
    "RULE_ANOMALY",
    "AgentModel",
    "Anomaly",
    "Monitor",
    "Observation",
    "gate_flagged",
    "read_call",
    "read_output",
]
