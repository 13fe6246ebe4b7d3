"""What issue 12 adds around the pipeline: the BOM bound to runtime, the behavioural monitor, telemetry.

* **Gather**: :meth:`Watch.refusal` denies a call to a tool the bound BOM does not list
  (``bom.out_of_manifest``, with an alert); :meth:`Watch.flagged` says whether an anomaly left the agent
  needing approval (``monitor.gate_flagged`` applies it, pure, in the decide phase). The flag is read from
  the shared state store on every call (SQLite file or Redis, where the pauses are), so every worker and
  replica sees it, and ``warded alerts clear`` lifts it for all of them.
* **Commit**: :meth:`Watch.observed` feeds the decision to the monitor before it is recorded; an anomaly
  leaves, with ``on_anomaly: require_approval``, a flag of the agent in the state store (``agent_flagged``),
  with ``pause`` a pause of every session of the agent, and an alert (audit log, webhook, OpenTelemetry
  log), which the decision entry names (``monitor_alert``).
* **Failing closed**: when the monitor fails, its state cannot be saved, or an anomaly's flag, pause or
  alert cannot be recorded, that is recorded (``monitor_error``) and the call is a DENY
  (``monitor.unrecorded``). An anomaly not fully recorded is kept by this worker and tried again on each
  call of the agent, which :meth:`Watch.held` denies until it is recorded.
* **Alerts** from anywhere (the MCP and chat proxies too) go through :meth:`Watch.alert`.

Callers hold the gateway's lock around every method here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from warded.audit.log import AuditLog
from warded.config.monitor import OnAnomaly
from warded.core.types import Action, Decision, Verdict, deny
from warded.monitor.alerts import ALERT_KIND
from warded.monitor.monitor import RULE_ANOMALY, RULE_BASELINE_UNREADABLE, RULE_UNRECORDED, Monitor, UnsavedState
from warded.monitor.signals import Observation, read_call, read_output
from warded.store.state import ALL_SESSIONS, StateStore
from warded.telemetry import DISABLED, Telemetry

if TYPE_CHECKING:
    from warded.bom.binding import BomBinding
    from warded.monitor.alerts import WebhookSender

__all__ = ["Watch"]

D = TypeVar("D", Decision, None)


@dataclass(slots=True)
class _Unrecorded:
    """An anomaly and what of it is recorded: its flag or pause (``held``) and its alert (``alert_seq``)."""

    body: dict[str, Any]
    on: OnAnomaly
    held: bool = False
    alert_seq: int | None = None


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


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
        self._unrecorded: dict[str, _Unrecorded] = {}  # anomalies not yet fully recorded, by agent

    def begin(self, now: float) -> None:
        """Right after the ``gateway_started`` entry: what the monitor found in its table at start goes on the
        record. Flags an earlier version kept there move to the state store (or the start fails: an upgrade
        never lifts a flag); a baseline that cannot be read is an alert (``monitor.baseline_unreadable``),
        since the agent is learnt again and raises no anomaly alert during that warm-up."""
        monitor = self.monitor
        if monitor is None:
            return
        for agent in monitor.stored_flags:
            reason = "flagged by an anomaly before the flag moved to the state store"
            if self._state.flag(agent, reason, RULE_ANOMALY, now):
                self._audit.append("agent_flagged", {"agent_id": agent, "rule_id": RULE_ANOMALY, "reason": reason})
            monitor.forget_stored_flag(agent)
        monitor.stored_flags.clear()
        for agent, why in monitor.unreadable:
            self.alert(
                {
                    "rule_id": RULE_BASELINE_UNREADABLE,
                    "agent_id": agent,
                    "message": f"agent {agent}: its stored monitor baseline cannot be read ({why}); it is learnt "
                    f"again, so no anomaly is alerted for its next {monitor.spec.baseline} calls",
                }
            )
        monitor.unreadable.clear()

    def flush(self, now: float) -> None:
        """Before the audit log closes: save the monitor's models; a failure is a ``monitor_error`` entry."""
        if self.monitor is not None:
            try:
                self.monitor.save_all(now)
            except Exception as exc:
                self._failed("", None, exc)

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

    def alert(self, body: Mapping[str, Any]) -> int:
        """Record an alert (raises ``AuditError`` if it cannot be), then send it on (best effort: a failure
        there is reported on stderr, the audit log has the alert); the alert entry's sequence number."""
        seq = self._audit.append(ALERT_KIND, body).seq
        try:
            self.telemetry.alert(body)
            if self._webhook is not None:
                self._webhook.send(body)
        except Exception as exc:
            print(f"warded: alert not sent on ({_short(exc)}); it is in the audit log", file=sys.stderr)
        return seq

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

    def held(self, agent_id: str, now: float) -> Decision | None:
        """Gather: a DENY while an anomaly of ``agent_id`` that this worker could not record (its flag or pause
        in the state store, its alert in the audit log) still cannot be; each call tries again."""
        pending = self._unrecorded.get(agent_id)
        if pending is None:
            return None
        try:
            self._record(pending, now)
        except Exception as exc:  # still unrecorded: the agent stays held here
            return deny(
                RULE_UNRECORDED,
                f"an anomaly of agent {agent_id} could not be recorded ({_short(exc)}); "
                "its calls are denied until it is",
            )
        del self._unrecorded[agent_id]
        return None

    # -- commit ----------------------------------------------------------------------------------------

    def observed(
        self, action: Action, decision: Decision, findings: int, now: float
    ) -> tuple[Decision, dict[str, Any]]:
        """Commit, before the decision is recorded: the monitor sees the call. An anomaly is recorded first
        (flag or pause, then alert); the decision to record comes back with what the decision entry says of
        it: ``decision`` itself, or a DENY (``monitor.unrecorded``) when the observation, its anomaly or the
        monitor's state could not be recorded. Never raises."""
        if self.monitor is None:
            return decision, {}
        try:
            obs = read_call(
                action.agent_id, action.session_id, action.tool, action.arguments, decision.verdict.value, now, findings
            )
        except Exception as exc:  # cannot say whether this call completes an anomaly
            return self._failed(action.agent_id, decision, exc), {}
        return self._watch(obs, decision, now)

    def observed_output(  # noqa: PLR0917 - one model completion's facts
        self, agent_id: str, session_id: str, now: float, refused: bool, findings: int, blocked: bool
    ) -> None:
        """A relayed completion (already delivered): an anomaly it completes that cannot be recorded holds the
        agent (:meth:`held`)."""
        if self.monitor is not None:
            self._watch(read_output(agent_id, session_id, now, refused, findings, blocked), None, now)

    def _watch(self, obs: Observation, decision: D, now: float) -> tuple[D, dict[str, Any]]:
        assert self.monitor is not None  # callers check
        unsaved: UnsavedState | None = None
        try:
            anomaly = self.monitor.observe(obs)
        except UnsavedState as exc:  # the model was not saved; the anomaly, if any, is not lost
            anomaly, unsaved = exc.anomaly, exc
        except Exception as exc:  # the monitor failed: whether this call completes an anomaly is unknown
            return self._failed(obs.agent_id, decision, exc), {}
        noted: dict[str, Any] = {}
        if anomaly is not None:
            on = self.monitor.spec.on_anomaly
            body: dict[str, Any] = {
                "rule_id": RULE_ANOMALY,
                "agent_id": anomaly.agent_id,
                "session_id": anomaly.session_id,
                "message": anomaly.message,
                "signals": {k: dict(v) for k, v in anomaly.signals.items()},
                "calls": anomaly.calls,
                "on_anomaly": on.value,
            }
            pending = _Unrecorded(body, on)
            try:
                self._record(pending, now)
            except Exception as exc:
                self._unrecorded[anomaly.agent_id] = pending  # held here until it is recorded
                return self._failed(obs.agent_id, decision, exc), {}
            noted["monitor_alert"] = pending.alert_seq
        if unsaved is not None:
            return self._failed(obs.agent_id, decision, unsaved), noted
        return decision, noted

    def _record(self, pending: _Unrecorded, now: float) -> None:
        """What an anomaly leaves, each part once: the flag or pause in the shared state store (first: it is
        what holds the agent), then the alert. Both are tried; the first error is raised."""
        agent, message = str(pending.body["agent_id"]), str(pending.body["message"])
        error: Exception | None = None
        if not pending.held:
            try:
                if pending.on is OnAnomaly.REQUIRE_APPROVAL:
                    newly = self._state.flag(agent, message, RULE_ANOMALY, now)
                    kind, where = "agent_flagged", {}
                elif pending.on is OnAnomaly.PAUSE:
                    newly = self._state.pause(agent, ALL_SESSIONS, message, RULE_ANOMALY, now)
                    kind, where = "session_paused", {"session_id": ALL_SESSIONS}
                else:
                    newly = False
                    kind, where = "", {}
                pending.held = True
                if newly:
                    entry = {"agent_id": agent, **where, "rule_id": RULE_ANOMALY, "reason": message, "by": "monitor"}
                    self._audit.append(kind, entry)
            except Exception as exc:
                error = exc
        if pending.alert_seq is None:
            try:
                pending.alert_seq = self.alert(pending.body)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    def _failed(self, agent_id: str, decision: D, exc: Exception) -> D:
        """The monitor could not record something: a ``monitor_error`` entry, and the call is denied."""
        message = _short(exc)
        try:
            self._audit.append("monitor_error", {"agent_id": agent_id, "error": message})
        except Exception:
            print(f"warded: monitor error not recorded: {message}", file=sys.stderr)
        if decision is None or decision.verdict is Verdict.DENY:
            return decision
        reason = (
            f"the behavioural monitor could not record this call ({message}): "
            "denied rather than let an anomaly go unrecorded"
        )
        return deny(RULE_UNRECORDED, reason, decision.tier)

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
