"""Human approvals and capability tokens, as the gateway uses them.

``ApprovalDesk`` opens an approval request for a call that needs one, verifies a presented approval
(signer, signature, digest of these very arguments, expiry, single use), marks it used once the call is
allowed, voids a request whose decision could not be recorded, and issues and verifies the single-use
capability token an allowed call carries to the tool side.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from warded.approve.approvals import ApprovalRejected, ApprovalRequest, RejectCode, make_request, verify_approval
from warded.approve.capability import CapabilityRejected, TokenVerifier, issue_token
from warded.approve.credentials import CredentialStore, SQLiteCredentialStore
from warded.approve.digest import DigestError, digest_of_action
from warded.approve.store import ApprovalStore
from warded.approve.webauthn import (
    Credential,
    RelyingParty,
    WebAuthnApproval,
    method_of,
    verify_webauthn_approval,
)
from warded.audit.keys import Signer
from warded.core.types import Action, Decision, Reason, Verdict, deny
from warded.errors import StoreError, ToolDenied
from warded.gateway._stores import Waker, resolved_store
from warded.policy.compile import CompiledPolicy


def relying_party(policy: CompiledPolicy) -> RelyingParty:
    """The policy's WebAuthn relying party (``approval.webauthn``)."""
    spec = policy.spec.approval.webauthn
    return RelyingParty(spec.rp_id, spec.rp_name, tuple(spec.origins))


def open_credentials(policy: CompiledPolicy) -> CredentialStore:
    """The registered approver passkeys: in the policy's PostgreSQL with ``store.postgres`` (shared by every
    replica and console), else the SQLite file ``approval.webauthn.credentials`` names."""
    resolved = resolved_store(policy)
    if resolved is not None and resolved.postgres is not None:
        from warded.approve.pg_credentials import PostgresCredentialStore  # noqa: PLC0415 - psycopg when configured

        return PostgresCredentialStore(resolved.postgres, schema=resolved.schema, timeout_s=resolved.timeout_s)
    sync = policy.spec.audit.synchronous.value.upper()
    return SQLiteCredentialStore(policy.audit_path(policy.spec.approval.webauthn.credentials), synchronous=sync)


def registered_credential(policy: CompiledPolicy, credential_id: str) -> dict[str, Credential]:
    """``{credential_id: credential}`` if that passkey is registered, else ``{}``. Raises StoreError."""
    with open_credentials(policy) as store:
        credential = store.get(credential_id)
    return {} if credential is None else {credential_id: credential}


class ApprovalDesk:
    """Approval requests and capability tokens for one gateway. ``store`` may be ``None`` (no approvals:
    every approval is refused and no request can be opened)."""

    def __init__(
        self,
        policy: CompiledPolicy,
        store: ApprovalStore | None,
        signer: Signer,
        clock: Callable[[], float],
        *,
        waker: Waker | None = None,
    ) -> None:
        self.policy = policy
        self.store = store
        self._waker = waker
        self._signer = signer
        self._clock = clock
        self._tokens = TokenVerifier({signer.key_id: signer.public_key}, clock)

    # -- gather: a presented approval ----------------------------------------------------------

    def verify(self, action: Action, request_id: str, now: float) -> tuple[ApprovalRequest | None, Decision | None]:
        """The request a human approved for exactly this action, or the DENY that says why not."""
        if self.store is None:
            return None, deny("approval.unavailable", "this gateway has no approval store")
        try:
            request = self.store.load_request(request_id)
            if request is None:
                return None, deny("approval.unknown_request", f"no approval request {request_id[:80]!r}")
            verdict = self.store.load_verdict(request_id)
            if verdict is None:
                return None, deny("approval.pending", f"approval request {request_id} has not been decided yet")
            method = method_of(verdict)
            if method not in self.policy.spec.approval.methods_for(request.tier):
                tier = request.tier.value if request.tier is not None else "unknown"
                return None, deny(
                    RejectCode.METHOD_NOT_ALLOWED.value,
                    f"the policy does not accept {method.value} approvals for the {tier} tier",
                )
            digest = digest_of_action(action, request.expires_at, request.nonce)
            if isinstance(verdict, WebAuthnApproval):
                verify_webauthn_approval(
                    request,
                    verdict,
                    registered_credential(self.policy, verdict.credential_id),
                    relying_party(self.policy),
                    now=now,
                    used=self.store.used_nonces,
                    action_digest=digest,
                    max_skew=self.policy.spec.approval.max_skew,
                )
            else:
                verify_approval(
                    request,
                    verdict,
                    self.policy.approvers,
                    now,
                    self.store.used_nonces,
                    action_digest=digest,
                    max_skew=self.policy.spec.approval.max_skew,
                )
        except ApprovalRejected as exc:
            return None, Decision(Verdict.DENY, (exc.reason,))
        except (StoreError, DigestError) as exc:
            return None, deny("approval.unverifiable", f"the approval could not be checked: {exc}")
        return request, None

    # -- commit --------------------------------------------------------------------------------

    def consume(self, request: ApprovalRequest, now: float) -> Decision | None:
        """Mark the approval used (once, across processes); a DENY if it cannot be."""
        if self.store is None:
            return deny("approval.unavailable", "this gateway has no approval store")
        try:
            if self.store.consume(request, now):
                return None
        except StoreError as exc:
            return deny("approval.unverifiable", f"the approval could not be marked used: {exc}")
        return deny("approval.replayed", "this approval has already been used")

    def open(
        self,
        action: Action,
        decision: Decision,
        shown: Mapping[str, Any],
        reasons: list[dict[str, str]],
        taint: list[dict[str, Any]],
    ) -> str:
        """Store an approval request: the digest of the real arguments, and for the human the arguments,
        reasons and taint as audited (scrubbed: what the policy hides stays hidden here too). Raises
        ``StoreError``, ``DigestError`` or ``ApprovalRejected`` if it cannot."""
        if self.store is None:
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
        self.store.save_request(request)
        return request.id

    def void(self, request_id: str) -> None:
        """Void a request whose decision could not be recorded (best effort)."""
        if self.store is not None:
            with contextlib.suppress(StoreError):
                self.store.void(request_id)

    def issue_token(self, action: Action, now: float) -> str:
        """A single-use capability token for exactly this action, signed with the audit key."""
        expires = now + self.policy.spec.approval.token_ttl
        nonce = secrets.token_urlsafe(16)
        return issue_token(self._signer, digest_of_action(action, expires, nonce), expires, nonce)

    # -- the tool side and the waiting caller --------------------------------------------------

    def verify_token(self, token: str, action: Action) -> None:
        """Raise :class:`ToolDenied` unless ``token`` was issued for exactly this action and is unused."""
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

    def wait(self, request_id: str, timeout_s: float, poll_s: float) -> str:
        """Block until a human decides ``request_id`` or ``timeout_s`` passes; returns the status."""
        if self.store is None:
            return "unknown"
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.store.status(request_id) or "unknown"
            left = deadline - time.monotonic()
            if status != "pending" or left <= 0:
                return status
            if self._waker is None:
                time.sleep(min(poll_s, left))
                continue
            # Woken as soon as a verdict is recorded; the store stays the authority, so a lost wake-up
            # (or Redis down) costs at most one slower poll, never a wrong answer.
            try:
                self._waker.wait(request_id, min(max(poll_s, 1.0), left))
            except StoreError:
                time.sleep(min(poll_s, left))
