"""The operator console: pending approvals signed with passkeys, live decisions, the audit log, sessions.

A Starlette app with server-rendered Jinja2 pages and one small script of our own (``static/console.js``,
no build step, no CDN). It opens the stores the policy names, as a gateway does (``gateway/_stores``), and
writes every action it takes to the same audit log, naming the approver.

Security: sign-in by passkey only (no passwords), user verification required; the session cookie is
``Secure; HttpOnly; SameSite=Strict``; every POST needs the session's CSRF token in ``X-CSRF-Token`` and an
``Origin`` among ``approval.webauthn.origins``; the Host header must be one of those origins' hosts; a strict
Content-Security-Policy with no inline script; sign-in and registration are rate limited per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warded import jsonio
from warded.approve._encoding import b64url_encode
from warded.approve.approvals import ApprovalRejected, ApprovalRequest, ApprovalVerdict, RejectCode
from warded.approve.credentials import CredentialStore
from warded.approve.methods import ApprovalMethod
from warded.approve.store import ApprovalStore, RequestStatus
from warded.approve.webauthn import (
    Credential,
    RelyingParty,
    approval_challenge,
    approval_record,
    assertion_options,
    check_assertion,
    check_registration,
    registration_options,
    verify_webauthn_signature,
)
from warded.audit.canonical import canonical_json
from warded.audit.chain import AuditEntry, VerifyRules
from warded.audit.keys import public_key_path
from warded.audit.log import AuditLog, verify_store
from warded.bom.status import bom_status
from warded.console._auth import COOKIE, RateLimiter, Session, Sessions
from warded.console._live import DecisionFeed, Filter, summarise
from warded.errors import AuditError, StoreError, WardedError
from warded.gateway._approvals import open_credentials, relying_party
from warded.gateway._stores import (
    Waker,
    open_approvals,
    open_audit_log,
    open_state,
    open_waker,
    resolved_store,
)
from warded.incident.store import incident_store_for
from warded.monitor.alerts import ALERT_KIND, list_alerts
from warded.policy.compile import CompiledPolicy, load_policy
from warded.store.state import ALL_SESSIONS, StateStore

__all__ = ["CONFIRM_DOMAIN", "Console", "create_app"]

CONFIRM_DOMAIN = b"warded-console-confirm-v1\n"
"""Hashed before what a pause or resume confirmation signs, so it means nothing elsewhere."""

MAX_BODY = 64 * 1024
PAGE = 50
"""Audit entries per page by default (``?n=`` asks for up to :data:`MAX_PAGE`)."""
MAX_PAGE = 200
SEARCH_WINDOW = 2000
"""An audit search reads at most this many entries per page, newest first, below the page's ``before``; when
the window ends before a page of hits, the page says which entries it searched and links to the next window."""
SEARCH_CHUNK = 500
ALERT_SCAN = 2000
"""The alerts page searches this many audit entries at a time, newest first (the page says which, and links
to the next older window)."""
ALERTS_SHOWN = 200
CHECKPOINTS_SHOWN = 20
VERIFY_EVERY_S = 60.0
"""The audit page re-verifies the whole chain (in the background) when the head has moved, at most this often."""
_TEMPLATES = resources.files("warded.console") / "templates"
_STATIC = resources.files("warded.console") / "static"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-store",
}


class ConsoleError(WardedError):
    """A console request that cannot be served (shown to the operator, with an HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _when(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return repr(ts)


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _pretty(value: object) -> str:
    """JSON for a human: indented, keys sorted, every non-ASCII character escaped (no look-alikes)."""
    return json.dumps(_plain(value), indent=2, sort_keys=True, ensure_ascii=True)


@dataclass
class ChainStatus:
    ok: bool
    text: str
    head_seq: int
    checked_at: float


class Console:
    """What the console works on: the policy's stores, its sessions, the live feed. One per process."""

    def __init__(self, policy: CompiledPolicy, *, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.clock = clock
        self.rp: RelyingParty = relying_party(policy)
        resolved = resolved_store(policy)
        with contextlib.ExitStack() as opened:
            self.audit: AuditLog = open_audit_log(policy, resolved, clock=clock)
            opened.callback(self.audit.close)
            self.state: StateStore = open_state(policy, resolved)
            opened.callback(self.state.close)
            self.approvals: ApprovalStore = open_approvals(policy, resolved)
            opened.callback(self.approvals.close)
            self.credentials: CredentialStore = open_credentials(policy)
            opened.callback(self.credentials.close)
            self.waker: Waker | None = open_waker(resolved)
            if self.waker is not None:
                opened.callback(self.waker.close)
            self.audit.start("console_started", {"policy": policy.source, "rp_id": self.rp.rp_id})
            opened.pop_all()
        self.sessions = Sessions()
        self.login_limit = RateLimiter()
        self.feed = DecisionFeed(self.audit.store)
        self._chain: ChainStatus | None = None
        self._chain_lock = threading.Lock()
        self._verifying = False
        self._trusted_keys = {self.audit.signer.key_id: self.audit.signer.public_key}
        self.key_file = str(public_key_path(policy.audit_path(policy.spec.audit.key)))

    def close(self) -> None:
        with contextlib.ExitStack() as closing:
            closing.callback(self.credentials.close)
            closing.callback(self.approvals.close)
            closing.callback(self.state.close)
            if self.waker is not None:
                closing.callback(self.waker.close)
            self.audit.close(final=("console_stopped", {}))

    def record(self, kind: str, body: Mapping[str, Any]) -> AuditEntry:
        return self.audit.append(kind, body)

    # -- the chain's status, recomputed when the head moves ----------------------------------------

    def chain_status(self) -> ChainStatus | None:
        """The last verification of the whole chain (None before the first one ends). When the head has moved
        since, a new verification starts in the background (a page never waits for one), but at most one at a
        time and no sooner than :data:`VERIFY_EVERY_S` after the last one: a verification reads the whole log,
        so however often pages are visited while gateways write, the log is read once a minute at most."""
        head_seq = self.audit.store.head()[0]
        with self._chain_lock:
            cached = self._chain
            moved = cached is None or cached.head_seq != head_seq
            due = cached is None or self.clock() >= cached.checked_at + VERIFY_EVERY_S
            if moved and due and not self._verifying:
                self._verifying = True
                threading.Thread(target=self._verify_chain, name="console-chain-verify", daemon=True).start()
            return cached

    @property
    def verifying(self) -> bool:
        """Whether a verification of the whole chain is running now."""
        with self._chain_lock:
            return self._verifying

    def verify_chain_now(self) -> ChainStatus:
        """Verify the whole chain now (trusting the policy's audit key) and remember the result."""
        head_seq = self.audit.store.head()[0]
        try:
            report = verify_store(
                self.audit.store,
                self._trusted_keys,
                VerifyRules(checkpoint_every=self.policy.spec.audit.checkpoint_every, allow_empty=True),
            )
            status = ChainStatus(True, report.summary(), report.head_seq, self.clock())
        except WardedError as exc:
            status = ChainStatus(False, f"VERIFICATION FAILED: {exc}", head_seq, self.clock())
        with self._chain_lock:
            self._chain = status
        return status

    def _verify_chain(self) -> None:
        try:
            self.verify_chain_now()
        finally:
            with self._chain_lock:
                self._verifying = False


# -- request plumbing --------------------------------------------------------------------------------


class SecurityHeaders:
    """Adds the security headers (CSP and friends) to every response (bodies are bounded by :class:`BodyLimit`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                # How long the page took to make, for `warded bench console` (and the browser's devtools).
                took_ms = (time.perf_counter() - started) * 1000.0
                headers.append((b"server-timing", f"app;dur={took_ms:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyRefused(ConsoleError):
    """A request body over :data:`MAX_BODY`, or not the length its ``Content-Length`` says."""


class BodyLimit:
    """Bounds every request body before any handler reads it: a ``Content-Length`` that is not one decimal
    number is a 400 and one over :data:`MAX_BODY` a 413, answered from the headers without reading a byte;
    the body is then counted as it arrives (chunked or not) and reading stops at the first chunk past the
    cap (413) or past the declared length (400); a body that ends short of its declared length is a 400."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared_values = [v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"]
        declared: int | None = None
        if declared_values:
            raw = declared_values[0]
            if len(declared_values) > 1 or not raw.isdigit() or len(raw) > 18:
                await _refuse(scope, receive, send, 400, "Content-Length must be one decimal number")
                return
            declared = int(raw)
            if declared > self.limit:
                await _refuse(scope, receive, send, 413, f"request body over {self.limit} bytes")
                return
        cap = self.limit if declared is None else declared
        size = 0

        async def bounded() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > cap:
                    if declared is None:
                        raise BodyRefused(413, f"request body over {self.limit} bytes")
                    raise BodyRefused(400, "the request body is longer than its Content-Length")
                if declared is not None and not message.get("more_body", False) and size < declared:
                    raise BodyRefused(400, "the request body is shorter than its Content-Length")
            return message

        await self.app(scope, bounded, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    await JSONResponse({"ok": False, "error": message}, status_code=status, headers={"connection": "close"})(
        scope, receive, send
    )


def _int_param(raw: str | None, default: int) -> int:
    """A query parameter as a (bounded) integer; ``default`` when absent or not a plain decimal number."""
    if raw is None or not raw.isdigit() or len(raw) > 18:
        return default
    return int(raw)


@dataclass(frozen=True)
class Searched:
    """The part of the log a search read: entries ``lower`` to ``upper``; ``window_ended`` when it stopped
    at the end of its window (:data:`SEARCH_WINDOW` entries) rather than after a page of hits."""

    lower: int
    upper: int
    window_ended: bool


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


class Pages:
    """The routes; each page is a method, rendered from ``templates/``."""

    def __init__(self, console: Console) -> None:
        self.c = console
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["when"] = _when
        self.env.filters["pretty"] = _pretty
        self.origins = frozenset(console.rp.origins)

    # -- helpers -----------------------------------------------------------------------------------

    def session(self, request: Request) -> tuple[Session, bool]:
        now = self.c.clock()
        found = self.c.sessions.get(request.cookies.get(COOKIE), now)
        if found is not None:
            return found, False
        return self.c.sessions.new(now), True

    def _set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE, session.sid, httponly=True, secure=True, samesite="strict", path="/", max_age=8 * 3600
        )

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session, fresh = self.session(request)
        html = self.env.get_template(name).render(
            session=session, path=request.url.path, nav=NAV, now=self.c.clock(), **context
        )
        response = HTMLResponse(html, status_code=status)
        if fresh:
            self._set_cookie(response, session)
        return response

    async def posted(self, request: Request, *, signed_in: bool = True) -> tuple[Session, dict[str, Any]]:
        """The session and JSON body of a state-changing request, after the Origin and CSRF checks."""
        origin = request.headers.get("origin")
        if origin not in self.origins:
            raise ConsoleError(403, "cross-origin request refused")
        session = self.c.sessions.get(request.cookies.get(COOKIE), self.c.clock())
        if session is None or not session.csrf_ok(request.headers.get("x-csrf-token")):
            raise ConsoleError(403, "missing or wrong CSRF token (reload the page)")
        if signed_in and session.approver is None:
            raise ConsoleError(401, "sign in with your passkey first")
        raw = await request.body()  # bounded by BodyLimit: never more than MAX_BODY bytes are read
        if len(raw) > MAX_BODY:
            raise ConsoleError(413, "request too large")
        try:
            body = jsonio.loads(raw.decode("utf-8")) if raw else {}
        except (jsonio.JsonRefused, UnicodeDecodeError, ValueError) as exc:
            raise ConsoleError(400, f"request body is not strict JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ConsoleError(400, "request body must be a JSON object")
        return session, body

    def signed_in(self, request: Request) -> Session | None:
        session = self.c.sessions.get(request.cookies.get(COOKIE), self.c.clock())
        return session if session is not None and session.approver is not None else None

    # -- sign in and registration ------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        return self.render(request, "login.html", registered=len(self.c.credentials.all()))

    async def login_options(self, request: Request) -> Response:
        session, _ = await self.posted(request, signed_in=False)
        if not self.c.login_limit.allow(_client(request), self.c.clock()):
            self.c.record("console_login_refused", {"client": _client(request), "reason": "rate limited"})
            raise ConsoleError(429, "too many sign-in attempts; wait a minute")
        challenge = secrets.token_bytes(32)
        session.waiting["login"] = challenge
        allow = [c.credential_id for c in self.c.credentials.all()]
        return Response(assertion_options(self.c.rp, challenge, allow), media_type="application/json")

    async def login_verify(self, request: Request) -> Response:
        session, body = await self.posted(request, signed_in=False)
        challenge = session.waiting.pop("login", None)
        assertion = body.get("assertion")
        try:
            if not isinstance(challenge, bytes):
                raise ConsoleError(400, "ask for a sign-in challenge first")
            credential = self._credential_of(assertion)
            checked = check_assertion(str(assertion), challenge, credential, self.c.rp)
            if not self.c.credentials.advance(credential.credential_id, credential.sign_count, checked.sign_count):
                raise ApprovalRejected(RejectCode.REPLAYED, "signature counter did not advance")
        except (ApprovalRejected, ConsoleError) as exc:
            self.c.record("console_login_refused", {"client": _client(request), "reason": str(exc)[:300]})
            raise ConsoleError(403, f"sign-in refused: {exc}") from None
        fresh = self.c.sessions.sign_in(session, credential.approver, credential.credential_id, self.c.clock())
        self.c.record(
            "console_login",
            {"approver": credential.approver, "credential_id": credential.credential_id, "client": _client(request)},
        )
        response = JSONResponse({"ok": True, "approver": credential.approver, "next": "/approvals"})
        self._set_cookie(response, fresh)
        return response

    async def logout(self, request: Request) -> Response:
        session, _ = await self.posted(request)
        self.c.sessions.end(session)
        self.c.record("console_logout", {"approver": session.approver})
        response = JSONResponse({"ok": True, "next": "/login"})
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    async def register_page(self, request: Request) -> Response:
        return self.render(request, "register.html", code=request.query_params.get("code", "")[:64])

    async def register_options(self, request: Request) -> Response:
        session, body = await self.posted(request, signed_in=False)
        if not self.c.login_limit.allow(_client(request), self.c.clock()):
            raise ConsoleError(429, "too many attempts; wait a minute")
        code = body.get("code")
        approver = self.c.credentials.peek_enrolment(code, self.c.clock()) if isinstance(code, str) else None
        if approver is None:
            self.c.record("approver_registration_refused", {"client": _client(request), "reason": "bad code"})
            raise ConsoleError(403, "the enrolment code is unknown, expired or already used")
        user_id = hashlib.sha256(b"warded-approver\n" + approver.encode()).digest()[:16]
        existing = [c.credential_id for c in self.c.credentials.for_approver(approver)]
        options, challenge = registration_options(self.c.rp, approver, user_id, existing)
        session.waiting["register"] = (challenge, code, approver)
        return Response(options, media_type="application/json")

    async def register_verify(self, request: Request) -> Response:
        session, body = await self.posted(request, signed_in=False)
        waiting = session.waiting.pop("register", None)
        if not isinstance(waiting, tuple):
            raise ConsoleError(400, "ask for registration options first")
        challenge, code, approver = waiting
        now = self.c.clock()
        try:
            credential = check_registration(str(body.get("credential")), challenge, self.c.rp, approver, now)
            self.c.credentials.register(code, credential, now)
        except (ApprovalRejected, StoreError) as exc:
            self.c.record("approver_registration_refused", {"approver": approver, "reason": str(exc)[:300]})
            raise ConsoleError(403, f"registration refused: {exc}") from None
        self.c.record(
            "approver_registered",
            {
                "approver": approver,
                "method": ApprovalMethod.WEBAUTHN.value,
                "credential_id": credential.credential_id,
                "public_key": b64url_encode(credential.public_key),
                "public_key_sha256": credential.key_hash,
                "rp_id": self.c.rp.rp_id,
            },
        )
        return JSONResponse({"ok": True, "approver": approver, "next": "/login"})

    def _credential_of(self, assertion: object) -> Credential:
        """The registered credential an assertion names (UNKNOWN_SIGNER if none)."""
        if not isinstance(assertion, str):
            raise ApprovalRejected(RejectCode.MALFORMED, "assertion must be the credential's JSON text")
        try:
            parsed = jsonio.loads(assertion)
        except jsonio.JsonRefused as exc:
            raise ApprovalRejected(RejectCode.MALFORMED, f"assertion is not JSON: {exc}") from None
        cid = parsed.get("id") if isinstance(parsed, dict) else None
        credential = self.c.credentials.get(cid) if isinstance(cid, str) and len(cid) <= 1024 else None
        if credential is None:
            raise ApprovalRejected(RejectCode.UNKNOWN_SIGNER, "this passkey is not registered with the console")
        return credential

    def _own_credential(self, session: Session, assertion: object) -> Credential:
        credential = self._credential_of(assertion)
        if credential.approver != session.approver:
            raise ApprovalRejected(
                RejectCode.UNKNOWN_SIGNER, f"this passkey belongs to {credential.approver}, not {session.approver}"
            )
        return credential

    # -- approvals ---------------------------------------------------------------------------------

    async def approvals_page(self, request: Request) -> Response:
        if self.signed_in(request) is None:
            return RedirectResponse("/login", status_code=303)
        now = self.c.clock()
        pending = self.c.approvals.pending(now)
        methods = {r.id: sorted(m.value for m in self.c.policy.spec.approval.methods_for(r.tier)) for r in pending}
        return self.render(request, "approvals.html", pending=pending, methods=methods)

    def _pending_request(self, request_id: str) -> ApprovalRequest:
        request = self.c.approvals.load_request(request_id)
        if request is None:
            raise ConsoleError(404, f"no approval request {request_id[:80]!r}")
        status = self.c.approvals.status(request_id)
        if status != RequestStatus.PENDING:
            raise ConsoleError(409, f"approval request {request_id} is already {status}")
        if self.c.clock() >= request.expires_at:
            raise ConsoleError(409, f"approval request {request_id} has expired")
        return request

    @staticmethod
    def _verdict(body: Mapping[str, Any]) -> ApprovalVerdict:
        try:
            return ApprovalVerdict(str(body.get("verdict")))
        except ValueError:
            raise ConsoleError(400, "verdict must be 'approve' or 'deny'") from None

    async def approval_options(self, request: Request) -> Response:
        session, body = await self.posted(request)
        request_id = request.path_params["request_id"]
        verdict = self._verdict(body)
        pending = self._pending_request(request_id)
        if verdict is ApprovalVerdict.APPROVE and ApprovalMethod.WEBAUTHN not in (
            self.c.policy.spec.approval.methods_for(pending.tier)
        ):
            raise ConsoleError(403, "the policy does not accept passkey approvals for this tier")
        allow = [c.credential_id for c in self.c.credentials.for_approver(str(session.approver))]
        challenge = approval_challenge(pending.digest, verdict)
        return Response(assertion_options(self.c.rp, challenge, allow), media_type="application/json")

    async def approval_decide(self, request: Request) -> Response:
        session, body = await self.posted(request)
        request_id = request.path_params["request_id"]
        verdict = self._verdict(body)
        assertion = body.get("assertion")
        try:
            pending = self._pending_request(request_id)
            if verdict is ApprovalVerdict.APPROVE and ApprovalMethod.WEBAUTHN not in (
                self.c.policy.spec.approval.methods_for(pending.tier)
            ):
                raise ApprovalRejected(RejectCode.METHOD_NOT_ALLOWED, "passkey approvals are not accepted here")
            credential = self._own_credential(session, assertion)
            checked = check_assertion(
                str(assertion), approval_challenge(pending.digest, verdict), credential, self.c.rp
            )
            now = self.c.clock()
            record = approval_record(pending, verdict, checked, credential, self.c.rp, decided_at=now)
            verify_webauthn_signature(pending, record, {credential.credential_id: credential}, self.c.rp)
            if not self.c.credentials.advance(credential.credential_id, credential.sign_count, checked.sign_count):
                raise ApprovalRejected(RejectCode.REPLAYED, "signature counter did not advance (replay)")
        except (ApprovalRejected, StoreError, ConsoleError) as exc:
            self._refused(request_id, session, exc)
            status = exc.status if isinstance(exc, ConsoleError) else 403
            raise ConsoleError(status, f"{verdict.value} refused: {exc}") from None
        # Audited before it takes effect: a verdict the audit log cannot hold is never recorded (the audit
        # error answers 503 and the request stays pending), so no approval acts unaudited.
        decided = self.c.record(
            "approval_decided",
            {
                "request_id": request_id,
                "verdict": verdict.value,
                "approver": record.approver,
                "method": ApprovalMethod.WEBAUTHN.value,
                "key_id": record.key_id,
                "approval": record.to_json(),
                "via": "console",
            },
        )
        try:
            self.c.approvals.record_verdict(record)
        except StoreError as exc:  # not recorded (decided meanwhile, or the store failed): say so after it
            self._refused(request_id, session, exc, decided_seq=decided.seq)
            try:
                now_status = self.c.approvals.status(request_id)
            except StoreError:
                now_status = None
            code = 409 if now_status not in (None, RequestStatus.PENDING) else 503
            raise ConsoleError(code, f"{verdict.value} refused: {exc}") from None
        if self.c.waker is not None:
            with contextlib.suppress(StoreError):
                self.c.waker.notify(request_id)
        return JSONResponse({"ok": True, "request_id": request_id, "verdict": verdict.value})

    def _refused(self, request_id: str, session: Session, exc: Exception, decided_seq: int | None = None) -> None:
        body: dict[str, Any] = {"request_id": request_id[:128], "approver": session.approver, "reason": str(exc)[:500]}
        if decided_seq is not None:
            body["not_recorded_after"] = decided_seq  # the approval_decided entry whose verdict did not take
        self.c.record("approval_refused", body)

    # -- live decisions ----------------------------------------------------------------------------

    @staticmethod
    def _filter(request: Request) -> Filter:
        q = request.query_params
        return Filter(q.get("verdict", "")[:32], q.get("agent_id", "")[:128], q.get("tool", "")[:128])

    async def decisions_page(self, request: Request) -> Response:
        if self.signed_in(request) is None:
            return RedirectResponse("/login", status_code=303)
        flt = self._filter(request)
        tail = self.c.audit.store.tail(300)
        recent = [s for e in tail if (s := summarise(e)) is not None and flt.matches(s)]
        # The cursor: the last seq this page read. Its stream sends what comes after it, each seq once.
        cursor = tail[-1].seq if tail else 0
        return self.render(request, "decisions.html", recent=recent[-100:][::-1], flt=flt, cursor=cursor)

    async def decisions_stream(self, request: Request) -> Response:
        """The live stream, resuming after ``?after=`` (the page's cursor) or, when the browser reconnects,
        after the ``Last-Event-ID`` it saw last (event ids are seqs); without either, from now on."""
        if self.signed_in(request) is None:
            raise ConsoleError(401, "sign in first")
        cursors = [request.query_params.get("after"), request.headers.get("last-event-id")]
        if any(c is not None and _int_param(c, -1) < 0 for c in cursors):
            raise ConsoleError(400, "after and Last-Event-ID must be sequence numbers")
        given = [_int_param(c, -1) for c in cursors if c is not None]
        after = max(given) if given else None
        subscriber = self.c.feed.subscribe(self._filter(request))
        return StreamingResponse(
            self.c.feed.stream(subscriber, request.is_disconnected, after=after),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},
            background=BackgroundTask(self.c.feed.unsubscribe, subscriber),  # also if the stream never began
        )

    # -- audit ---------------------------------------------------------------------------------------

    async def audit_page(self, request: Request) -> Response:
        """Entries newest first, paged by sequence number (keyset: ``before`` is the first seq *not* shown).
        Every page is bounded work whatever the log's size: a plain page is one query of at most
        :data:`MAX_PAGE` entries down the seq index; a search reads at most :data:`SEARCH_WINDOW` entries
        below ``before`` and says which it searched, and where to go on, when the window ends first."""
        if self.signed_in(request) is None:
            return RedirectResponse("/login", status_code=303)
        params = request.query_params
        q = params.get("q", "")[:200]
        kind = params.get("kind", "")[:64]
        n = min(MAX_PAGE, max(1, _int_param(params.get("n"), PAGE)))
        store = self.c.audit.store
        head = store.head()[0]
        before = _int_param(params.get("before"), 0)
        before = head + 1 if before <= 0 or before > head else before
        searched: Searched | None = None
        if q or kind:
            entries, searched = self._search(q, kind, before, n)
            more = searched.lower if searched.lower > 1 else None
        else:
            entries = store.entries_before(before, n)
            more = entries[-1].seq if len(entries) == n and entries[-1].seq > 1 else None
        return self.render(
            request,
            "audit.html",
            entries=entries,
            q=q,
            kind=kind,
            n=n,
            page=PAGE,
            head=head,
            more=more,
            searched=searched,
            chain=self.c.chain_status(),
            verifying=self.c.verifying,
            verify_every=VERIFY_EVERY_S,
            checkpoints=store.latest_checkpoints(CHECKPOINTS_SHOWN)[::-1],
            key_file=self.c.key_file,
        )

    def _search(self, q: str, kind: str, before: int, n: int) -> tuple[list[AuditEntry], Searched]:
        """At most ``n`` hits, newest first, among the :data:`SEARCH_WINDOW` entries below ``before``, read
        :data:`SEARCH_CHUNK` at a time down the seq index (the kind is filtered by the query, the text here)
        and stopping at the ``n``-th hit. The window and where it stopped are returned: a search that ends
        its window before a page of hits says so, and the page links to the next older window."""
        needle = q.lower()
        floor = max(1, before - SEARCH_WINDOW)
        hits: list[AuditEntry] = []
        upper = before
        while True:
            rows = self.c.audit.store.entries_before(upper, SEARCH_CHUNK, kind=kind or None, min_seq=floor)
            for entry in rows:
                text = entry.body_json if entry.body_json is not None else canonical_json(entry.body)
                if needle and needle not in text.decode("utf-8", "replace").lower():
                    continue
                hits.append(entry)
                if len(hits) >= n:
                    return hits, Searched(entry.seq, before - 1, window_ended=False)
            if len(rows) < SEARCH_CHUNK:
                return hits, Searched(floor, before - 1, window_ended=True)
            upper = rows[-1].seq

    # -- sessions and the kill switch ------------------------------------------------------------------

    async def sessions_page(self, request: Request) -> Response:
        if self.signed_in(request) is None:
            return RedirectResponse("/login", status_code=303)
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in self.c.audit.store.tail(500):
            item = summarise(entry)
            if item is None:
                continue
            row = seen.setdefault(
                (item["agent_id"], item["session_id"]), {"calls": 0, "denied": 0, "last": 0.0, "pending": 0}
            )
            row["calls"] += 1
            row["denied"] += item["verdict"] == "deny"
            row["pending"] += item["verdict"] == "require_approval"
            row["last"] = max(row["last"], item["ts"])
        pauses = {(p.agent_id, p.session_id): p for p in self.c.state.list_pauses()}
        agents = sorted(self.c.policy.spec.agents)
        return self.render(
            request,
            "sessions.html",
            seen=sorted(seen.items(), key=lambda kv: -float(kv[1]["last"])),
            pauses=pauses,
            agents=agents,
            all_sessions=ALL_SESSIONS,
        )

    def _confirm_challenge(self, op: str, agent_id: str, session_id: str, nonce: str) -> bytes:
        body = canonical_json({"op": op, "agent_id": agent_id, "session_id": session_id, "nonce": nonce})
        return hashlib.sha256(CONFIRM_DOMAIN + body).digest()

    def _target(self, body: Mapping[str, Any]) -> tuple[str, str, str]:
        op, agent_id, session_id = body.get("op"), body.get("agent_id"), body.get("session_id")
        if op not in ("pause", "resume"):
            raise ConsoleError(400, "op must be 'pause' or 'resume'")
        if not isinstance(agent_id, str) or agent_id not in self.c.policy.spec.agents:
            raise ConsoleError(400, "unknown agent")
        if not isinstance(session_id, str) or not session_id or len(session_id) > 256 or not session_id.isprintable():
            raise ConsoleError(400, "session_id must be a printable string")
        return str(op), agent_id, session_id

    async def session_options(self, request: Request) -> Response:
        session, body = await self.posted(request)
        op, agent_id, session_id = self._target(body)
        nonce = secrets.token_hex(16)
        challenge = self._confirm_challenge(op, agent_id, session_id, nonce)
        session.waiting["session"] = (op, agent_id, session_id, challenge, self.c.clock() + 120.0, nonce)
        allow = [c.credential_id for c in self.c.credentials.for_approver(str(session.approver))]
        return Response(assertion_options(self.c.rp, challenge, allow), media_type="application/json")

    async def session_confirm(self, request: Request) -> Response:
        session, body = await self.posted(request)
        waiting = session.waiting.pop("session", None)
        op, agent_id, session_id = self._target(body)
        try:
            if not isinstance(waiting, tuple) or waiting[:3] != (op, agent_id, session_id):
                raise ConsoleError(400, "ask for a confirmation challenge for this session first")
            if self.c.clock() >= waiting[4]:
                raise ConsoleError(400, "the confirmation expired; try again")
            credential = self._own_credential(session, body.get("assertion"))
            checked = check_assertion(str(body.get("assertion")), waiting[3], credential, self.c.rp)
            if not self.c.credentials.advance(credential.credential_id, credential.sign_count, checked.sign_count):
                raise ApprovalRejected(RejectCode.REPLAYED, "signature counter did not advance (replay)")
        except (ApprovalRejected, ConsoleError) as exc:
            self.c.record(
                "console_action_refused",
                {"op": op, "agent_id": agent_id, "session_id": session_id, "approver": session.approver,
                 "reason": str(exc)[:300]},
            )  # fmt: skip
            raise ConsoleError(exc.status if isinstance(exc, ConsoleError) else 403, str(exc)) from None
        proof = {
            "nonce": waiting[5],
            "challenge": b64url_encode(waiting[3]),
            "credential_id": credential.credential_id,
            "client_data_json": checked.client_data_json,
            "authenticator_data": checked.authenticator_data,
            "signature": checked.signature,
        }
        if op == "pause":
            changed = self.c.state.pause(agent_id, session_id, "operator (console)", "operator.pause", self.c.clock())
            self.c.record(
                "session_paused",
                {"agent_id": agent_id, "session_id": session_id, "rule_id": "operator.pause",
                 "reason": "operator (console)", "by": session.approver, "confirmed_by": proof},
            )  # fmt: skip
        else:
            # Audited before it takes effect (a resume lets the session act again): if the audit log cannot
            # hold it, the session stays paused. A pause, above, takes effect first: it only stops actions.
            was_paused = any(p.agent_id == agent_id and p.session_id == session_id for p in self.c.state.list_pauses())
            self.c.record(
                "session_resumed",
                {"agent_id": agent_id, "session_id": session_id, "by": session.approver, "was_paused": was_paused,
                 "confirmed_by": proof},
            )  # fmt: skip
            changed = self.c.state.resume(agent_id, session_id)
        return JSONResponse({"ok": True, "op": op, "changed": changed})

    # -- alerts, incidents, the BOM (rendered from the monitor, incident and bom packages) ------------

    async def alerts_page(self, request: Request) -> Response:
        if self.signed_in(request) is None:
            return RedirectResponse("/login", status_code=303)
        agent = request.query_params.get("agent_id", "")[:128]
        rule = request.query_params.get("rule", "")[:128]
        before = _int_param(request.query_params.get("before"), 0)
        head = self.c.audit.store.head()[0]
        upper = min(before - 1, head) if before > 0 else head
        lower = max(1, upper - ALERT_SCAN + 1)
        # One query for the window's alerts (the kind is filtered on the seq index), oldest first.
        window = self.c.audit.store.entries_before(upper + 1, ALERT_SCAN, kind=ALERT_KIND, min_seq=lower)[::-1]
        alerts = list_alerts(window, agent_id=agent or None, rule=rule or None)
        return self.render(
            request,
            "alerts.html",
            alerts=alerts[::-1][:ALERTS_SHOWN],
            total=len(alerts),
            shown=ALERTS_SHOWN,
            lower=lower,
            upper=upper,
            agent=agent,
            rule=rule,
        )

    async def incidents_page(self, request: Request) -> Response:
        if self.signed_in(request) is None:
            return RedirectResponse("/login", status_code=303)
        store = incident_store_for(self.c.policy)
        try:
            incidents = store.list()
        finally:
            store.close()
        return self.render(request, "incidents.html", incidents=incidents)

    async def incident_page(self, request: Request) -> Response:
        if self.signed_in(request) is None:
            return RedirectResponse("/login", status_code=303)
        incident_id = request.path_params["incident_id"][:64]
        store = incident_store_for(self.c.policy)
        try:
            incident = store.get(incident_id)
        finally:
            store.close()
        if incident is None:
            return self.render(request, "incident.html", status=404, incident=None, incident_id=incident_id)
        return self.render(request, "incident.html", incident=incident, incident_id=incident_id)

    async def bom_page(self, request: Request) -> Response:
        if self.signed_in(request) is None:
            return RedirectResponse("/login", status_code=303)
        status = await asyncio.to_thread(bom_status, self.c.policy)  # hashes the deployment: off the loop
        return self.render(request, "bom.html", bom=status)


NAV = (
    ("/approvals", "Approvals"),
    ("/decisions", "Live decisions"),
    ("/audit", "Audit log"),
    ("/sessions", "Sessions"),
    ("/alerts", "Alerts"),
    ("/incidents", "Incidents"),
    ("/bom", "BOM"),
)


def _errors(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ConsoleError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=exc.status)
        except StoreError as exc:  # fail closed: nothing decided, the operator sees why
            return JSONResponse({"ok": False, "error": f"store unavailable: {exc}"}, status_code=503)
        except AuditError as exc:  # nothing takes effect that the audit log could not record
            return JSONResponse({"ok": False, "error": f"audit log unavailable: {exc}"}, status_code=503)

    return guarded


def create_app(console: Console) -> Starlette:
    """The console's ASGI app for ``console`` (which it starts following and closes on shutdown)."""
    pages = Pages(console)
    hosts = sorted({urlsplit(o).hostname or "" for o in console.rp.origins} - {""})

    async def home(request: Request) -> Response:
        return RedirectResponse("/approvals" if pages.signed_in(request) else "/login", status_code=303)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        console.feed.start()
        try:
            yield
        finally:
            await console.feed.stop()

    get = ["GET"]
    post = ["POST"]
    routes = [
        Route("/", _errors(home), methods=get),
        Route("/login", _errors(pages.login_page), methods=get),
        Route("/login/options", _errors(pages.login_options), methods=post),
        Route("/login/verify", _errors(pages.login_verify), methods=post),
        Route("/logout", _errors(pages.logout), methods=post),
        Route("/register", _errors(pages.register_page), methods=get),
        Route("/register/options", _errors(pages.register_options), methods=post),
        Route("/register/verify", _errors(pages.register_verify), methods=post),
        Route("/approvals", _errors(pages.approvals_page), methods=get),
        Route("/approvals/{request_id}/options", _errors(pages.approval_options), methods=post),
        Route("/approvals/{request_id}/decide", _errors(pages.approval_decide), methods=post),
        Route("/decisions", _errors(pages.decisions_page), methods=get),
        Route("/decisions/stream", _errors(pages.decisions_stream), methods=get),
        Route("/audit", _errors(pages.audit_page), methods=get),
        Route("/sessions", _errors(pages.sessions_page), methods=get),
        Route("/sessions/options", _errors(pages.session_options), methods=post),
        Route("/sessions/confirm", _errors(pages.session_confirm), methods=post),
        Route("/alerts", _errors(pages.alerts_page), methods=get),
        Route("/incidents", _errors(pages.incidents_page), methods=get),
        Route("/incidents/{incident_id}", _errors(pages.incident_page), methods=get),
        Route("/bom", _errors(pages.bom_page), methods=get),
        Mount("/static", app=StaticFiles(directory=str(_STATIC)), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BodyLimit),
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
        ],
        lifespan=lifespan,
    )


def open_console(policy_path: str, *, clock: Callable[[], float] = time.time) -> Console:
    """Load the policy (whole or not at all) and open the console's stores."""
    return Console(load_policy(policy_path), clock=clock)
