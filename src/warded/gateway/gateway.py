"""The Python SDK: ``Gateway`` runs every tool call through one pipeline, gather → decide → commit.

* **Gather** (:meth:`Gateway._gather`): refuse bad identifiers, read the session's state and windows
  (``_session.Sessions``), verify a presented approval (``_approvals.ApprovalDesk``), scan the arguments
  and trace their taint (``_guard.Guard``). The result is :class:`Facts`, or a :class:`Refusal`.
* **Decide** (:meth:`Gateway._decide`): ``warded.decide.action.decide()``, pure, within the time budget.
* **Commit** (:meth:`Gateway._commit`): take the call's slots in its windows (deciding again if other
  workers took them first), carry out pauses and alerts, count denials, spend the approval, write the
  audit entry (``_record.Recorder``) and issue the capability token.

A tool's result takes the same road in :meth:`Gateway.inspect_result`, judged by
``warded.decide.result.decide_result()``. This is an edge: it owns the clock, the stores and the audit
log. Every check is recorded. Anything that goes wrong here (store down, audit write failed, decision too
slow) ends in DENY, never in ALLOW.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import functools
import inspect
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from warded.approve.approvals import ApprovalRequest
from warded.approve.envelope import OpenedMessage, open_envelope
from warded.approve.store import ApprovalStore
from warded.audit.log import AuditLog
from warded.audit.redact import scrub
from warded.controls import load_controls
from warded.core.inputs import bad_text, check_identifiers
from warded.core.types import Action, Decision, Reason, Tier, Verdict, deny
from warded.core.walk import Limits, map_texts
from warded.core.windows import SlidingWindows, WindowStore
from warded.decide.action import ArgumentFindings, SessionState, decide
from warded.decide.result import decide_result
from warded.errors import ApprovalRequired, InvalidArgument, ResultBlocked, StoreError, ToolDenied, WardedError
from warded.flow.plan import plan_sources
from warded.flow.taint import USER, FlowIndex, TaintFinding, TrustRules, tool_label
from warded.gateway._approvals import ApprovalDesk
from warded.gateway._guard import Guard
from warded.gateway._record import Recorder
from warded.gateway._session import PauseScope, Sessions
from warded.gateway._stores import Waker, open_stores
from warded.gateway._watch import Watch
from warded.monitor.monitor import gate_flagged
from warded.policy.compile import CompiledPolicy, load_policy
from warded.scan.pipeline import Applied, ScanPipeline
from warded.scan.registry import load_scanner
from warded.scan.types import Response
from warded.scan.vault import redact
from warded.store.state import StateStore

if TYPE_CHECKING:
    from warded.bom.binding import BomBinding
    from warded.monitor.alerts import WebhookSender
    from warded.monitor.monitor import Monitor
    from warded.telemetry import Telemetry


@dataclass(frozen=True, slots=True)
class ResultCheck:
    """The content guard's verdict on one tool result (see :meth:`Gateway.inspect_result`)."""

    decision: Decision  # ALLOW: deliver ``value``; DENY / REQUIRE_APPROVAL: withheld
    value: object  # what the agent may see (redacted where asked); None when withheld
    findings: tuple[tuple[str, Applied], ...]  # (path in the result, finding with its response)
    response: Response | None  # the most severe response, None when nothing was found


@dataclass(frozen=True, slots=True)
class Facts:
    """What the gather phase learnt about one call: everything ``decide()`` and the commit phase need."""

    action: Action
    now: float  # the gateway's clock when the call arrived
    state: SessionState  # pauses, quarantine, window counts; ``approved`` when a valid approval came with it
    scope: PauseScope  # where a pause of this call lands
    request: ApprovalRequest | None  # the verified approval, spent at commit if the call is allowed
    findings: ArgumentFindings  # the content guard's findings on the arguments
    taint: tuple[TaintFinding, ...]  # arguments whose values were seen only in untrusted data
    started: tuple[float, float]  # (CPU, wall) timer readings before the scan: the time budget's start
    flagged: bool = False  # an anomaly left the agent needing approval (``monitor: {on_anomaly: require_approval}``)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A call refused while gathering, before anything was decided; recorded with ``extra``."""

    decision: Decision
    extra: Mapping[str, Any] = field(default_factory=dict)


