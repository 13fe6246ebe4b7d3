"""The monitor of one gateway: an :class:`AgentModel` per agent, a fingerprint per session, and their
persistence. The gateway feeds it every decision before recording it (:meth:`observe`).

What an anomaly leaves behind (an agent flagged as needing approval, or paused) is not kept here but in
the shared state store, where every worker and replica reads it on the decision path and ``warded alerts
clear`` lifts it (``gateway/_watch.py``).
"""

from __future__ import annotations

import sys
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from warded.config.monitor import MonitorSpec
from warded.core.types import Decision, Reason, Tier, Verdict
from warded.errors import StoreError
from warded.monitor.detector import AgentModel, Anomaly
from warded.monitor.signals import Observation
from warded.monitor.store import SAVE_EVERY, MonitorStore

__all__ = [
    "MAX_SESSIONS",
    "RULE_ANOMALY",
    "RULE_BASELINE_UNREADABLE",
    "RULE_UNRECORDED",
    "Monitor",
    "SessionPrint",
    "UnsavedState",
    "gate_flagged",
]

RULE_ANOMALY = "monitor.anomaly"
#: The DENY of a call whose observation the monitor could not record (its state, an anomaly's alert, flag or
#: pause): the gateway fails closed rather than lose an anomaly.
RULE_UNRECORDED = "monitor.unrecorded"
#: The alert for a stored baseline that cannot be read: the agent is learnt again, unmonitored meanwhile.
RULE_BASELINE_UNREADABLE = "monitor.baseline_unreadable"
MAX_SESSIONS = 1000  # session fingerprints kept in memory, least recently used dropped first
_PLACES = 1000


@dataclass(slots=True)
class SessionPrint:
    """A session's fingerprint: its calls, tool mix, verdicts and the places it touched (in memory only)."""

    calls: int = 0
    tools: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    findings: int = 0
    places: dict[str, set[str]] = field(default_factory=lambda: {"dirs": set(), "domains": set(), "recipients": set()})
    first_at: float = 0.0
    last_at: float = 0.0

    def add(self, obs: Observation) -> None:
        if self.calls == 0:
            self.first_at = obs.at
        self.calls += 1
        self.last_at = obs.at
        self.tools[obs.tool] += 1
        self.verdicts[obs.verdict] += 1
        self.findings += obs.findings
        for name, values in (("dirs", obs.dirs), ("domains", obs.domains), ("recipients", obs.recipients)):
            target = self.places[name]
            if len(target) < _PLACES:
                target.update(values)

    def to_json(self) -> dict[str, Any]:
        span = self.last_at - self.first_at
        return {
            "calls": self.calls,
            "tool_mix": dict(self.tools.most_common(20)),
            "verdicts": dict(self.verdicts),
            "findings": self.findings,
            "distinct": {k: len(v) for k, v in self.places.items()},
            "calls_per_minute": round(self.calls / (span / 60.0), 3) if span > 0 else None,
        }


class UnsavedState(StoreError):
    """The model could not be saved after an observation. ``anomaly`` is what that observation found (it is
    not lost: the caller still alerts on it and holds the agent)."""

    def __init__(self, message: str, anomaly: Anomaly | None) -> None:
        super().__init__(message)
        self.anomaly = anomaly


