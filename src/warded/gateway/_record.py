"""The last step of every outcome: its audit entry (and, where a human must decide, its approval request).

``Recorder`` writes the entry for a decision on a call and for the verdict on a tool's result, with
nothing the policy hides in it (see :mod:`warded.audit.format`). A decision that needs approval stores
its request first and names it in the entry: one append, and a request never exists without its recorded
decision. An action that cannot be recorded does not happen: a failed append is a DENY.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from warded.approve.approvals import ApprovalRejected
from warded.approve.digest import DigestError
from warded.audit.format import decision_record, result_record
from warded.audit.log import AuditLog, AuditUnavailable
from warded.audit.redact import scrub
from warded.core.types import Action, Decision, Reason, Verdict, deny
from warded.decide.result import ResultVerdict
from warded.errors import AuditError, StoreError
from warded.flow.taint import TaintFinding
from warded.gateway._approvals import ApprovalDesk
from warded.gateway._guard import Guard, Scanned, hide_found
from warded.scan.types import Response


class Recorder:
    """Audit entries for decisions and result verdicts."""

    def __init__(self, audit: AuditLog, guard: Guard, desk: ApprovalDesk, lock: threading.RLock) -> None:
        self.audit = audit
        self._guard = guard
        self._desk = desk
        self._lock = lock

    def append(self, kind: str, body: Mapping[str, Any]) -> int:
        """Append one entry; its sequence number."""
        return self.audit.append(kind, body).seq

    def decision(
        self,
        action: Action,
        decision: Decision,
        *,
        extra: Mapping[str, Any] | None = None,
        taint: tuple[TaintFinding, ...] = (),
    ) -> Decision:
        """Record a decision on a call (the caller holds the gateway's lock); the decision with its entry's id
        and approval request, or a DENY if either cannot be stored."""
        # Nothing the policy says to hide is written: not in the arguments, the reasons, the taint
        # explanations, nor the approval request (which binds to the real arguments by digest only).
        hidden = self._guard.hidden_for(action, taint)
        secret_args = self._guard.secret_args(action)
        body = decision_record(action, decision, secret_args, hidden, extra)
        request_id = ""
        if decision.verdict is Verdict.REQUIRE_APPROVAL:
            try:
                request_id = self._desk.open(
                    action, decision, body["action"]["arguments"], body["decision"]["reasons"], body.get("taint", [])
                )
            except (StoreError, DigestError, ApprovalRejected) as exc:
                decision = deny("store.unavailable", f"could not record the approval request: {exc}", decision.tier)
                body = {"action": body["action"], "decision": scrub(decision.to_json(), hidden)}
            else:
                body["approval_request"] = request_id
        try:
            seq = self.append("decision", body)
        except AuditError as exc:
            # An action that cannot be recorded does not happen.
            if request_id:
                self._desk.void(request_id)
            if isinstance(exc, AuditUnavailable) and self.audit.can_spool:
                return self._spooled(action, decision, hidden, exc)
            return deny("audit.write_failed", f"could not record the decision: {exc}", decision.tier)
        return replace(decision, id=f"d{seq}", request_id=request_id)

    def _spooled(self, action: Action, decided: Decision, hidden: Any, exc: AuditUnavailable) -> Decision:
        """The audit store is unreachable or too slow: the call is denied (``store.unavailable``) and that
        denial waits in the local spool until the store is back. If even the spool cannot be written, the
        denial is ``audit.write_failed``."""
        decision = deny("store.unavailable", f"the audit store is unavailable: {exc}", decided.tier)
        body = decision_record(action, decision, self._guard.secret_args(action), hidden)
        try:
            spool_id = self.audit.spool("decision", body, str(exc))
        except AuditError as spool_exc:
            return deny("audit.write_failed", f"could not record the decision: {exc}; {spool_exc}", decided.tier)
        return replace(decision, id=spool_id)

    def failure(self, action: object, decision: Decision) -> Decision:
        """Record a decision the gateway reached by failing (no scan here: hide at least what the policy marks
        secret). Raises if even that cannot be written."""
        hidden = self._guard.secret_texts(action)
        body = decision_record(action, decision, self._guard.secret_args(action), hidden)
        recorded = self.audit.record("decision", body)  # spooled when the store is unavailable
        return replace(decision, id=recorded if isinstance(recorded, str) else f"d{recorded.seq}")

    def result(self, action: Action, judged: ResultVerdict, scanned: Scanned) -> Decision:
        """Record the verdict on a tool's result, opening an approval request when it needs one (a result
        that needs one but cannot get one is withheld outright); the decision with its entry's id."""
        decision = Decision(judged.verdict, judged.reasons)
        hidden = self._guard.hidden_for(action)
        hide_found(scanned, hidden)
        findings = [{"path": text.path, **a.to_json()} for text, a in scanned]
        response = judged.response.value if judged.response is not None else None
        body = result_record(action, response, findings, self._guard.secret_args(action), hidden)
        with self._lock:
            request_id = ""
            if decision.verdict is Verdict.REQUIRE_APPROVAL:
                try:
                    reasons = scrub([r.to_json() for r in decision.reasons], hidden)
                    request_id = self._desk.open(action, decision, body["action"]["arguments"], reasons, [])
                    body["approval_request"] = request_id
                except (StoreError, DigestError, ApprovalRejected):
                    decision = replace(decision, verdict=Verdict.DENY)  # cannot ask anyone: withhold the result
            seq = self.append("result_scanned", body)
        return replace(decision, id=f"d{seq}", request_id=request_id)

    def refused_result(self, action: object, reason: Reason) -> Decision:
        """Record a result withheld unread (its action could not be stored); the DENY with its entry's id."""
        hidden = self._guard.secret_texts(action)
        body = result_record(
            action, Response.DENY.value, [], self._guard.secret_args(action), hidden, refused=reason.to_json()
        )
        with self._lock:
            seq = self.append("result_scanned", body)
        return Decision(Verdict.DENY, (reason,), id=f"d{seq}")