_APPROVAL: contextvars.ContextVar[str | None] = contextvars.ContextVar("warded_approval", default=None)

P = ParamSpec("P")
R = TypeVar("R")

#: The decision's wall-clock backstop, as a multiple of its CPU-time budget (``decision_timeout_ms``).
WALL_LIMIT_FACTOR = 20


class Gateway:
    """Deny-by-default gateway for tool calls. Thread-safe and asyncio-safe.

    >>> gw = Gateway.from_file("warded.yaml")          # doctest: +SKIP
    >>> gw.check(Action("mail-assistant", "s1", "read_inbox"))   # doctest: +SKIP
    """

    def __init__(
        self,
        policy: CompiledPolicy,
        audit: AuditLog,
        state: StateStore,
        *,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.thread_time,
        wall_timer: Callable[[], float] = time.perf_counter,
        scanner: ScanPipeline | None = None,
        approvals: ApprovalStore | None = None,
        windows: WindowStore | None = None,
        waker: Waker | None = None,
        bom: BomBinding | None = None,
        monitor: Monitor | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        # Indicators imported from signed incident feeds (warded incident import), loaded whole or not at all.
        controls = load_controls(policy.base_dir)
        self.policy = policy
        if scanner is not None and not scanner.warmed:
            scanner.warm_up()  # load every model and table now, not inside the first caller's time budget
        self.scanner = scanner
        self.approvals = approvals
        flow = policy.spec.flow
        self.flow: FlowIndex | None = None
        if flow.enabled:
            self.flow = FlowIndex(
                TrustRules(
                    trusted_tools=frozenset(flow.trusted_tools),
                    trusted_fields={t: tuple(p) for t, p in flow.trusted_fields.items()},
                    trusted_agents=frozenset(flow.trusted_agents),
                ),
                words=flow.copied_words,
            )
        self.audit = audit
        self.state = state
        self._clock = clock
        self._timer = timer
        self._wall_timer = wall_timer
        self._lock = threading.RLock()
        self._timeout_s = policy.spec.input.decision_timeout_ms / 1000.0
        self._closed = False
        # The rooms each phase works in (see the module docstring).
        windows = windows if windows is not None else SlidingWindows()
        self._sessions = Sessions(policy, state, windows, audit, clock=clock, lock=self._lock)
        self._waker = waker
        self._desk = ApprovalDesk(policy, approvals, audit.signer, clock, waker=waker)
        self._guard = Guard(policy, scanner, self.flow)
        self._recorder = Recorder(audit, self._guard, self._desk, self._lock)
        # The BOM bound to runtime, the behavioural monitor and telemetry (gateway/_watch.py).
        self._watch = Watch(audit, state, bom=bom, monitor=monitor, telemetry=telemetry, webhook=_webhook(monitor))
        self.controls = controls
        started: dict[str, object] = {"policy": policy.source, "policy_sha256": policy.digest, "pid": os.getpid()}
        started.update(self._watch.started())
        if self.controls:
            started["incident_controls"] = {"count": len(self.controls.controls), "sha256": self.controls.digest}
        if policy.warnings:  # e.g. a raw Cedar permit broader than the YAML grants: on the record
            started["policy_warnings"] = [str(w) for w in policy.warnings]
        self.audit.start("gateway_started", started)
        self._watch.begin(clock())  # what the monitor found at start, on the record after the start entry
        _open_gateways.add(self)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time, shared_windows: bool = False
    ) -> Gateway:
        """Load ``warded.yaml`` (refusing it whole on any error) and open its audit log and state.

        The audit signing key named by the policy is created (mode 0600) if it does not exist. With
        ``shared_windows`` the limit and budget windows live in the SQLite file, so several worker
        processes share circuit breakers. A ``store:`` section moves the audit log and approvals to
        PostgreSQL and the windows (always shared) and pauses to Redis (``gateway/_stores.py``); an unset
        environment variable, an unreachable store or an unmigrated schema refuses the start.
        """
        policy = load_policy(path)
        scanner = build_scanner(policy) if policy.spec.scan.enabled else None
        bom, monitor, telemetry = _watch_parts(policy)  # a BOM that does not match refuses the start here
        stores = open_stores(policy, clock=clock, shared_windows=shared_windows)
        return cls(
            policy,
            stores.audit,
            stores.state,
            clock=clock,
            scanner=scanner,
            approvals=stores.approvals,
            windows=stores.windows,
            waker=stores.waker,
            bom=bom,
            monitor=monitor,
            telemetry=telemetry,
        )

    # -- checking: gather → decide → commit ----------------------------------------------------

    def check(self, action: Action, *, approval: str | None = None, with_token: bool = False) -> Decision:
        """Decide ``action``, apply its effects and record it in the audit log. Never raises.

        ``approval`` names an approval request a human has signed for exactly this action: it is verified
        (signer, signature, digest of these very arguments, expiry, single use) and, if valid, the action
        is decided as approved — a hard DENY still wins. ``with_token`` asks for a single-use capability
        token on ALLOW (``Decision.capability``), bound to the action's digest, for the tool side to verify.
        """
        if self._watch.telemetry.enabled:  # a span and metrics per decision (issue 12: gateway/_watch.py)
            return self._watch.traced(action, lambda: self._check(action, approval, with_token))
        return self._check(action, approval, with_token)

    def _check(self, action: Action, approval: str | None, with_token: bool) -> Decision:
        try:
            with self._lock:
                if self._closed:
                    return deny("warded.gateway_closed", "the gateway is closed")
                facts = self._gather(action, approval)
                if isinstance(facts, Refusal):
                    return self._recorder.decision(action, facts.decision, extra=facts.extra)
                decision = self._decide(facts)
                return self._commit(facts, decision, with_token=with_token)
        except Exception as exc:  # fail closed, and try to record why
            decision = deny("warded.internal_error", f"gateway error ({type(exc).__name__}: {str(exc)[:200]})")
            try:
                return self._recorder.failure(action, decision)
            except Exception:
                return decision

    def _gather(self, action: Action, approval: str | None) -> Facts | Refusal:
        """Everything known about the call before deciding it, or why it is refused unheard."""
        # Identifiers reach the stores (SQLite) before decide() runs: refuse bad ones first.
        bad = _bad_identifiers(action, approval)
        if bad is not None:
            return Refusal(Decision(Verdict.DENY, (bad,)))
        blocked = self.controls.match_action(action)  # an imported incident control: refused, never approvable
        if blocked is not None:
            return Refusal(Decision(Verdict.DENY, (blocked,)))
        out_of_manifest = self._watch.refusal(action)  # a tool the bound BOM does not list: DENY and alert
        if out_of_manifest is not None:
            return Refusal(out_of_manifest)
        now = self._clock()
        held = self._watch.held(action.agent_id, now)  # an anomaly this worker could not record yet: DENY
        if held is not None:
            return Refusal(held)
        try:
            state, scope = self._sessions.read(action, now)
        except StoreError as exc:
            return Refusal(deny("store.unavailable", f"session state unavailable: {exc}"))
        request: ApprovalRequest | None = None
        if approval is not None:
            request, refusal = self._desk.verify(action, approval, now)
            if refusal is not None:
                return Refusal(refusal, {"approval": {"request_id": approval, "refused": True}})
            state = replace(state, approved=True)
        # The time budget measures this thread's CPU time (the work the decision did), not the wall clock:
        # a busy machine or a wait for the GIL must not turn a normal decision into a DENY. A generous
        # wall-clock limit stays as the backstop for work that does not run on this thread's CPU (a
        # scanner blocked on I/O or a lock); reaching it is a DENY as well. It covers the scan and the
        # taint trace too.
        started = (self._timer(), self._wall_timer())
        with self._watch.telemetry.span("warded.scan", {"warded.source": "tool_input"}) as span:
            findings = self._guard.scan_arguments(action)
            if span is not None:
                span.set_attribute("warded.findings", len(findings))
        taint = self._guard.trace(action)
        try:
            flagged = self._watch.flagged(action.agent_id)  # shared by every worker (the state store)
        except StoreError as exc:
            return Refusal(deny("store.unavailable", f"agent flags unavailable: {exc}"))
        return Facts(action, now, state, scope, request, findings, taint, started, flagged)

    def _decide(self, facts: Facts) -> Decision:
        """``decide()`` on the gathered facts; a DENY if gathering and deciding ran over the time budget."""
        decision = decide(self.policy, facts.action, facts.state, facts.findings, facts.taint)
        decision = gate_flagged(decision, flagged=facts.flagged, approved=facts.state.approved)
        elapsed, wall = self._timer() - facts.started[0], self._wall_timer() - facts.started[1]
        if elapsed > self._timeout_s or wall > self._timeout_s * WALL_LIMIT_FACTOR:
            spent = f"{elapsed * 1000:.1f} ms of CPU time, {wall * 1000:.1f} ms in all"
            decision = Decision(
                Verdict.DENY,
                (Reason("warded.timeout", f"decision took {spent}, over the time budget"),),
                decision.tier,
            )
        return decision

    def _commit(self, facts: Facts, decision: Decision, *, with_token: bool) -> Decision:
        """Make the decision so: slots, effects, counts, the approval spent, the audit entry, the token."""
        action, now = facts.action, facts.now

        def redecide(state: SessionState) -> Decision:
            decision = decide(self.policy, action, state, facts.findings, facts.taint)
            return gate_flagged(decision, flagged=facts.flagged, approved=state.approved)

        decision = self._sessions.reserve(action, decision, now, redecide, facts.state)
        decision = self._sessions.apply_effects(decision, now, facts.scope)
        extra: dict[str, Any] = {}
        if facts.request is not None:
            extra["approval"] = {"request_id": facts.request.id, "used": decision.allowed}
            if decision.allowed:
                refusal = self._desk.consume(facts.request, now)
                if refusal is not None:
                    decision = replace(refusal, tier=decision.tier)
                    extra["approval"]["used"] = False
        self._sessions.count(action, decision, now)
        if facts.taint:
            extra["taint"] = [t.to_json() for t in facts.taint]
        # The monitor sees the call before it is recorded: an anomaly it completes that cannot be recorded
        # makes this call a DENY (gateway/_watch.py).
        decision, noted = self._watch.observed(action, decision, len(facts.findings), now)
        extra.update(noted)
        decision = self._recorder.decision(action, decision, extra=extra, taint=facts.taint)
        if with_token and decision.allowed:
            decision = replace(decision, capability=self._desk.issue_token(action, now))
        return decision

    # -- tool results --------------------------------------------------------------------------

    def guard_result(self, action: Action, value: R) -> R:
        """Scan a tool's result before the agent sees it (source ``tool_output``).

        DENY findings withhold it (:class:`ResultBlocked`); REQUIRE_APPROVAL ones withhold it pending a
        human (:class:`ApprovalRequired`); REDACT ones return it with the findings' spans redacted;
        LABEL ones return it unchanged. Every finding is recorded in the audit log.
        """
        check = self.inspect_result(action, value)
        if check.decision.verdict is Verdict.DENY:
            raise ResultBlocked(check.decision)
        if check.decision.verdict is Verdict.REQUIRE_APPROVAL:
            raise ApprovalRequired(check.decision, check.decision.request_id)
        return cast(R, check.value)

    def inspect_result(self, action: Action, value: object) -> ResultCheck:
        """:meth:`guard_result` without the exceptions: the verdict on the result, what the agent may see
        (``None`` when withheld), and the findings. Records, audits and quarantines exactly the same way."""
        bad = check_identifiers(action) if isinstance(action, Action) else Reason("input.unsupported_type", "no action")
        if bad is not None:  # the stores below would fail on it: withhold the result instead
            return ResultCheck(self._recorder.refused_result(action, bad), None, (), Response.DENY)
        blocked = self.controls.match_result(value)
        if blocked is not None:
            return ResultCheck(self._recorder.refused_result(action, blocked), None, (), Response.DENY)
        scanned = self._guard.scan_result(action, value)
        found = tuple((t.path, a) for t, a in scanned)
        # Whatever the agent may see of this output is untrusted data from now on (unless policy trusts it); an
        # output the content guard flagged taints all that comes from it (or, by policy, the whole session).
        flagged = _flags(self.policy, found)
        self.record(action.agent_id, action.session_id, tool_label(action.tool), value, flagged=flagged)
        if self.policy.spec.flow.quarantine == "session" or self.flow is None:
            self._sessions.quarantine(action, found)
        if not found:
            return ResultCheck(Decision(Verdict.ALLOW, ()), value, (), None)
        judged = decide_result(scanned)
        decision = self._recorder.result(action, judged, scanned)
        if decision.verdict is not Verdict.ALLOW:
            return ResultCheck(decision, None, found, judged.response)
        cuts = judged.redactions
        if cuts:
            value = map_texts(value, lambda i, t: redact(t, cuts[i]) if i in cuts else None, self.result_limits())
        return ResultCheck(decision, value, found, judged.response)

    def argument_limits(self) -> Limits:
        """How much of a call's arguments is read: all the input check accepts, except that the content
        guard (which scans inside the decision's time budget) reads at most ``ARGUMENT_ITEMS`` nodes and
        denies past that (``scan.too_many_items``)."""
        return self._guard.argument_limits()

    def result_limits(self) -> Limits:
        """How much of a tool result the content guard reads; past it the result is withheld."""
        return self._guard.result_limits()

    # -- approvals and capability tokens -------------------------------------------------------

    def verify_capability(self, token: str, action: Action) -> None:
        """The tool side: refuse unless ``token`` was issued for exactly this action and is unused.

        Raises :class:`ToolDenied` (with the token's refusal code) otherwise.
        """
        self._desk.verify_token(token, action)

    def wait_for_approval(self, request_id: str, timeout_s: float, *, poll_s: float = 0.2) -> str:
        """Block until a human decides ``request_id`` or ``timeout_s`` passes; returns the status
        (``approved``, ``denied``, ``pending``, ``used``, ``void``, or ``unknown``)."""
        return self._desk.wait(request_id, timeout_s, poll_s)

    @contextlib.contextmanager
    def approved(self, request_id: str) -> Iterator[None]:
        """Within this block, decorated tools present approval ``request_id`` (see :meth:`check`)."""
        token = _APPROVAL.set(request_id)
        try:
            yield
        finally:
            _APPROVAL.reset(token)

    # -- agent-to-agent messages -----------------------------------------------------------------

    def receive(self, agent_id: str, session_id: str, envelope: object) -> OpenedMessage:
        """Open a message from another agent and index it for ``agent_id``'s session with its labels.

        A message whose signature does not verify against the policy's agent keys is untrusted; a
        verified one keeps the provenance labels it carries, so taint survives the hand-off.
        """
        opened = open_envelope(envelope, self.policy.agent_keys)
        if self.flow is not None:
            self.flow.record_labelled(agent_id, session_id, opened.labels, opened.text)
        with self._lock:
            self._recorder.append(
                "message_received",
                {
                    "agent_id": agent_id,
                    "session_id": session_id,
                    "sender": opened.sender,
                    "trusted": opened.trusted,
                    "labels": sorted(opened.labels),
                },
            )
        return opened

    # -- provenance ----------------------------------------------------------------------------

    def record(self, agent_id: str, session_id: str, label: str, value: object, *, flagged: bool = False) -> int:
        """Tell the gateway what entered the session and from where (``user``, ``system``,
        ``tool:<name>``, ``agent:<id>``); its values are indexed for taint tracing. Returns the count."""
        if self.flow is None:
            return 0
        return self.flow.record(agent_id, session_id, label, value, flagged=flagged)

    def plan(
        self,
        agent_id: str,
        session_id: str,
        tools: Sequence[str],
        sources: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Declare the tools a session's plan needs (plan-then-execute; see ``warded.flow.plan``). Once
        untrusted data has entered the session, a sensitive call to another tool needs approval. ``sources``
        (``{"tool.argument": ["source_tool", ...]}``) declares which planned tools' outputs an argument's values
        may come from; each key's tool and every source must be in ``tools``. Refused
        (:class:`~warded.flow.taint.PlanLocked`) after untrusted data has entered the session, and
        (:class:`~warded.errors.InvalidArgument`) for a tool the agent is not granted. Recorded in the audit log."""
        granted = self.policy.spec.agents.get(agent_id)
        if granted is None:
            raise InvalidArgument(f"agent {agent_id!r} is not declared in the policy")
        if isinstance(tools, str) or not all(isinstance(t, str) for t in tools):
            raise InvalidArgument("a plan is a list of tool names")
        unknown = sorted(set(tools) - set(granted.tools))
        if unknown:
            raise InvalidArgument(f"agent {agent_id!r} is not granted tool(s) {', '.join(map(repr, unknown))}")
        if self.flow is None:
            raise InvalidArgument("flow control is off in this policy (flow.enabled: false): a plan has no effect")
        declared = plan_sources(tools, sources)
        bad = check_identifiers(Action(agent_id, session_id, "plan"))
        if bad is not None:
            raise InvalidArgument(bad.message)
        with self._lock:
            self.flow.set_plan(agent_id, session_id, tools, declared)
            event: dict[str, object] = {"agent_id": agent_id, "session_id": session_id, "tools": sorted(set(tools))}
            if declared:
                event["sources"] = declared
            self._recorder.append("plan_declared", event)

    def record_user(self, agent_id: str, session_id: str, text: str) -> int:
        """The user's own request: the trusted source values may come from."""
        return self.record(agent_id, session_id, USER, text)

    # -- the decorator ---------------------------------------------------------------------

    def tool(
        self,
        *,
        name: str | None = None,
        tier: Tier | str | None = None,
        agent_id: str | Callable[[], str] | None = None,
        session_id: str | Callable[[], str] | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Route every call of the decorated function (sync or async) through the gateway.

        ``agent_id`` and ``session_id`` are strings or zero-argument callables (for example a
        ``contextvars`` lookup); they default to the gateway's :meth:`bind` values. A denied
        call raises :class:`ToolDenied`; one needing approval raises :class:`ApprovalRequired`.
        The function body runs only on ALLOW.
        """
        declared = Tier(tier) if tier is not None else None

        def wrap(fn: Callable[P, R]) -> Callable[P, R]:
            tool_name = name or fn.__name__
            signature = inspect.signature(fn)

            def gate(*args: Any, **kwargs: Any) -> Action:
                try:
                    bound = signature.bind(*args, **kwargs)
                except TypeError as exc:
                    raise ToolDenied(deny("input.bad_call", f"{tool_name}: {exc}")) from None
                arguments = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
                action = Action(
                    agent_id=_resolve(agent_id, self._default_agent, "agent_id"),
                    session_id=_resolve(session_id, self._default_session, "session_id"),
                    tool=tool_name,
                    arguments=arguments,
                    tier=declared,
                )
                decision = self.check(action, approval=_APPROVAL.get(), with_token=True)
                if decision.verdict is Verdict.ALLOW:
                    # The tool side: run only with a valid single-use token for exactly these arguments.
                    self.verify_capability(decision.capability, action)
                    return action
                if decision.verdict is Verdict.REQUIRE_APPROVAL:
                    raise ApprovalRequired(decision, decision.request_id)
                raise ToolDenied(decision)

            if inspect.iscoroutinefunction(fn):
                async_fn = cast(Callable[..., Awaitable[Any]], fn)

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    action = gate(*args, **kwargs)
                    return self.guard_result(action, await async_fn(*args, **kwargs))

                return cast(Callable[P, R], async_wrapper)

            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                action = gate(*args, **kwargs)
                return self.guard_result(action, fn(*args, **kwargs))

            return wrapper

        return wrap

    _default_agent: str | None = None
    _default_session: str | None = None

    def bind(self, agent_id: str, session_id: str) -> None:
        """Default agent and session for decorated tools that do not name their own."""
        self._default_agent = agent_id
        self._default_session = session_id

    def record_event(self, kind: str, body: Mapping[str, Any], action: Action | None = None) -> int:
        """Append an edge's own audit entry (an upstream error, a refused input); returns its seq.

        With ``action``, everything the policy hides for that call (secret-marked arguments, redacted and
        secret spans) is scrubbed from ``body`` first, wherever it appears: an upstream server may echo it.
        """
        hidden = self._guard.hidden_for(action) if action is not None else {}
        with self._lock:
            return self.audit.append(kind, scrub(body, hidden) if hidden else body).seq

    # -- the BOM, alerts, monitoring (issue 12) ------------------------------------------------

    @property
    def bom(self) -> BomBinding | None:
        """The signed BOM this gateway is bound to, if any (the proxies check servers, tools, models)."""
        return self._watch.bom

    @property
    def telemetry(self) -> Telemetry:
        return self._watch.telemetry

    @property
    def monitor(self) -> Monitor | None:
        return self._watch.monitor

    def observe_output(self, agent_id: str, session_id: str, *, refused: bool, findings: int, blocked: bool) -> None:
        """A model completion the chat proxy relayed, for the behavioural monitor (refusals, withheld text)."""
        with self._lock:
            self._watch.observed_output(agent_id, session_id, self._clock(), refused, findings, blocked)

    def alert(self, body: Mapping[str, Any]) -> None:
        """Record an alert (kind ``alert``: ``rule_id``, ``agent_id``, ``message``...) and send it to the webhook
        and the OpenTelemetry log pipeline. Raises ``AuditError`` if it cannot be recorded."""
        with self._lock:
            self._watch.alert(body)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Record the shutdown, sign a final checkpoint and close the stores. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._watch.flush(self._clock())  # the monitor's models, while the audit log can record a failure
                # The stop entry and the checkpoint that signs it: a clean shutdown verification can check.
                self.audit.close(final=("gateway_stopped", {"pid": os.getpid()}))
            finally:
                self._watch.close(self._clock())
                self._sessions.close()
                if self.approvals is not None:
                    self.approvals.close()
                if self._waker is not None:
                    self._waker.close()
                _open_gateways.discard(self)

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_scanner(policy: CompiledPolicy) -> ScanPipeline:
    """The content-guard pipeline a policy asks for (raises ``ScannerLoadError`` if a scanner fails to load)."""
    spec = policy.spec.scan
    scanners = [load_scanner(name, spec.options.get(name)) for name in spec.scanners]
    # Warm up at start-up: models load lazily, and the first real call must not pay for it (it would
    # run over the decision's time budget and be denied).
    return ScanPipeline(scanners, responses=spec.responses, max_chars=spec.max_chars).warm_up()


def _flags(policy: CompiledPolicy, found: tuple[tuple[str, Applied], ...]) -> bool:
    """Did the content guard flag this output with a finding the policy quarantines on?"""
    flow = policy.spec.flow
    return flow.enabled and any(a.finding.category in flow.quarantine_on for _, a in found)


def _bad_identifiers(action: object, approval: object) -> Reason | None:
    """Why the call's identifiers or its approval id cannot even be looked up, or ``None``."""
    bad = check_identifiers(action) if isinstance(action, Action) else None
    if bad is None and approval is not None and (not isinstance(approval, str) or not approval):
        bad = Reason("input.bad_identifier", "the approval must be a non-empty request id")
    elif bad is None and isinstance(approval, str):
        problem = bad_text(approval)
        if problem is not None:
            bad = Reason(problem, "the approval request id is not valid text")
    return bad


def _resolve(value: str | Callable[[], str] | None, default: str | None, what: str) -> str:
    if callable(value):
        value = value()
    if value is None:
        value = default
    if not isinstance(value, str) or not value:
        raise ToolDenied(deny("input.bad_identifier", f"no {what} for this call; pass it or call gateway.bind()"))
    return value


_open_gateways: weakref.WeakSet[Gateway] = weakref.WeakSet()


@atexit.register
def _close_open_gateways() -> None:
    """Clean shutdown signs a final checkpoint even if the caller forgot ``close()``."""
    for gw in list(_open_gateways):
        with contextlib.suppress(WardedError):
            gw.close()


def _watch_parts(policy: CompiledPolicy) -> tuple[BomBinding | None, Monitor | None, Telemetry | None]:
    """The BOM binding, monitor and telemetry the policy asks for (issue 12); see ``gateway/_watch.py``.
    Raises ``BomError`` when a bound BOM cannot be verified or the deployment is not what it lists."""
    from warded.bom.binding import bind_at_start_up  # noqa: PLC0415 - only a gateway bound to a BOM reads one
    from warded.monitor.monitor import Monitor  # noqa: PLC0415
    from warded.monitor.store import MonitorStore  # noqa: PLC0415
    from warded.telemetry import start_telemetry  # noqa: PLC0415

    bom = bind_at_start_up(policy)
    monitor = None
    spec = policy.spec.monitor
    if spec is not None and spec.enabled:
        monitor = Monitor(spec, MonitorStore(policy.audit_path(policy.spec.audit.path)))
    return bom, monitor, start_telemetry(policy.spec.telemetry)


def _webhook(monitor: Monitor | None) -> WebhookSender | None:
    if monitor is None or monitor.spec.webhook is None:
        return None
    from warded.monitor.alerts import WebhookSender  # noqa: PLC0415

    headers = {k: v.get_secret_value() for k, v in monitor.spec.webhook_headers.items()}
    return WebhookSender(monitor.spec.webhook, headers)
