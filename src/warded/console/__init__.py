"""The operator console (``warded console``): pending approvals signed with passkeys (WebAuthn), live
decisions, the audit log with its verification status, sessions and the kill switch.

:func:`serve` runs it (loopback by default); :func:`enrol` creates the one-time code a new approver
registers a passkey with. The pages and their security are described in :mod:`warded.console.app`.
"""

from __future__ import annotations

import time

from warded.console.app import Console, create_app, open_console
from warded.errors import StoreError
from warded.gateway._approvals import open_credentials
from warded.gateway._stores import open_audit_log, resolved_store
from warded.policy.compile import load_policy

__all__ = ["Console", "create_app", "enrol", "list_passkeys", "open_console", "revoke", "serve"]


def enrol(policy_path: str, approver: str, *, ttl_s: float = 900.0) -> tuple[str, str]:
    """A one-time code (valid ``ttl_s``) that registers a passkey as ``approver``, and the URL to use it at.

    The code is kept hashed; its creation is written to the audit log (without the code).
    """
    policy = load_policy(policy_path)
    now = time.time()
    with open_credentials(policy) as store:
        code = store.create_enrolment(approver, now, ttl_s)
    audit = open_audit_log(policy, resolved_store(policy))
    try:
        audit.append("approver_enrolment_created", {"approver": approver, "expires_at": now + ttl_s, "by": "cli"})
    finally:
        audit.close()
    origin = policy.spec.approval.webauthn.origins[0]
    return code, f"{origin}/register?code={code}"


def list_passkeys(policy_path: str) -> list[str]:
    """One line per registered passkey: credential id, approver, counter, registration time."""
    with open_credentials(load_policy(policy_path)) as store:
        return [
            f"{c.credential_id}  {c.approver}  counter {c.sign_count}  registered "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(c.created_at))}"
            for c in store.all()
        ]


def revoke(policy_path: str, credential_id: str) -> str:
    """Remove a registered passkey (its unused approvals are refused from now on) and audit it."""
    policy = load_policy(policy_path)
    with open_credentials(policy) as store:
        credential = store.revoke(credential_id)
    if credential is None:
        raise StoreError(f"no registered passkey {credential_id!r}")
    audit = open_audit_log(policy, resolved_store(policy))
    try:
        audit.append(
            "approver_revoked",
            {"approver": credential.approver, "credential_id": credential_id, "method": "webauthn", "by": "cli"},
        )
    finally:
        audit.close()
    return credential.approver


def serve(policy_path: str, *, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Serve the console on ``host:port`` until interrupted (uvicorn with warded's connection guards)."""
    from warded.config.http import HttpLimits  # noqa: PLC0415 - only when serving
    from warded.proxy._http_server import GuardedConfig, run  # noqa: PLC0415

    console = open_console(policy_path)
    try:
        app = create_app(console)
        run(GuardedConfig(app, limits=HttpLimits(), host=host, port=port, log_level="warning"))
    finally:
        console.close()
