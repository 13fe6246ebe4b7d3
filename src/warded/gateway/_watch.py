"""What issue 12 adds around the pipeline: the BOM bound to runtime, the behavioural monitor, telemetry.

* **Gather**: :meth:`Watch.refusal` denies a call to a tool the bound BOM does not list
  (``bom.out_of_manifest``, with an alert); :meth:`Watch.flagged` says whether an anomaly left the agent
  needing approval (``monitor.gate_flagged`` applies it, pure, in the decide phase). The flag is read from
  the shared state store on every call (SQLite file or Redis, where the pauses are), so every worker and
  replica sees it, and ``warded alerts clear`` lifts it for all of them.
* **Commit**: :meth:`Watch.observed` feeds the committed decision to the monitor; an anomaly becomes an alert
  (audit log, webhook, OpenTelemetry log) and, with ``on_anomaly: require_approval``, a flag of the agent in
  the state store (``agent_flagged``); with ``pause``, a pause of every session of the agent. The monitor
  only observes: if it fails, that is recorded (``monitor_error``) and the decision stands.
* **Alerts** from anywhere (the MCP and chat proxies too) go through :meth:`Watch.alert`.

Callers hold the gateway's lock around every method here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from warded.audit.log import AuditLog
from warded.config.monitor import OnAnomaly
from warded.core.types import Action, Decision, Verdict
from warded.errors import AuditError, StoreError
from warded.monitor.alerts import ALERT_KIND
from warded.monitor.monitor import RULE_ANOMALY, Monitor
from warded.monitor.signals import Observation, read_call, read_output
from warded.store.state import ALL_SESSIONS, StateStore
from warded.telemetry import DISABLED, Telemetry

if TYPE_CHECKING:
    from warded.bom.binding import BomBinding
    from warded.monitor.alerts import WebhookSender

__all__ = ["Watch"]


class Watch:
    def __init__(
        self,
        audit: AuditLog,
        state: StateStore,
        *,
        bom: BomBinding | None = None,
        monitor: Monitor | None = None,
        telemetry: Telemetry | None = None,
        webhook: WebhookSender | None = None,
    ) -> None:
        self.bom = bom
        self.monitor = monitor
        self.telemetry = telemetry if telemetry is not None else DISABLED
        self._audit = audit
        self._state = state
        self._webhook = webhook
        if monitor is not None:
            self._adopt_stored_flags(monitor, time.time())

    def _adopt_stored_flags(self, monitor: Monitor, now: float) -> None:
        """Flags an earlier version kept in the monitor's own table move to the state store (or the start
        fails): an upgrade never lifts a flag."""
        for agent in monitor.stored_flags:
            reason = "flagged by an anomaly before the flag moved to the state store"
            if self._state.flag(agent, reason, RULE_ANOMALY, now):
                self._audit.append("agent_flagged", {"agent_id": agent, "rule_id": RULE_ANOMALY, "reason": reason})
            monitor.forget_stored_flag(agent)
        monitor.stored_flags.clear()

    def started(self) -> dict[str, object]:
        """What the ``gateway_started`` entry says about this room (only what is on)."""
        out: dict[str, object] = {}
        if self.bom is not None:
            out["bom"] = {"path": self.bom.path, "serial": self.bom.serial}
        if self.monitor is not None:
            spec = self.monitor.spec
            out["monitor"] = {"baseline": spec.baseline, "window": spec.window, "on_anomaly": spec.on_anomaly.value}
            if self._webhook is not None:
                out["monitor"]["webhook"] = self._webhook.url  # type: ignore[index]
        if self.telemetry.enabled:
            out["telemetry"] = {"endpoint": self.telemetry.endpoint}
        return out

    # -- telemetry -----------------------------------------------------------------------------------

    def traced(self, action: object, check: Callable[[], Decision]) -> Decision:
        """``check()`` inside a ``warded.decide`` span (GenAI tool-call attributes), with the decision metrics."""
        with self.telemetry.span("warded.decide", _span_attributes(action)) as span:
            began = time.perf_counter()
            decision = check()
            if span is not None:
                span.set_attribute("warded.verdict", decision.verdict.value)
                span.set_attribute("warded.rule_ids", list(decision.rule_ids))
                span.set_attribute("warded.decision_id", decision.id)
            self.telemetry.decided(decision.verdict.value, time.perf_counter() - began)
            return decision

    # -- alerts --------------------------------------------------------------------------------------

    def alert(self, body: Mapping[str, Any]) -> None:
        """Record an alert (raises ``AuditError`` if it cannot be), then send it on (best effort)."""
        self._audit.append(ALERT_KIND, body)
        self.telemetry.alert(body)
        if self._webhook is not None:
            self._webhook.send(body)

    # -- gather ----------------------------------------------------------------------------------------

    def refusal(self, action: Action) -> Decision | None:
        if self.bom is None:
            return None
        reason = self.bom.check_tool(action.tool)
        if reason is None:
            return None
        self.alert(
            {
                "rule_id": reason.rule_id,
                "agent_id": action.agent_id,
                "session_id": action.session_id,
                "tool": action.tool,
                "message": f"agent {action.agent_id}: {reason.message}",
            }
        )
        return Decision(Verdict.DENY, (reason,))

    def flagged(self, agent_id: str) -> bool:
        """Whether an anomaly left ``agent_id`` needing approval: the state store's answer, read now (raises
        ``StoreError``; the gateway then denies)."""
        return self.monitor is not None and self._state.flagged(agent_id) is not None

    # -- commit ----------------------------------------------------------------------------------------

    def observed(self, action: Action, decision: Decision, findings: int, now: float) -> None:
        if self.monitor is None:
            return
        try:
            obs = read_call(
                action.agent_id, action.session_id, action.tool, action.arguments, decision.verdict.value, now, findings
            )
        except (ValueError, TypeError) as exc:
            self._record_failure(action.agent_id, exc)
            return
        self._watch(obs, decision.id, now)

    def observed_output(  # noqa: PLR0917 - one model completion's facts
        self, agent_id: str, session_id: str, now: float, refused: bool, findings: int, blocked: bool
    ) -> None:
        if self.monitor is not None:
            self._watch(read_output(agent_id, session_id, now, refused, findings, blocked), "", now)

    def _watch(self, obs: Observation, decision_id: str, now: float) -> None:
        assert self.monitor is not None  # callers check
        try:
            anomaly = self.monitor.observe(obs)
        except (StoreError, ValueError, TypeError) as exc:
            self._record_failure(obs.agent_id, exc)
            return
        if anomaly is None:
            return
        on = self.monitor.spec.on_anomaly
        body: dict[str, Any] = {
            "rule_id": RULE_ANOMALY,
            "agent_id": anomaly.agent_id,
            "session_id": anomaly.session_id,
            "message": anomaly.message,
            "signals": {k: dict(v) for k, v in anomaly.signals.items()},
            "calls": anomaly.calls,
            "on_anomaly": on.value,
            "decision": decision_id,
        }
        self.alert(body)
        if on is OnAnomaly.REQUIRE_APPROVAL:
            try:
                if self._state.flag(anomaly.agent_id, anomaly.message, RULE_ANOMALY, now):
                    self._audit.append(
                        "agent_flagged",
                        {
                            "agent_id": anomaly.agent_id,
                            "rule_id": RULE_ANOMALY,
                            "reason": anomaly.message,
                            "by": "monitor",
                        },
                    )
            except StoreError as exc:
                self._record_failure(anomaly.agent_id, exc)
        if on is OnAnomaly.PAUSE:
            try:
                if self._state.pause(anomaly.agent_id, ALL_SESSIONS, anomaly.message, RULE_ANOMALY, now):
                    self._audit.append(
                        "session_paused",
                        {
                            "agent_id": anomaly.agent_id,
                            "session_id": ALL_SESSIONS,
                            "rule_id": RULE_ANOMALY,
                            "reason": anomaly.message,
                            "by": "monitor",
                        },
                    )
            except StoreError as exc:
                self._record_failure(anomaly.agent_id, exc)

    def _record_failure(self, agent_id: str, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {str(exc)[:200]}"
        try:
            self._audit.append("monitor_error", {"agent_id": agent_id, "error": message})
        except AuditError:
            print(f"warded: monitor error not recorded: {message}", file=sys.stderr)

    def close(self, now: float) -> None:
        if self.monitor is not None:
            self.monitor.close(now)
        if self._webhook is not None:
            self._webhook.close()
        self.telemetry.shutdown()


def _span_attributes(action: object) -> dict[str, str]:
    """GenAI semantic-convention attributes of a tool call (``gen_ai.*``)."""
    if not isinstance(action, Action):
        return {}
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": str(action.tool),
        "gen_ai.tool.type": "function",
        "gen_ai.agent.id": str(action.agent_id),
        "gen_ai.conversation.id": str(action.session_id),
    }
