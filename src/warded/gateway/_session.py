"""A session's state at the edge: pauses, quarantine, and the windows of the limits and budgets.

``Sessions`` reads what ``decide()`` needs to know about a call's session (paused? quarantined? how many
calls and how much spent in each window?) and carries out what a decision asks of it: an ALLOW takes its
slots in the windows, a tripped breaker pauses the session and raises one alert, a denial is counted where
the policy counts denials. It writes the audit entries of those effects itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from warded.audit.log import AuditLog
from warded.core.types import Action, Decision, EffectKind, Verdict, deny
from warded.core.windows import Claim, WindowStore
from warded.decide.action import SessionState
from warded.errors import StoreError
from warded.policy.cedar import RULE_QUARANTINE
from warded.policy.compile import CompiledPolicy
from warded.policy.schema import BudgetSpec, Count, LimitSpec, Scope
from warded.scan.pipeline import Applied
from warded.store.state import ALL_SESSIONS, StateStore, UnpausedReserve

#: An ALLOW whose limit slots other workers keep taking is decided again at most this many times.
RESERVE_ATTEMPTS = 4

#: ``(agent_id, session_id)``: where a pause lands.
PauseScope = tuple[str, str]


class Sessions:
    """Session state, windows and their effects. Callers hold the gateway's lock around each call, except
    :meth:`quarantine`, which takes it itself."""

    def __init__(
        self,
        policy: CompiledPolicy,
        state: StateStore,
        windows: WindowStore,
        audit: AuditLog,
        *,
        clock: Callable[[], float],
        lock: threading.RLock,
    ) -> None:
        self.policy = policy
        self.state = state
        self.windows = windows
        self._audit = audit
        self._clock = clock
        self._lock = lock
        self._seen_paused: set[tuple[str, str]] = set()
        # Pauses and windows checked in the round trip that reserves (Redis); see read().
        self._one_trip = windows if isinstance(windows, UnpausedReserve) else None
        self._unread: Action | None = None  # the call read() left for reserve() to check (under the lock)

    # -- gather --------------------------------------------------------------------------------

    def read(self, action: Action, now: float) -> tuple[SessionState, PauseScope]:
        """The session's state for ``decide()``, and the scope a pause of this call would land on.
        Raises ``StoreError`` if the state store cannot be read.

        With a store that checks pauses and windows in one step (Redis, :class:`UnpausedReserve`), nothing
        is read here: ``decide()`` sees an unpaused session with empty windows, and :meth:`reserve` checks
        exactly that in the same round trip that takes the call's slots. When it does not hold (paused, or a
        limit or budget reached), or the decision is not an ALLOW, :meth:`reserve` reads the real state and
        decides again, so the verdict is always the one the real state gives."""
        if not isinstance(action, Action) or not isinstance(action.agent_id, str):
            return SessionState(), ("", "")
        session_id = action.session_id if isinstance(action.session_id, str) else ""
        scope = (action.agent_id, session_id)
        if self._one_trip is not None and not self._seen_paused & {scope, (action.agent_id, ALL_SESSIONS)}:
            self._unread = action
            return SessionState(), scope
        self._unread = None
        return self._read(action, session_id, now), scope

    def _read(self, action: Action, session_id: str, now: float) -> SessionState:
        pause = self.state.paused(action.agent_id, session_id)
        for key in ((action.agent_id, session_id), (action.agent_id, ALL_SESSIONS)):
            if key in self._seen_paused and (pause is None or (pause.agent_id, pause.session_id) != key):
                # Resumed since we last looked: start its windows afresh.
                self._seen_paused.discard(key)
                self.windows.reset_scope(key if key[1] != ALL_SESSIONS else (key[0],))
        if pause is not None:
            self._seen_paused.add((pause.agent_id, pause.session_id))
        counts, spent = self._window_state(action, now)
        quarantined = pause is not None and pause.rule_id == RULE_QUARANTINE
        if quarantined:
            pause = None
        return SessionState(
            quarantined=quarantined,
            paused=pause is not None,
            pause_reason=pause.reason if pause is not None else "",
            counts=counts,
            spent=spent,
        )

    # -- commit --------------------------------------------------------------------------------

    def reserve(
        self,
        action: Action,
        decision: Decision,
        now: float,
        redecide: Callable[[SessionState], Decision],
        state: SessionState,
    ) -> Decision:
        """An ALLOW takes its slots in its limits and budgets, checking and recording in one step
        (``WindowStore.reserve``). When another worker sharing the windows took a slot since the counts
        were read, ``redecide`` decides again on ``state`` with fresh counts and sums: the verdict is the one
        a single process would give, so a limit shared by several workers is exact. Bounded: past
        ``RESERVE_ATTEMPTS`` it is a DENY. ``state`` is what :meth:`read` gave (with the call's approval)."""
        if self._unread is action and self._one_trip is not None:
            self._unread = None
            try:
                if decision.verdict is Verdict.ALLOW and self._one_trip.reserve_if_unpaused(
                    action.agent_id, action.session_id, self._claims(action, checks=True), now
                ):
                    return decision  # unpaused, within every limit and budget: what decide() assumed
                fresh = self._read(action, action.session_id, now)
            except StoreError as exc:
                return deny("store.unavailable", f"session state unavailable: {exc}", decision.tier)
            state = replace(
                state,
                paused=fresh.paused,
                pause_reason=fresh.pause_reason,
                quarantined=fresh.quarantined,
                counts=fresh.counts,
                spent=fresh.spent,
            )
            decision = redecide(state)
        for _ in range(RESERVE_ATTEMPTS):
            if decision.verdict is not Verdict.ALLOW:
                return decision
            try:
                if self.windows.reserve(self._claims(action), now) is None:
                    return decision
                counts, spent = self._window_state(action, now)
            except StoreError as exc:
                return deny("store.unavailable", f"limit windows unavailable: {exc}", decision.tier)
            decision = redecide(replace(state, counts=counts, spent=spent))
        if decision.verdict is Verdict.ALLOW:
            return deny("limit.contention", "the limit windows kept changing while deciding", decision.tier)
        return decision

    def apply_effects(self, decision: Decision, now: float, scope: PauseScope) -> Decision:
        """Carry out pauses; record an alert only when the breaker newly trips (no alert storms)."""
        already_paused: set[str] = set()
        for effect in decision.effects:
            if effect.kind is not EffectKind.PAUSE_SESSION:
                continue
            session = ALL_SESSIONS if self._agent_scoped(effect.rule_id) else scope[1]
            try:
                newly = self.state.pause(scope[0], session, effect.message, effect.rule_id, now)
            except StoreError as exc:
                return deny("store.unavailable", f"could not pause session: {exc}", decision.tier)
            if not newly:
                already_paused.add(effect.rule_id)
                continue
            self._seen_paused.add((scope[0], session))
            self._audit.record(
                "session_paused",
                {
                    "agent_id": scope[0],
                    "session_id": session,
                    "rule_id": effect.rule_id,
                    "reason": effect.message,
                    "by": "circuit_breaker",
                },
            )
        for effect in decision.effects:
            if effect.kind is EffectKind.ALERT and effect.rule_id not in already_paused:
                self._audit.record(
                    "alert",
                    {
                        "agent_id": scope[0],
                        "session_id": scope[1],
                        "rule_id": effect.rule_id,
                        "message": effect.message,
                    },
                )
        return decision

    def count(self, action: Action, decision: Decision, now: float) -> None:
        """Count a denied call in the limits that count denied calls. (An allowed call took its slots when
        it was decided, in :meth:`reserve`; if it was refused afterwards, say its approval was spent, those
        slots stay taken: counting too much never allows more.)"""
        tool = self.policy.tools.get(action.tool) if isinstance(action.tool, str) else None
        if tool is None or decision.verdict in (Verdict.REQUIRE_APPROVAL, Verdict.ALLOW):
            return
        for lim in self.policy.limits_for(tool.name, tool.tier):
            if lim.count is Count.DENIED:
                self.windows.add((lim.id, _scope_key(lim.scope, action)), now)

    def quarantine(self, action: Action, found: Sequence[tuple[str, Applied]]) -> None:
        """Quarantine the session when a tool's result carried a finding the policy quarantines on."""
        flow = self.policy.spec.flow
        triggers = set(flow.quarantine_on) if flow.enabled else set()
        hits = [a for _, a in found if a.finding.category in triggers]
        if not hits:
            return
        reason = f"tool {action.tool!r} returned text flagged {hits[0].finding.rule_id}"
        with self._lock:
            newly = self.state.pause(action.agent_id, action.session_id, reason, RULE_QUARANTINE, self._clock())
            if newly:
                self._seen_paused.add((action.agent_id, action.session_id))
                self._audit.append(
                    "session_quarantined",
                    {
                        "agent_id": action.agent_id,
                        "session_id": action.session_id,
                        "tool": action.tool,
                        "rule_ids": sorted({a.finding.rule_id for a in hits}),
                    },
                )

    def close(self) -> None:
        """Close the state store, and the windows when they live in a store (SQLite, Redis)."""
        self.state.close()
        close = getattr(self.windows, "close", None)
        if callable(close):
            close()

    # -- internals -----------------------------------------------------------------------------

    def _window_state(self, action: Action, now: float) -> tuple[dict[str, int], dict[str, float]]:
        """The counts of the limits and the sums of the budgets that apply to ``action``."""
        tool = self.policy.tools.get(action.tool) if isinstance(action.tool, str) else None
        counts: dict[str, int] = {}
        spent: dict[str, float] = {}
        if tool is not None:
            for lim in self.policy.limits_for(tool.name, tool.tier):
                counts[lim.id] = self.windows.count((lim.id, _scope_key(lim.scope, action)), lim.window, now)
            for budget in self.policy.budgets_for(tool.name, tool.tier):
                spent[budget.id] = self.windows.total((budget.id, _scope_key(budget.scope, action)), budget.window, now)
        return counts, spent

    def _claims(self, action: Action, *, checks: bool = False) -> list[Claim]:
        """The slots an allowed ``action`` takes: one call in each limit counting allowed calls, its amount
        in each budget. With ``checks``, also each limit counting denied calls, checked but not recorded
        (``count < max_calls``: exactly what ``decide()`` calls not exceeded)."""
        tool = self.policy.tools.get(action.tool) if isinstance(action.tool, str) else None
        if tool is None:
            return []
        claims = [
            Claim((lim.id, _scope_key(lim.scope, action)), lim.window, float(lim.max_calls), record=allowed)
            for lim in self.policy.limits_for(tool.name, tool.tier)
            if (allowed := lim.count is Count.ALLOWED) or checks
        ]
        for budget in self.policy.budgets_for(tool.name, tool.tier):
            amount = action.arguments.get(budget.argument)
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                key = (budget.id, _scope_key(budget.scope, action))
                claims.append(Claim(key, budget.window, budget.max_total, float(amount), counted=False))
        return claims

    def _agent_scoped(self, rule_id: str) -> bool:
        if not rule_id.startswith(("limit.", "budget.")):
            return False
        ident = rule_id.split(".", 1)[1]
        items: list[LimitSpec | BudgetSpec] = [*self.policy.limits, *self.policy.budgets]
        for item in items:
            if item.id == ident:
                return item.scope is Scope.AGENT
        return False


def _scope_key(scope: Scope, action: Action) -> tuple[str, ...]:
    if scope is Scope.AGENT:
        return (action.agent_id,)
    return (action.agent_id, action.session_id)
