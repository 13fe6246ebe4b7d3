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
from warded.audit.redact import scrub, secret_texts
from warded.audit.secrets import hash_secret
from warded.core.inputs import bad_text, check_arguments, check_identifiers
from warded.core.types import Action, Decision, EffectKind, Reason, Tier, Verdict, deny
from warded.core.walk import ARGUMENT_ITEMS, MAX_ITEMS, RESULT_DEPTH, Limits, Text, map_texts, walk
from warded.core.windows import Claim, SlidingWindows, WindowStore
from warded.decide.action import ArgumentFindings, SessionState, decide
from warded.errors import ApprovalRequired, AuditError, ResultBlocked, StoreError, ToolDenied, WardedError
from warded.flow.taint import USER, FlowIndex, TaintFinding, TrustRules, tool_label, trace
from warded.flow.values import Kind
from warded.policy.cedar import RULE_QUARANTINE
from warded.policy.compile import CompiledPolicy, load_policy
from warded.policy.schema import BudgetSpec, Count, LimitSpec, Scope
from warded.scan.pipeline import Applied, ScanPipeline
from warded.scan.registry import load_scanner
from warded.scan.types import SEVERITY, Category, Finding, Response, Source
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
#: Calls whose hidden texts (see ``_hidden_for``) are remembered between ``check`` and ``inspect_result``.
HIDDEN_CACHE = 64
#: An ALLOW whose limit slots other workers keep taking is decided again at most this many times.
RESERVE_ATTEMPTS = 4
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
        state: SQLiteStateStore,
        *,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.thread_time,
        wall_timer: Callable[[], float] = time.perf_counter,
        scanner: ScanPipeline | None = None,
        approvals: SQLiteApprovalStore | None = None,
        windows: WindowStore | None = None,
    ) -> None:
        self.policy = policy
        if scanner is not None and not scanner.warmed:
            scanner.warm_up()  # load every model and table now, not inside the first caller's time budget
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
        self._wall_timer = wall_timer
        self._lock = threading.RLock()
        self._windows: WindowStore = windows if windows is not None else SlidingWindows()
        self._seen_paused: set[tuple[str, str]] = set()
        # Plaintext the policy says to hide, found while scanning a call's arguments: {id(action): (action,
        # {text: rule id})}. Kept so the result of the same call is audited without scanning them again.
        self._hidden_cache: dict[int, tuple[Action, dict[str, str]]] = {}
        self._timeout_s = policy.spec.input.decision_timeout_ms / 1000.0
        self._closed = False
        started: dict[str, object] = {"policy": policy.source, "policy_sha256": policy.digest, "pid": os.getpid()}
        if policy.warnings:  # e.g. a raw Cedar permit broader than the YAML grants: on the record
            started["policy_warnings"] = [str(w) for w in policy.warnings]
        self.audit.start("gateway_started", started)
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
                hidden = self._secret_texts(action)  # no scan here: hide at least what policy marks secret
                audited = _audit_action(action, self._secret_args(action), hidden)
                body = {"action": audited, "decision": decision.to_json()}
                entry = self._append("decision", scrub(body, hidden))
                return replace(decision, id=f"d{entry}")
            except Exception:
                return decision

    def _check(self, action: Action, approval: str | None, with_token: bool) -> Decision:
        if self._closed:
            return deny("warded.gateway_closed", "the gateway is closed")
        # Identifiers reach the stores (SQLite) before decide() runs: refuse bad ones first.
        bad = check_identifiers(action) if isinstance(action, Action) else None
        if bad is None and approval is not None and (not isinstance(approval, str) or not approval):
            bad = Reason("input.bad_identifier", "the approval must be a non-empty request id")
        elif bad is None and approval is not None:
            problem = bad_text(approval)
            if problem is not None:
                bad = Reason(problem, "the approval request id is not valid text")
        if bad is not None:
            return self._record(action, Decision(Verdict.DENY, (bad,)))
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
        # The time budget measures this thread's CPU time (the work the decision did), not the wall clock:
        # a busy machine or a wait for the GIL must not turn a normal decision into a DENY. A generous
        # wall-clock limit stays as the backstop for work that does not run on this thread's CPU (a
        # scanner blocked on I/O or a lock); reaching it is a DENY as well.
        started, wall_started = self._timer(), self._wall_timer()
        findings = self._scan_arguments(action)
        taint = self._trace(action)
        decision = decide(self.policy, action, state, findings, taint)
        elapsed, wall = self._timer() - started, self._wall_timer() - wall_started
        if elapsed > self._timeout_s or wall > self._timeout_s * WALL_LIMIT_FACTOR:
            spent = f"{elapsed * 1000:.1f} ms of CPU time, {wall * 1000:.1f} ms in all"
            decision = Decision(
                Verdict.DENY,
                (Reason("warded.timeout", f"decision took {spent}, over the time budget"),),
                decision.tier,
            )
        decision = self._take_slots(action, decision, state=state, findings=findings, taint=taint, now=now)
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
        bounds = self.argument_limits()
        tool = action.tool if isinstance(action.tool, str) else None
        found = _scan_value(self.scanner, action.arguments, Source.ARGUMENT, tool=tool, bounds=bounds)
        self._remember_hidden(action, found)
        return tuple((t.path, a) for t, a in found)

    # -- what the policy says to hide ----------------------------------------------------------

    def _remember_hidden(self, action: Action, scanned: list[tuple[Text, Applied]]) -> None:
        hidden: dict[str, str] = {}
        _hidden_texts(scanned, hidden)
        with self._lock:
            self._hidden_cache.pop(id(action), None)
            self._hidden_cache[id(action)] = (action, hidden)
            while len(self._hidden_cache) > HIDDEN_CACHE:
                del self._hidden_cache[next(iter(self._hidden_cache))]

    def _secret_args(self, action: object) -> frozenset[str]:
        if not isinstance(action, Action) or not isinstance(action.tool, str):
            return frozenset()
        tool = self.policy.tools.get(action.tool)
        return tool.secret_args if tool is not None else frozenset()

    def _secret_texts(self, action: object) -> dict[str, str]:
        """The values of the arguments policy marks ``secret`` (each string in them), to hide everywhere."""
        hidden: dict[str, str] = {}
        if isinstance(action, Action) and isinstance(action.arguments, Mapping):
            for name in self._secret_args(action):
                if name in action.arguments:
                    secret_texts(action.arguments[name], f"arg.{action.tool}.{name}.secret", hidden)
        return hidden

    def _hidden_for(self, action: object, taint: tuple[TaintFinding, ...] = ()) -> dict[str, str]:
        """Every plaintext of this call that must not be written: the spans of secret and PII findings and of
        findings the policy answers with ``redact`` (from the argument scan; scanned now if it has not been),
        the values of secret-marked arguments, and what taint explanations quote of them."""
        if not isinstance(action, Action):
            return {}
        with self._lock:
            cached = self._hidden_cache.get(id(action))
        if cached is None or cached[0] is not action:
            self._scan_arguments(action)  # remembers what it finds
            with self._lock:
                cached = self._hidden_cache.get(id(action))
        hidden = dict(cached[1]) if cached is not None and cached[0] is action else {}
        secrets_ = self._secret_args(action)
        hidden.update(self._secret_texts(action))
        for finding in taint:
            if finding.argument in secrets_:
                # The explanation quotes the value: hide the whole sentence, and the value where long enough.
                rule = f"arg.{action.tool}.{finding.argument}.secret"
                hidden.setdefault(finding.message, rule)
                secret_texts(finding.value.shown, rule, hidden)
        return hidden

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
            return self._refuse_result(action, bad)
        bounds = self.result_limits()
        scanned: list[tuple[Text, Applied]] = []
        if self.scanner is not None and self.policy.spec.scan.scan_results:
            scanned = _scan_value(
                self.scanner, value, Source.TOOL_OUTPUT, tool=action.tool, bounds=bounds, root="result"
            )
        found = [(t.path, a) for t, a in scanned]
        # Whatever the agent may see of this output is untrusted data from now on (unless policy trusts it).
        self.record(action.agent_id, action.session_id, tool_label(action.tool), value)
        self._maybe_quarantine(action, found)
        if not found:
            return ResultCheck(Decision(Verdict.ALLOW, ()), value, (), None)
        worst = max((a.response for _, a in found), key=SEVERITY.__getitem__)
        # A finding in a key, or without a span, cannot be cut out of the result: ask a human instead.
        unredactable = [
            a for t, a in scanned if a.response is Response.REDACT and (a.finding.span is None or t.key or t.index < 0)
        ]
        if worst is Response.REDACT and unredactable:
            worst = Response.REQUIRE_APPROVAL  # cannot remove what we cannot locate: ask a human instead
        reasons = tuple(Reason(a.finding.rule_id, f"{path}: {a.finding.message}") for path, a in found)
        verdict = {Response.DENY: Verdict.DENY, Response.REQUIRE_APPROVAL: Verdict.REQUIRE_APPROVAL}.get(
            worst, Verdict.ALLOW
        )
        decision = Decision(verdict, reasons)
        hidden = self._hidden_for(action)
        _hidden_texts(scanned, hidden)
        body: dict[str, Any] = {
            "action": _audit_action(action, self._secret_args(action), hidden),
            "response": worst.value,
            "findings": [{"path": path, **a.to_json()} for path, a in found],
        }
        body = scrub(body, hidden)
        with self._lock:
            request_id = ""
            if verdict is Verdict.REQUIRE_APPROVAL:
                try:
                    reasons = scrub([r.to_json() for r in decision.reasons], hidden)
                    request_id = self._open_request(action, decision, body["action"]["arguments"], reasons, [])
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
            spans: dict[int, list[Finding]] = {}
            for text, applied in scanned:
                if applied.response is Response.REDACT:
                    spans.setdefault(text.index, []).append(applied.finding)
            redacted = map_texts(value, lambda i, t: redact(t, spans[i]) if i in spans else None, bounds)
            return ResultCheck(decision, redacted, findings, worst)
        return ResultCheck(decision, value, findings, worst)

    def argument_limits(self) -> Limits:
        """How much of a call's arguments is read: all the input check accepts, except that the content
        guard (which scans inside the decision's time budget) reads at most ``ARGUMENT_ITEMS`` nodes and
        denies past that (``scan.too_many_items``)."""
        spec = self.policy.spec
        scanned = self.scanner is not None and spec.scan.scan_arguments
        items = ARGUMENT_ITEMS if scanned else 2 * MAX_ITEMS  # nodes: every value and every key
        return Limits(spec.input.max_argument_depth, items, spec.input.max_argument_bytes)

    def result_limits(self) -> Limits:
        """How much of a tool result the content guard reads; past it the result is withheld."""
        policy = self.policy.spec
        depth = max(RESULT_DEPTH, policy.input.max_argument_depth)
        return Limits(depth, MAX_ITEMS, 4 * max(policy.scan.max_chars, policy.input.max_argument_bytes))

    def _refuse_result(self, action: object, reason: Reason) -> ResultCheck:
        decision = Decision(Verdict.DENY, (reason,))
        hidden = self._secret_texts(action)
        body = {"action": _audit_action(action, self._secret_args(action), hidden), "response": Response.DENY.value}
        with self._lock:
            seq = self._append("result_scanned", scrub({**body, "findings": [], "refused": reason.to_json()}, hidden))
        return ResultCheck(replace(decision, id=f"d{seq}"), None, (), Response.DENY)

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
        counts, spent = self._window_state(action, now)
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

    def _window_state(self, action: Action, now: float) -> tuple[dict[str, int], dict[str, float]]:
        """The counts of the limits and the sums of the budgets that apply to ``action``."""
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
        return counts, spent

    def _claims(self, action: Action) -> list[Claim]:
        """The slots an allowed ``action`` takes: one call in each limit counting allowed calls, its amount
        in each budget."""
        tool = self.policy.tools.get(action.tool) if isinstance(action.tool, str) else None
        if tool is None:
            return []
        claims = [
            Claim((lim.id, self._scope_key(lim.scope, action)), lim.window, float(lim.max_calls))
            for lim in self.policy.limits_for(tool.name, tool.tier)
            if lim.count is Count.ALLOWED
        ]
        for budget in self.policy.budgets_for(tool.name, tool.tier):
            amount = action.arguments.get(budget.argument)
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                key = (budget.id, self._scope_key(budget.scope, action))
                claims.append(Claim(key, budget.window, budget.max_total, float(amount), counted=False))
        return claims

    def _take_slots(
        self,
        action: Action,
        decision: Decision,
        *,
        state: SessionState,
        findings: ArgumentFindings,
        taint: tuple[TaintFinding, ...],
        now: float,
    ) -> Decision:
        """An ALLOW takes its slots in its limits and budgets, checking and recording in one step
        (``WindowStore.reserve``). When another worker sharing the windows took a slot since the counts
        were read, decide again on fresh counts: the verdict is the one a single process would give, so a
        limit shared by several workers is exact. Bounded: past ``RESERVE_ATTEMPTS`` it is a DENY."""
        for _ in range(RESERVE_ATTEMPTS):
            if decision.verdict is not Verdict.ALLOW:
                return decision
            try:
                if self._windows.reserve(self._claims(action), now) is None:
                    return decision
                counts, spent = self._window_state(action, now)
            except StoreError as exc:
                return deny("store.unavailable", f"limit windows unavailable: {exc}", decision.tier)
            decision = decide(self.policy, action, replace(state, counts=counts, spent=spent), findings, taint)
        if decision.verdict is Verdict.ALLOW:
            return deny("limit.contention", "the limit windows kept changing while deciding", decision.tier)
        return decision

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
        """Count a denied call in the limits that count denied calls. (An allowed call took its slots when
        it was decided, in ``_take_slots``; if it was refused afterwards, say its approval was spent, those
        slots stay taken: counting too much never allows more.)"""
        tool = self.policy.tools.get(action.tool) if isinstance(action.tool, str) else None
        if tool is None or decision.verdict in (Verdict.REQUIRE_APPROVAL, Verdict.ALLOW):
            return
        for lim in self.policy.limits_for(tool.name, tool.tier):
            if lim.count is Count.DENIED:
                self._windows.add((lim.id, self._scope_key(lim.scope, action)), now)

    def _record(
        self,
        action: Action,
        decision: Decision,
        *,
        extra: Mapping[str, Any] | None = None,
        taint: tuple[TaintFinding, ...] = (),
    ) -> Decision:
        # Nothing the policy says to hide is written: not in the arguments, the reasons, the taint
        # explanations, nor the approval request (which binds to the real arguments by digest only).
        hidden = self._hidden_for(action, taint)
        body: dict[str, Any] = {
            "action": _audit_action(action, self._secret_args(action), hidden),
            "decision": decision.to_json(),
        }
        body.update(extra or {})
        body = scrub(body, hidden)
        secret_args = self._secret_args(action)
        for item in body.get("taint", ()):
            if isinstance(item, dict) and item.get("argument") in secret_args:
                item["value"] = "[REDACTED:secret argument]"
        request_id = ""
        if decision.verdict is Verdict.REQUIRE_APPROVAL:
            # The request is stored first and named in the decision's audit entry: one append, and an
            # approval request never exists without its recorded decision (a failed append voids it).
            try:
                request_id = self._open_request(
                    action, decision, body["action"]["arguments"], body["decision"]["reasons"], body.get("taint", [])
                )
            except (StoreError, DigestError, ApprovalRejected) as exc:
                decision = deny("store.unavailable", f"could not record the approval request: {exc}", decision.tier)
                body = {"action": body["action"], "decision": scrub(decision.to_json(), hidden)}
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
        self,
        action: Action,
        decision: Decision,
        shown: Mapping[str, Any],
        reasons: list[dict[str, str]],
        taint: list[dict[str, Any]],
    ) -> str:
        """Store an approval request: the digest of the real arguments, and for the human the arguments,
        reasons and taint as audited (scrubbed: what the policy hides stays hidden here too)."""
        if self.approvals is None:
            raise StoreError("this gateway has no approval store")
        now = self._clock()
        request = make_request(
            request_id="r" + secrets.token_hex(8),
            agent_id=action.agent_id,
            session_id=action.session_id,
            tool=action.tool,
            arguments=action.arguments,
            display_arguments=shown,
            tier=decision.tier,
            reasons=[Reason(r["rule_id"], r["message"]) for r in reasons],
            taint=taint,
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
                # The stop entry and the checkpoint that signs it: a clean shutdown verification can check.
                self.audit.close(final=("gateway_stopped", {"pid": os.getpid()}))
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


def _scan_value(
    scanner: ScanPipeline, value: object, source: Source, *, tool: str | None, bounds: Limits, root: str = ""
) -> list[tuple[Text, Applied]]:
    """Scan every text in ``value`` (keys too; each distinct text once) within ``bounds``; past a bound,
    one more finding (``scan.too_deep``, ``scan.too_many_items``, ``scan.too_large``) that denies."""
    walked = walk(value, bounds, root)
    found: list[tuple[Text, Applied]] = []
    seen: dict[str, tuple[Applied, ...]] = {}
    for item in walked.texts:
        applied = seen.get(item.text)
        if applied is None:
            applied = seen[item.text] = scanner.scan(item.text, source, tool=tool).applied
        found.extend((item, a) for a in applied)
    if walked.overflow is not None:
        over = walked.overflow
        finding = Finding(
            f"scan.{over.bound.value}",
            Category.SCANNER_ERROR,
            1.0,
            f"the content guard stopped reading: {over.message}",
            suggested=Response.DENY,
        )
        where = Text("", index=-1, root=over.path)  # the place the walk stopped; not a text
        found.append((where, Applied(finding, scanner.respond(finding, source))))
    return found


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


def _hidden_texts(scanned: list[tuple[Text, Applied]], out: dict[str, str]) -> None:
    """Add to ``out`` the plaintext of every finding the audit must not keep: whatever the policy answers
    with ``redact``, and credentials (``secret`` findings) whatever the response, since a working key is
    never evidence worth keeping (the finding's fingerprint names it). A finding without a span hides its
    whole text."""
    for item, applied in scanned:
        finding = applied.finding
        if item.index < 0 or not (applied.response is Response.REDACT or finding.category is Category.SECRET):
            continue
        text = item.text
        if finding.span is None:
            if text:
                out.setdefault(text, finding.rule_id)
            continue
        start, end = max(0, finding.span[0]), min(len(text), finding.span[1])
        if start < end:
            out.setdefault(text[start:end], finding.rule_id)


def _audit_action(
    action: object, secret_args: frozenset[str], hidden: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The action as the audit records it: secret-marked arguments as salted hashes, every ``hidden`` text
    replaced by its marker before anything is cut to size (so no cut can leave part of one)."""
    if not isinstance(action, Action):
        return {"$invalid": type(action).__name__}
    hidden = hidden or {}
    args: dict[str, Any] = {}
    arguments = action.arguments if isinstance(action.arguments, Mapping) else {}
    for key, value in list(arguments.items())[:256]:
        name = str(_audit_value(scrub(str(key), hidden)))
        if key in secret_args:
            try:
                args[name] = hash_secret(value)
            except Exception:
                args[name] = {"$secret": "unhashable"}
        else:
            args[name] = _audit_value(scrub(value, hidden))
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
