"""The Python SDK: ``Gateway`` wraps decide() with state, the audit log and effects.

This is an edge: it owns the clock, the store and the audit log. Every check is recorded.
Anything that goes wrong here (store down, audit write failed, decision too slow) ends in
DENY, never in ALLOW.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import functools
import hashlib
import inspect
import math
import os
import secrets
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, TypeVar, cast

from warded.approve.approvals import ApprovalRejected, ApprovalRequest, make_request, verify_approval
from warded.approve.capability import CapabilityRejected, TokenVerifier, issue_token
from warded.approve.digest import DigestError, digest_of_action
from warded.approve.envelope import OpenedMessage, open_envelope
from warded.approve.store import SQLiteApprovalStore
from warded.audit.keys import generate_keypair
from warded.audit.log import AuditLog, open_sqlite_log
from warded.audit.secrets import hash_secret
from warded.core.inputs import check_arguments
from warded.core.types import Action, Decision, EffectKind, Reason, Tier, Verdict, deny
from warded.core.windows import SlidingWindows, WindowStore
from warded.decide.action import ArgumentFindings, SessionState, decide
from warded.errors import ApprovalRequired, AuditError, ResultBlocked, StoreError, ToolDenied, WardedError
from warded.flow.taint import USER, FlowIndex, TaintFinding, TrustRules, tool_label, trace
from warded.flow.values import Kind
from warded.policy.cedar import RULE_QUARANTINE
from warded.policy.compile import CompiledPolicy, load_policy
from warded.policy.schema import BudgetSpec, Count, LimitSpec, Scope
from warded.scan.pipeline import Applied, ScanPipeline
from warded.scan.registry import load_scanner
from warded.scan.types import SEVERITY, Finding, Response, Source
from warded.scan.vault import redact
from warded.store.state import ALL_SESSIONS, SQLiteStateStore
from warded.store.windows import SQLiteWindows


@dataclass(frozen=True, slots=True)
class ResultCheck:
    """The content guard's verdict on one tool result (see :meth:`Gateway.inspect_result`)."""

    decision: Decision  # ALLOW: deliver ``value``; DENY / REQUIRE_APPROVAL: withheld
    value: object  # what the agent may see (redacted where asked); None when withheld
    findings: tuple[tuple[str, Applied], ...]  # (path in the result, finding with its response)
    response: Response | None  # the most severe response, None when nothing was found


_APPROVAL: contextvars.ContextVar[str | None] = contextvars.ContextVar("warded_approval", default=None)

P = ParamSpec("P")
R = TypeVar("R")

MAX_AUDIT_STRING = 4096