class Monitor:
    """Per-agent baselines and anomaly tests (``monitor:`` in the policy). Thread-safe."""

    def __init__(self, spec: MonitorSpec, store: MonitorStore | None = None) -> None:
        self.spec = spec
        self._store = store
        self._lock = threading.Lock()
        self._agents: dict[str, AgentModel] = {}
        #: Agents an older warded flagged in the monitor's own table; the gateway moves them to the state store.
        self.stored_flags: list[str] = []
        #: Agents whose stored baseline could not be read (and why): learnt again; the gateway alerts on them.
        self.unreadable: list[tuple[str, str]] = []
        self._sessions: OrderedDict[tuple[str, str], SessionPrint] = OrderedDict()
        self._unsaved: dict[str, int] = {}
        if store is not None:
            for agent, (data, flagged) in store.load().items():
                if flagged:
                    self.stored_flags.append(agent)
                why = "not JSON"
                if data is not None:
                    try:
                        self._agents[agent] = AgentModel.from_json(
                            data, window=spec.window, alpha=spec.alpha, baseline=spec.baseline
                        )
                        continue
                    except (KeyError, TypeError, ValueError, AttributeError) as exc:
                        why = f"{type(exc).__name__}: {str(exc)[:200]}"
                self.unreadable.append((agent, why))
                print(
                    f"warded: the stored monitor baseline of {agent!r} is unreadable ({why}); learning again",
                    file=sys.stderr,
                )

    def observe(self, obs: Observation) -> Anomaly | None:
        """Fold one decided call in; an anomaly to alert on, or ``None``. Raises :class:`UnsavedState` (with
        the anomaly, if any) when the model could not be saved; the save is tried again on the next call."""
        with self._lock:
            model = self._agents.get(obs.agent_id)
            if model is None:
                model = self._agents[obs.agent_id] = AgentModel(
                    obs.agent_id, self.spec.baseline, self.spec.window, self.spec.alpha
                )
            key = (obs.agent_id, obs.session_id)
            session = self._sessions.get(key)
            if session is None:
                session = self._sessions[key] = SessionPrint()
                if len(self._sessions) > MAX_SESSIONS:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(key)
            session.add(obs)
            was_learning = model.learning
            anomaly = model.observe(obs)
            unsaved = self._unsaved.get(obs.agent_id, 0) + 1
            save = anomaly is not None or (was_learning and not model.learning) or unsaved >= SAVE_EVERY
            self._unsaved[obs.agent_id] = unsaved
            if save and self._store is not None:
                try:
                    self._store.save(obs.agent_id, model.to_json(), obs.at)
                except StoreError as exc:
                    self._unsaved[obs.agent_id] = SAVE_EVERY  # try again on the next call
                    raise UnsavedState(str(exc), anomaly) from exc
            if save:
                self._unsaved[obs.agent_id] = 0
            return anomaly

    def fingerprint(self, agent_id: str, session_id: str | None = None) -> dict[str, Any] | None:
        with self._lock:
            if session_id is not None:
                session = self._sessions.get((agent_id, session_id))
                return (
                    None if session is None else {"agent_id": agent_id, "session_id": session_id, **session.to_json()}
                )
            model = self._agents.get(agent_id)
            if model is None:
                return None
            return model.fingerprint()

    def forget_stored_flag(self, agent_id: str) -> None:
        """The flag an older warded kept in the monitor's table is in the state store now: clear it here."""
        with self._lock:
            if self._store is not None:
                self._store.clear_flag(agent_id)

    def save_all(self, at: float) -> None:
        """Save every model with unsaved calls. Raises ``StoreError`` (what was not saved stays unsaved)."""
        with self._lock:
            if self._store is None:
                return
            for agent, unsaved in self._unsaved.items():
                model = self._agents.get(agent)
                if unsaved and model is not None:
                    self._store.save(agent, model.to_json(), at)
                    self._unsaved[agent] = 0

    def close(self, at: float) -> None:
        """Save every model with unsaved calls, then close the store."""
        try:
            self.save_all(at)
        except StoreError as exc:
            print(f"warded: could not save the monitor baselines: {exc}", file=sys.stderr)
        finally:
            with self._lock:
                if self._store is not None:
                    self._store.close()
                    self._store = None


def gate_flagged(decision: Decision, *, flagged: bool, approved: bool) -> Decision:
    """Pure: an allowed non-read call of an agent an anomaly flagged (``on_anomaly: require_approval``)
    needs a human instead, unless this very call comes with a valid approval."""
    if not flagged or approved or decision.verdict is not Verdict.ALLOW or decision.tier is Tier.READ:
        return decision
    reason = Reason(
        RULE_ANOMALY,
        "this agent's behaviour changed (see `warded alerts list`): every non-read call needs approval "
        "until an operator clears it (`warded alerts clear AGENT`)",
    )
    return Decision(Verdict.REQUIRE_APPROVAL, (reason,), decision.tier, decision.obligations, decision.effects)