class Gateway:
    """Deny-by-default gateway for tool calls. Thread-safe and asyncio-safe.

    >>> gw = Gateway.from_file("warded.yaml")          # doctest: +SKIP
    >>> gw.check(Action("mail-assistant", "s1", "read_inbox"))   # doctest: +SKIP
    """

    def __init__(
        self,
        policy: CompiledPolicy,
        audit: AuditLog,
        state: SQLiteStateStore,
        *,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        scanner: ScanPipeline | None = None,
        approvals: SQLiteApprovalStore | None = None,
        windows: WindowStore | None = None,
    ) -> None:
        self.policy = policy
        self.scanner = scanner
        self.approvals = approvals
        self._tokens = TokenVerifier({audit.signer.key_id: audit.signer.public_key}, clock)
        flow = policy.spec.flow
        self.flow: FlowIndex | None = None
        if flow.enabled:
            self.flow = FlowIndex(
                TrustRules(
                    trusted_tools=frozenset(flow.trusted_tools),
                    trusted_fields={t: tuple(p) for t, p in flow.trusted_fields.items()},
                    trusted_agents=frozenset(flow.trusted_agents),
                )
            )
        self._flow_kinds = frozenset(Kind(k) for k in flow.kinds)
        self.audit = audit
        self.state = state
        self._clock = clock
        self._timer = timer
        self._lock = threading.RLock()
        self._windows: WindowStore = windows if windows is not None else SlidingWindows()
        self._seen_paused: set[tuple[str, str]] = set()
        self._timeout_s = policy.spec.input.decision_timeout_ms / 1000.0
        self._closed = False
        self._append("gateway_started", {"policy": policy.source, "policy_sha256": policy.digest, "pid": os.getpid()})
        _open_gateways.add(self)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time, shared_windows: bool = False
    ) -> Gateway:
        """Load ``warded.yaml`` (refusing it whole on any error) and open its audit log and state.

        The audit signing key named by the policy is created (mode 0600) if it does not exist. With
        ``shared_windows`` the limit and budget windows live in the SQLite file, so several worker
        processes share circuit breakers.
        """
        policy = load_policy(path)
        scanner = build_scanner(policy) if policy.spec.scan.enabled else None
        audit_spec = policy.spec.audit
        db_path = policy.audit_path(audit_spec.path)
        key_path = policy.audit_path(audit_spec.key)
        if not os.path.exists(key_path):
            generate_keypair(key_path)
        audit = open_sqlite_log(
            db_path,
            key_path,
            synchronous="FULL" if audit_spec.synchronous.value == "full" else "NORMAL",
            checkpoint_every=audit_spec.checkpoint_every,
            checkpoint_seconds=audit_spec.checkpoint_seconds,
            clock=clock,
        )
        sync = audit_spec.synchronous.value.upper()
        try:
            state = SQLiteStateStore(db_path, synchronous=sync)
            approvals = SQLiteApprovalStore(db_path, synchronous=sync)
            windows = SQLiteWindows(db_path, synchronous=sync) if shared_windows else None
        except StoreError:
            audit.close()
            raise
        return cls(policy, audit, state, clock=clock, scanner=scanner, approvals=approvals, windows=windows)

    # -- checking ------------------------------------------------------------------------------

    def check(self, action: Action, *, approval: str | None = None, with_token: bool = False) -> Decision:
        """Decide ``action``, apply its effects and record it in the audit log. Never raises.

        ``approval`` names an approval request a human has signed for exactly this action: it is verified
        (signer, signature, digest of these very arguments, expiry, single use) and, if valid, the action
        is decided as approved — a hard DENY still wins. ``with_token`` asks for a single-use capability
        token on ALLOW (``Decision.capability``), bound to the action's digest, for the tool side to verify.
        """
        try:
            with self._lock:
                return self._check(action, approval, with_token)
        except Exception as exc:  # fail closed, and try to record why
            decision = deny("warded.internal_error", f"gateway error ({type(exc).__name__}: {str(exc)[:200]})")
            try:
                entry = self._append(
                    "decision", {"action": _audit_action(action, frozenset()), "decision": decision.to_json()}
                )
                return replace(decision, id=f"d{entry}")
            except Exception:
                return decision

    def _check(self, action: Action, approval: str | None, with_token: bool) -> Decision:
        if self._closed:
            return deny("warded.gateway_closed", "the gateway is closed")
        now = self._clock()
        try:
            state, pause_scope = self._state_for(action, now)
        except StoreError as exc:
            decision = deny("store.unavailable", f"session state unavailable: {exc}")
            return self._record(action, decision)
        request: ApprovalRequest | None = None
        if approval is not None:
            request, refusal = self._verify_approval(action, approval, now)
            if refusal is not None:
                return self._record(action, refusal, extra={"approval": {"request_id": approval, "refused": True}})
            state = replace(state, approved=True)
        started = self._timer()
        findings = self._scan_arguments(action)
        taint = self._trace(action)
        decision = decide(self.policy, action, state, findings, taint)
        elapsed = self._timer() - started
        if elapsed > self._timeout_s:
            decision = Decision(
                Verdict.DENY,
                (Reason("warded.timeout", f"decision took {elapsed * 1000:.1f} ms, over the time budget"),),
                decision.tier,
            )
        decision = self._apply_effects(action, decision, now, pause_scope)
        extra: dict[str, Any] = {}
        if request is not None:
            extra["approval"] = {"request_id": request.id, "used": decision.allowed}
            if decision.allowed:
                refusal = self._consume(request, now)
                if refusal is not None:
                    decision = replace(refusal, tier=decision.tier)
                    extra["approval"]["used"] = False
        self._count(action, decision, now)
        if taint:
            extra["taint"] = [t.to_json() for t in taint]
        decision = self._record(action, decision, extra=extra, taint=taint)
        if with_token and decision.allowed:
            decision = replace(decision, capability=self._issue_token(action, now))
        return decision

    # -- approvals and capability tokens -------------------------------------------------------

    def _verify_approval(
        self, action: Action, request_id: str, now: float
    ) -> tuple[ApprovalRequest | None, Decision | None]:
        if self.approvals is None:
            return None, deny("approval.unavailable", "this gateway has no approval store")
        try:
            request = self.approvals.load_request(request_id)
            if request is None:
                return None, deny("approval.unknown_request", f"no approval request {request_id[:80]!r}")
            verdict = self.approvals.load_verdict(request_id)
            if verdict is None:
                return None, deny("approval.pending", f"approval request {request_id} has not been decided yet")
            verify_approval(
                request,
                verdict,
                self.policy.approvers,
                now,
                self.approvals.used_nonces,
                action_digest=digest_of_action(action, request.expires_at, request.nonce),
                max_skew=self.policy.spec.approval.max_skew,
            )
        except ApprovalRejected as exc:
            return None, Decision(Verdict.DENY, (exc.reason,))
        except (StoreError, DigestError) as exc:
            return None, deny("approval.unverifiable", f"the approval could not be checked: {exc}")
        return request, None

    def _consume(self, request: ApprovalRequest, now: float) -> Decision | None:
        """Mark the approval used (once, across processes); a DENY if it cannot be."""
        if self.approvals is None:
            return deny("approval.unavailable", "this gateway has no approval store")
        try:
            if self.approvals.consume(request, now):
                return None
        except StoreError as exc:
            return deny("approval.unverifiable", f"the approval could not be marked used: {exc}")
        return deny("approval.replayed", "this approval has already been used")

    def _issue_token(self, action: Action, now: float) -> str:
        expires = now + self.policy.spec.approval.token_ttl
        nonce = secrets.token_urlsafe(16)
        return issue_token(self.audit.signer, digest_of_action(action, expires, nonce), expires, nonce)

    def verify_capability(self, token: str, action: Action) -> None:
        """The tool side: refuse unless ``token`` was issued for exactly this action and is unused.

        Raises :class:`ToolDenied` (with the token's refusal code) otherwise.
        """
        try:
            self._tokens.verify_action(
                token,
                agent_id=action.agent_id,
                session_id=action.session_id,
                tool=action.tool,
                arguments=action.arguments,
            )
        except (CapabilityRejected, DigestError) as exc:
            reason = exc.reason if isinstance(exc, CapabilityRejected) else Reason("capability.malformed", str(exc))
            raise ToolDenied(Decision(Verdict.DENY, (reason,))) from None

    def wait_for_approval(self, request_id: str, timeout_s: float, *, poll_s: float = 0.2) -> str:
        """Block until a human decides ``request_id`` or ``timeout_s`` passes; returns the status
        (``approved``, ``denied``, ``pending``, ``used``, ``void``, or ``unknown``)."""
        if self.approvals is None:
            return "unknown"
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.approvals.status(request_id) or "unknown"
            if status != "pending" or time.monotonic() >= deadline:
                return status
            time.sleep(poll_s)

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
            self._append(
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

    def record(self, agent_id: str, session_id: str, label: str, value: object) -> int:
        """Tell the gateway what entered the session and from where (``user``, ``system``,
        ``tool:<name>``, ``agent:<id>``); its values are indexed for taint tracing. Returns the count."""
        if self.flow is None:
            return 0
        return self.flow.record(agent_id, session_id, label, value)

    def record_user(self, agent_id: str, session_id: str, text: str) -> int:
        """The user's own request: the trusted source values may come from."""
        return self.record(agent_id, session_id, USER, text)

    def _trace(self, action: Action) -> tuple[TaintFinding, ...]:
        if self.flow is None or not isinstance(action, Action) or not isinstance(action.arguments, Mapping):
            return ()
        tool = self.policy.tools.get(action.tool) if isinstance(action.tool, str) else None
        if tool is None or tool.tier not in self.policy.spec.flow.sensitive_tiers:
            return ()
        if not isinstance(action.agent_id, str) or not isinstance(action.session_id, str):
            return ()
        index = self.flow.view(action.agent_id, action.session_id)
        if not index:
            return ()  # nothing untrusted has entered this session: nothing can be tainted
        ignore = frozenset(self.policy.spec.flow.ignore_arguments.get(tool.name, ()))
        return tuple(trace(action.arguments, index, kinds=self._flow_kinds, ignore=ignore))

    def _scan_arguments(self, action: Action) -> ArgumentFindings:
        """Content-guard findings on every text in the arguments (named by their path)."""
        if self.scanner is None or not self.policy.spec.scan.scan_arguments:
            return ()
        if not isinstance(action, Action) or not isinstance(action.arguments, Mapping):
            return ()  # decide() refuses these on its own
        limits = self.policy.spec.input
        if check_arguments(action.arguments, limits.max_argument_bytes, limits.max_argument_depth) is not None:
            return ()  # malformed or oversized: decide() denies it without anyone reading it
        found: list[tuple[str, Applied]] = []
        for path, text in _texts(action.arguments):
            result = self.scanner.scan(
                text, Source.ARGUMENT, tool=action.tool if isinstance(action.tool, str) else None
            )
            found.extend((path, applied) for applied in result.applied)
        return tuple(found)

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
        found: list[tuple[str, Applied]] = []
        if self.scanner is not None and self.policy.spec.scan.scan_results:
            for path, text in _texts(value, "result"):
                result = self.scanner.scan(text, Source.TOOL_OUTPUT, tool=action.tool)
                found.extend((path, applied) for applied in result.applied)
        # Whatever the agent may see of this output is untrusted data from now on (unless policy trusts it).
        self.record(action.agent_id, action.session_id, tool_label(action.tool), value)
        self._maybe_quarantine(action, found)
        if not found:
            return ResultCheck(Decision(Verdict.ALLOW, ()), value, (), None)
        worst = max((a.response for _, a in found), key=SEVERITY.__getitem__)
        unredactable = [a for _, a in found if a.response is Response.REDACT and a.finding.span is None]
        if worst is Response.REDACT and unredactable:
            worst = Response.REQUIRE_APPROVAL  # cannot remove what we cannot locate: ask a human instead
        reasons = tuple(Reason(a.finding.rule_id, f"{path}: {a.finding.message}") for path, a in found)
        verdict = {Response.DENY: Verdict.DENY, Response.REQUIRE_APPROVAL: Verdict.REQUIRE_APPROVAL}.get(
            worst, Verdict.ALLOW
        )
        decision = Decision(verdict, reasons)
        body: dict[str, Any] = {
            "action": _audit_action(action, frozenset()),
            "response": worst.value,
            "findings": [{"path": path, **a.to_json()} for path, a in found],
        }
        with self._lock:
            request_id = ""
            if verdict is Verdict.REQUIRE_APPROVAL:
                try:
                    request_id = self._open_request(action, decision, body["action"]["arguments"], ())
                    body["approval_request"] = request_id
                except (StoreError, DigestError, ApprovalRejected):
                    verdict = Verdict.DENY  # cannot ask anyone: withhold the result outright
                    decision = replace(decision, verdict=verdict)
            seq = self._append("result_scanned", body)
        decision = replace(decision, id=f"d{seq}", request_id=request_id)
        findings = tuple(found)
        if verdict is not Verdict.ALLOW:
            return ResultCheck(decision, None, findings, worst)
        if worst is Response.REDACT:
            spans: dict[str, list[Finding]] = {}
            for path, applied in found:
                if applied.response is Response.REDACT:
                    spans.setdefault(path, []).append(applied.finding)
            return ResultCheck(decision, _redact_texts(value, spans), findings, worst)
        return ResultCheck(decision, value, findings, worst)

    def _maybe_quarantine(self, action: Action, found: list[tuple[str, Applied]]) -> None:
        triggers = set(self.policy.spec.flow.quarantine_on) if self.flow is not None else set()
        hits = [a for _, a in found if a.finding.category in triggers]
        if not hits:
            return
        reason = f"tool {action.tool!r} returned text flagged {hits[0].finding.rule_id}"
        with self._lock:
            newly = self.state.pause(action.agent_id, action.session_id, reason, RULE_QUARANTINE, self._clock())
            if newly:
                self._seen_paused.add((action.agent_id, action.session_id))
                self._append(
                    "session_quarantined",
                    {
                        "agent_id": action.agent_id,
                        "session_id": action.session_id,
                        "tool": action.tool,
                        "rule_ids": sorted({a.finding.rule_id for a in hits}),
                    },
                )

    def _scope_key(self, scope: Scope, action: Action) -> tuple[str, ...]:
        if scope is Scope.AGENT:
            return (action.agent_id,)
        return (action.agent_id, action.session_id)

    def _state_for(self, action: Action, now: float) -> tuple[SessionState, tuple[str, str]]:
        if not isinstance(action, Action) or not isinstance(action.agent_id, str):
            return SessionState(), ("", "")
        session_id = action.session_id if isinstance(action.session_id, str) else ""
        pause = self.state.paused(action.agent_id, session_id)
        for key in ((action.agent_id, session_id), (action.agent_id, ALL_SESSIONS)):
            if key in self._seen_paused and (pause is None or (pause.agent_id, pause.session_id) != key):
                # Resumed since we last looked: start its windows afresh.
                self._seen_paused.discard(key)
                self._windows.reset_scope(key if key[1] != ALL_SESSIONS else (key[0],))
        if pause is not None:
            self._seen_paused.add((pause.agent_id, pause.session_id))
        tool = self.policy.tools.get(action.tool) if isinstance(action.tool, str) else None
        counts: dict[str, int] = {}
        spent: dict[str, float] = {}
        if tool is not None:
            for lim in self.policy.limits_for(tool.name, tool.tier):
                counts[lim.id] = self._windows.count((lim.id, self._scope_key(lim.scope, action)), lim.window, now)
            for budget in self.policy.budgets_for(tool.name, tool.tier):
                spent[budget.id] = self._windows.total(
                    (budget.id, self._scope_key(budget.scope, action)), budget.window, now
                )
        quarantined = pause is not None and pause.rule_id == RULE_QUARANTINE
        if quarantined:
            pause = None
        state = SessionState(
            quarantined=quarantined,
            paused=pause is not None,
            pause_reason=pause.reason if pause is not None else "",
            counts=counts,
            spent=spent,
        )
        return state, (action.agent_id, session_id)

    def _apply_effects(self, action: Action, decision: Decision, now: float, scope: tuple[str, str]) -> Decision:
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
            self._append(
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
                self._append(
                    "alert",
                    {
                        "agent_id": scope[0],
                        "session_id": scope[1],
                        "rule_id": effect.rule_id,
                        "message": effect.message,
                    },
                )
        return decision

    def _agent_scoped(self, rule_id: str) -> bool:
        if not rule_id.startswith(("limit.", "budget.")):
            return False
        ident = rule_id.split(".", 1)[1]
        items: list[LimitSpec | BudgetSpec] = [*self.policy.limits, *self.policy.budgets]
        for item in items:
            if item.id == ident:
                return item.scope is Scope.AGENT
        return False

    def _count(self, action: Action, decision: Decision, now: float) -> None:
        tool = self.policy.tools.get(action.tool) if isinstance(action.tool, str) else None
        if tool is None or decision.verdict is Verdict.REQUIRE_APPROVAL:
            return
        allowed = decision.verdict is Verdict.ALLOW
        for lim in self.policy.limits_for(tool.name, tool.tier):
            if (lim.count is Count.ALLOWED) == allowed:
                self._windows.add((lim.id, self._scope_key(lim.scope, action)), now)
        if allowed:
            for budget in self.policy.budgets_for(tool.name, tool.tier):
                amount = action.arguments.get(budget.argument)
                if isinstance(amount, int | float) and not isinstance(amount, bool):
                    self._windows.add((budget.id, self._scope_key(budget.scope, action)), now, float(amount))

    def _record(
        self,
        action: Action,
        decision: Decision,
        *,
        extra: Mapping[str, Any] | None = None,
        taint: tuple[TaintFinding, ...] = (),
    ) -> Decision:
        tool = self.policy.tools.get(action.tool) if isinstance(getattr(action, "tool", None), str) else None
        secret_args = tool.secret_args if tool is not None else frozenset()
        body: dict[str, Any] = {"action": _audit_action(action, secret_args), "decision": decision.to_json()}
        body.update(extra or {})
        request_id = ""
        if decision.verdict is Verdict.REQUIRE_APPROVAL:
            # The request is stored first and named in the decision's audit entry: one append, and an
            # approval request never exists without its recorded decision (a failed append voids it).
            try:
                request_id = self._open_request(action, decision, body["action"]["arguments"], taint)
            except (StoreError, DigestError, ApprovalRejected) as exc:
                decision = deny("store.unavailable", f"could not record the approval request: {exc}", decision.tier)
                body = {"action": body["action"], "decision": decision.to_json()}
            else:
                body["approval_request"] = request_id
        try:
            seq = self._append("decision", body)
        except AuditError as exc:
            # An action that cannot be recorded does not happen.
            if request_id:
                self._void_request(request_id)
            return deny("audit.write_failed", f"could not record the decision: {exc}", decision.tier)
        return replace(decision, id=f"d{seq}", request_id=request_id)

    def _open_request(
        self, action: Action, decision: Decision, display: Mapping[str, Any], taint: tuple[TaintFinding, ...]
    ) -> str:
        if self.approvals is None:
            raise StoreError("this gateway has no approval store")
        now = self._clock()
        request = make_request(
            request_id="r" + secrets.token_hex(8),
            agent_id=action.agent_id,
            session_id=action.session_id,
            tool=action.tool,
            arguments=action.arguments,
            display_arguments=display,
            tier=decision.tier,
            reasons=decision.reasons,
            taint=[t.to_json() for t in taint],
            created_at=now,
            expires_at=now + self.policy.spec.approval.ttl,
            nonce=secrets.token_hex(16),
        )
        self.approvals.save_request(request)
        return request.id

    def _void_request(self, request_id: str) -> None:
        if self.approvals is not None:
            with contextlib.suppress(StoreError):
                self.approvals.void(request_id)

    def _append(self, kind: str, body: Mapping[str, Any]) -> int:
        return self.audit.append(kind, body).seq

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

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Record the shutdown, sign a final checkpoint and close the stores. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._append("gateway_stopped", {"pid": os.getpid()})
            finally:
                try:
                    self.audit.close()
                finally:
                    self.state.close()
                    if isinstance(self._windows, SQLiteWindows):
                        self._windows.close()
                    if self.approvals is not None:
                        self.approvals.close()
                    _open_gateways.discard(self)

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


MAX_SCANNED_TEXTS = 256


def _texts(value: object, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Every string inside ``value`` with a path naming it (``to[0]``, ``body``), breadth-bounded."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[object, str, int]] = [(value, path, depth)]
    while stack and len(out) < MAX_SCANNED_TEXTS:
        item, where, level = stack.pop()
        if isinstance(item, str):
            out.append((where or "value", item))
        elif level < 32 and isinstance(item, Mapping):
            stack.extend(
                (v, f"{where}.{k}" if where else str(k), level + 1) for k, v in list(item.items())[:MAX_SCANNED_TEXTS]
            )
        elif level < 32 and isinstance(item, list | tuple):
            stack.extend((v, f"{where}[{i}]", level + 1) for i, v in enumerate(item[:MAX_SCANNED_TEXTS]))
    return out


def _redact_texts(value: R, spans: Mapping[str, list[Finding]], path: str = "result") -> R:
    """A copy of ``value`` with each string's REDACT findings replaced (same paths as :func:`_texts`)."""
    if isinstance(value, str):
        findings = spans.get(path or "value")
        return cast(R, redact(value, findings) if findings else value)
    if isinstance(value, Mapping):
        return cast(R, {k: _redact_texts(v, spans, f"{path}.{k}" if path else str(k)) for k, v in value.items()})
    if isinstance(value, list | tuple):
        items = [_redact_texts(v, spans, f"{path}[{i}]") for i, v in enumerate(value)]
        return cast(R, type(value)(items) if isinstance(value, tuple) else items)
    return value


def build_scanner(policy: CompiledPolicy) -> ScanPipeline:
    """The content-guard pipeline a policy asks for (raises ``ScannerLoadError`` if a scanner fails to load)."""
    spec = policy.spec.scan
    scanners = [load_scanner(name, spec.options.get(name)) for name in spec.scanners]
    # Warm up at start-up: models load lazily, and the first real call must not pay for it (it would
    # run over the decision's time budget and be denied).
    return ScanPipeline(scanners, responses=spec.responses, max_chars=spec.max_chars).warm_up()


def _resolve(value: str | Callable[[], str] | None, default: str | None, what: str) -> str:
    if callable(value):
        value = value()
    if value is None:
        value = default
    if not isinstance(value, str) or not value:
        raise ToolDenied(deny("input.bad_identifier", f"no {what} for this call; pass it or call gateway.bind()"))
    return value


def _audit_value(value: object, depth: int = 0) -> object:
    """A JSON-safe, bounded copy of an argument for the audit log (large text is hashed)."""
    if depth > 32:
        return {"$omitted": "too deep"}
    kind = type(value)
    if kind is str:
        text = cast(str, value)
        if len(text) <= MAX_AUDIT_STRING and text.isascii():
            return text  # the common case: short ASCII text needs no escaping or truncation
    if value is None or kind is bool or kind is int:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        safe = value.encode("utf-8", "backslashreplace").decode("utf-8")
        if len(safe) > MAX_AUDIT_STRING:
            return {
                "$truncated": True,
                "length": len(safe),
                "sha256": hashlib.sha256(safe.encode("utf-8")).hexdigest(),
                "head": safe[:256],
            }
        return safe
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {str(k): _audit_value(v, depth + 1) for k, v in items[:256]}
        if len(items) > 256:
            out["$omitted_keys"] = len(items) - 256
        return out
    if isinstance(value, list | tuple):
        seq = [_audit_value(v, depth + 1) for v in value[:256]]
        if len(value) > 256:
            seq.append({"$omitted_items": len(value) - 256})
        return seq
    if isinstance(value, bytes | bytearray):
        return {"$bytes": len(value), "sha256": hashlib.sha256(bytes(value)).hexdigest()}
    return {"$type": type(value).__name__}


def _audit_action(action: object, secret_args: frozenset[str]) -> dict[str, Any]:
    if not isinstance(action, Action):
        return {"$invalid": type(action).__name__}
    args: dict[str, Any] = {}
    arguments = action.arguments if isinstance(action.arguments, Mapping) else {}
    for key, value in list(arguments.items())[:256]:
        name = str(_audit_value(str(key)))
        if key in secret_args:
            try:
                args[name] = hash_secret(value)
            except Exception:
                args[name] = {"$secret": "unhashable"}
        else:
            args[name] = _audit_value(value)
    return {
        "agent_id": _audit_value(action.agent_id),
        "session_id": _audit_value(action.session_id),
        "tool": _audit_value(action.tool),
        "tier": action.tier.value if isinstance(action.tier, Tier) else None,
        "labels": sorted(str(_audit_value(label)) for label in action.labels),
        "arguments": args,
    }


_open_gateways: weakref.WeakSet[Gateway] = weakref.WeakSet()


@atexit.register
def _close_open_gateways() -> None:
    """Clean shutdown signs a final checkpoint even if the caller forgot ``close()``."""
    for gw in list(_open_gateways):
        with contextlib.suppress(WardedError):
            gw.close()
