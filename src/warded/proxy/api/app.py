"""The decision HTTP API: an ASGI app (Starlette) in front of one :class:`~warded.gateway.gateway.Gateway`.

``POST /v1/decide``, ``POST /v1/results``, ``GET /v1/approvals``, ``GET|POST /v1/approvals/{id}``,
``GET /healthz``, ``GET /metrics`` and ``GET /openapi.json``. Every ``/v1`` call needs
``Authorization: Bearer <API key>``; the key names the agent, and ``agent_id`` is never taken from the body
(a body naming another agent is refused with 403). Keys are kept only as SHA-256 hashes and compared in
constant time.

Fail closed: a malformed request is a 400 with an error body; anything that goes wrong inside is a 5xx
whose body carries a DENY decision, never an ALLOW. Request bodies are capped (``max_body_bytes``), JSON
nesting is capped (``max_json_depth``), and every handler runs under ``request_timeout_s`` (a decision on a
small body runs inline on the event loop: its own waits are bounded by the store's busy timeout, after which
it is a DENY). A body holding more object members than the gateway would read is refused while it is parsed
(413 ``request.too_many_items``), and a large body is parsed and decided on a worker thread, so that one
caller cannot stall the event loop for the others.

Several workers (processes) share approvals, pauses, the audit chain and — with ``shared_windows`` — the
sliding windows of limits, budgets and circuit breakers, all through the gateway's SQLite file.

mTLS (binding a client certificate's subject to an agent) is not wired: uvicorn does not pass the peer
certificate to the ASGI app, so it would need a custom uvicorn protocol class. ``ServeSpec.client_certs``
is reserved for it and refused if set.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from warded import jsonio
from warded.approve.approvals import ApprovalRejected, RejectCode
from warded.approve.files import MAX_APPROVAL_FILE_BYTES, decode_approval, submit_approval
from warded.bom.binding import bind_at_start_up
from warded.config._keys import KeyRing
from warded.config.serve import ServeConfigError, ServeSpec
from warded.core.types import Action, Decision, Tier, Verdict, deny
from warded.errors import InvalidArgument, StoreError
from warded.flow.plan import plan_sources
from warded.flow.taint import PlanLocked
from warded.gateway.gateway import Gateway
from warded.policy.compile import load_policy
from warded.proxy._metrics import Metrics
from warded.proxy.api._openapi import openapi_document
from warded.scan.types import Response as ScanResponse
from warded.store.windows import SQLiteWindows

__all__ = ["ApiError", "WardedApi", "authenticate", "create_app"]

_DECIDE_KEYS = frozenset({"agent_id", "session_id", "tool", "arguments", "tier", "labels", "approval", "with_token"})
_RESULT_KEYS = frozenset({"agent_id", "session_id", "tool", "arguments", "result"})
_PLAN_KEYS = frozenset({"agent_id", "session_id", "tools", "user_request", "sources"})
MAX_PLAN_TOOLS = 1000
MAX_USER_REQUEST = 32_000  # escaped as JSON it stays well inside the 1 MiB body limit
MAX_NAME = 256
MAX_LABELS = 64
MAX_WAIT_S = 30.0
METRICS_FLUSH_S = 1.0
INLINE_BODY_BYTES = 64 * 1024  # larger bodies are parsed and decided on a worker thread


class ApiError(Exception):
    """A refusal with an HTTP status and a stable error code (rendered as ``{"error": {...}}``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


def _error(status: int, code: str, message: str, *, with_deny: bool = False) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if with_deny:
        body["decision"] = deny(code, message).to_json()
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class WardedApi:
    """What the routes share; reachable from any route as ``request.app.state.warded``."""

    gateway: Gateway
    spec: ServeSpec
    keys: KeyRing
    metrics: Metrics
    windows: SQLiteWindows | None
    clock: Callable[[], float] = time.time
    closed: bool = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.gateway.close()
        finally:
            try:
                self.metrics.close()
            finally:
                if self.windows is not None:
                    self.windows.close()


def authenticate(request: Request) -> str:
    """The agent the request's API key is bound to; :class:`ApiError` 401 without a valid key."""
    api: WardedApi = request.app.state.warded
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        api.metrics.inc("warded_api_auth_failures_total", (("reason", "missing"),))
        raise ApiError(401, "auth.missing", "send an API key as 'Authorization: Bearer <key>'")
    agent = api.keys.agent_for(key.strip())
    if agent is None:
        api.metrics.inc("warded_api_auth_failures_total", (("reason", "unknown_key"),))
        raise ApiError(401, "auth.unknown_key", "the API key is not known")
    return agent


# -- request parsing --------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "request.bad_length", "Content-Length is not a number")
        if int(declared) > limit:
            raise ApiError(413, "request.too_large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "request.too_large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes, max_depth: int, max_members: int) -> dict[str, Any]:
    """The body as a JSON object; refused while parsing once it holds more than ``max_members`` members.

    Numbers out of range and lone surrogates are left to ``decide()``, which denies them by rule id."""
    try:
        value = jsonio.loads(
            body, max_depth=max_depth, max_members=max_members, refuse_overflow=False, refuse_lone_surrogates=False
        )
    except jsonio.JsonRefused as exc:
        if exc.rule == "json.too_many_members":
            raise ApiError(413, "request.too_many_items", f"the body holds more than {max_members} members") from None
        if exc.rule in ("json.too_deep", "json.too_large"):
            code = "request.too_deep" if exc.rule == "json.too_deep" else "request.too_large"
            raise ApiError(400, code, f"the JSON body is {str(exc)[:200]}") from None
        raise ApiError(400, "request.malformed_json", f"the body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "request.not_an_object", "the body must be a JSON object")
    return value


async def _json_object(request: Request, api: WardedApi, max_members: int) -> tuple[dict[str, Any], bool]:
    """The body as a JSON object, and whether it is large (then parsed off the event loop)."""
    body = await _read_body(request, api.spec.max_body_bytes)
    depth = api.spec.max_json_depth
    if len(body) <= INLINE_BODY_BYTES:
        return _parse(body, depth, max_members), False
    return await anyio.to_thread.run_sync(lambda: _parse(body, depth, max_members), abandon_on_cancel=True), True


def _name(body: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise ApiError(400, "request.bad_field", f"{key!r} must be a string of 1 to {MAX_NAME} characters")
    return value


def _check_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "request.unknown_field", f"unknown field(s): {', '.join(map(repr, unknown))[:200]}")


def _check_agent(body: Mapping[str, Any], agent: str) -> None:
    named = body.get("agent_id")
    if named is not None and named != agent:
        raise ApiError(403, "auth.wrong_agent", "the API key is bound to another agent than the body names")


def _arguments(body: Mapping[str, Any]) -> dict[str, Any]:
    arguments = body.get("arguments", {})
    if not isinstance(arguments, dict):
        raise ApiError(400, "request.bad_field", "'arguments' must be a JSON object")
    return arguments


def _action(body: Mapping[str, Any], agent: str) -> tuple[Action, str | None, bool]:
    _check_fields(body, _DECIDE_KEYS)
    _check_agent(body, agent)
    session = _name(body, "session_id")
    tool = _name(body, "tool")
    tier_text = body.get("tier")
    tier: Tier | None = None
    if tier_text is not None:
        if not isinstance(tier_text, str) or tier_text not in Tier.__members__.values():
            raise ApiError(400, "request.bad_field", f"'tier' must be one of {', '.join(t.value for t in Tier)}")
        tier = Tier(tier_text)
    labels = body.get("labels", [])
    if (
        not isinstance(labels, list)
        or len(labels) > MAX_LABELS
        or not all(isinstance(x, str) and 0 < len(x) <= MAX_NAME for x in labels)
    ):
        raise ApiError(400, "request.bad_field", f"'labels' must be a list of at most {MAX_LABELS} strings")
    # A NUL byte or a lone surrogate in an identifier or label is the gateway's to refuse: it decides DENY
    # (``input.nul_byte`` / ``input.invalid_utf8``) and records the attempt, as for any malformed action.
    approval = _name(body, "approval", required=False)
    with_token = body.get("with_token", False)
    if not isinstance(with_token, bool):
        raise ApiError(400, "request.bad_field", "'with_token' must be a boolean")
    if session is None or tool is None:  # _name raises first; this satisfies the type checker
        raise ApiError(400, "request.bad_field", "'session_id' and 'tool' are required")
    action = Action(agent, session, tool, _arguments(body), tier, frozenset(labels))
    return action, approval, with_token


def decision_json(decision: Decision) -> dict[str, Any]:
    """A decision as the API returns it: ``Decision.to_json()`` plus the capability token, if any."""
    out = decision.to_json()
    if decision.capability and decision.verdict is Verdict.ALLOW:
        out["capability"] = decision.capability
    return out


# -- handlers ---------------------------------------------------------------------------------------

Handler = Callable[[Request, WardedApi], Awaitable[Response]]


def _endpoint(route: str, handler: Handler, *, deny_on_error: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: timeout, error bodies, metrics. An unexpected error is a 5xx, never an allow."""

    async def endpoint(request: Request) -> Response:
        api: WardedApi = request.app.state.warded
        try:
            with anyio.fail_after(api.spec.request_timeout_s):
                response = await handler(request, api)
        except ApiError as exc:
            response = _error(exc.status, exc.code, exc.message, with_deny=deny_on_error and exc.status >= 500)
        except TimeoutError:
            response = _error(503, "warded.timeout", "the request took too long", with_deny=deny_on_error)
        except StoreError as exc:
            response = _error(503, "store.unavailable", str(exc)[:300], with_deny=deny_on_error)
        except Exception as exc:  # fail closed
            message = f"internal error ({type(exc).__name__})"
            response = _error(500, "warded.internal_error", message, with_deny=deny_on_error)
        api.metrics.inc("warded_api_requests_total", (("route", route), ("status", str(response.status_code))))
        api.metrics.maybe_flush()
        return response

    return endpoint


async def _decide(request: Request, api: WardedApi) -> Response:
    agent = authenticate(request)
    # The gateway reads at most argument_limits().max_items nodes of the arguments (a key and its value are
    # two): a body with more members than that is refused before it is fully parsed.
    members = api.gateway.argument_limits().max_items // 2 + len(_DECIDE_KEYS)
    body, large = await _json_object(request, api, members)
    action, approval, with_token = _action(body, agent)
    started = time.perf_counter()
    # A small body is checked inline on the event loop, not in a thread: the check is short and CPU-bound, a
    # thread hop costs about a fifth of the throughput, and the gateway bounds its own waits (SQLite busy
    # timeout, then DENY). A large one goes to a worker thread so that it cannot stall other requests.
    if large:
        decision = await anyio.to_thread.run_sync(
            lambda: api.gateway.check(action, approval=approval, with_token=with_token), abandon_on_cancel=True
        )
    else:
        decision = api.gateway.check(action, approval=approval, with_token=with_token)
    api.metrics.observe("warded_decide_seconds", time.perf_counter() - started)
    api.metrics.inc("warded_decisions_total", (("verdict", decision.verdict.value),))
    return JSONResponse(decision_json(decision))


def _guard(api: WardedApi, action: Action, value: object) -> dict[str, Any]:
    check = api.gateway.inspect_result(action, value)
    findings = [{"path": path, **a.to_json()} for path, a in check.findings]
    decision = check.decision
    out: dict[str, Any] = {"id": decision.id, "findings": findings, "value": None, "redacted": False}
    out["request_id"] = decision.request_id
    if decision.verdict is Verdict.DENY:
        return {**out, "response": "deny", "reasons": _reasons(decision)}
    if decision.verdict is Verdict.REQUIRE_APPROVAL:
        return {**out, "response": "require_approval", "reasons": _reasons(decision)}
    redacted = check.response is ScanResponse.REDACT
    response = "redact" if redacted else ("label" if findings else "allow")
    return {**out, "response": response, "value": check.value, "redacted": redacted, "reasons": []}


def _reasons(decision: Decision) -> list[dict[str, str]]:
    return [r.to_json() for r in decision.reasons]


async def _results(request: Request, api: WardedApi) -> Response:
    agent = authenticate(request)
    body, _ = await _json_object(request, api, api.gateway.result_limits().max_items)
    _check_fields(body, _RESULT_KEYS)
    _check_agent(body, agent)
    if "result" not in body:
        raise ApiError(400, "request.bad_field", "'result' is required")
    session = _name(body, "session_id") or ""
    tool = _name(body, "tool") or ""
    action = Action(agent, session, tool, _arguments(body))
    result = body["result"]
    out = await anyio.to_thread.run_sync(lambda: _guard(api, action, result), abandon_on_cancel=True)
    api.metrics.inc("warded_results_total", (("response", str(out["response"])),))
    return JSONResponse(out)


async def _plan(request: Request, api: WardedApi) -> Response:
    """Declare a session's plan (plan-then-execute), optionally with the user's request as trusted text."""
    agent = authenticate(request)
    body, _ = await _json_object(request, api, 2 * MAX_PLAN_TOOLS + len(_PLAN_KEYS))
    _check_fields(body, _PLAN_KEYS)
    _check_agent(body, agent)
    session = _name(body, "session_id") or ""
    tools = body.get("tools")
    if (
        not isinstance(tools, list)
        or len(tools) > MAX_PLAN_TOOLS
        or not all(isinstance(t, str) and 0 < len(t) <= MAX_NAME for t in tools)
    ):
        raise ApiError(400, "request.bad_field", f"'tools' must be a list of at most {MAX_PLAN_TOOLS} tool names")
    user_request = body.get("user_request")
    if user_request is not None and (not isinstance(user_request, str) or len(user_request) > MAX_USER_REQUEST):
        raise ApiError(400, "request.bad_field", f"'user_request' must be a string of at most {MAX_USER_REQUEST}")
    sources = body.get("sources")
    if sources is not None and not isinstance(sources, dict):
        raise ApiError(400, "request.bad_field", "'sources' must be an object of \"tool.argument\": [tool names]")
    try:
        # A declaration the schema cannot judge (a key naming no planned tool, sources outside the plan) is a
        # plan warded refuses, as one naming an ungranted tool is: 403 (the schema's own checks answer 400).
        plan_sources(tools, sources)
    except InvalidArgument as exc:
        raise ApiError(403, "flow.bad_plan", str(exc)[:300]) from None
    try:
        api.gateway.plan(agent, session, tools, sources)
    except PlanLocked as exc:
        raise ApiError(409, "flow.plan_locked", str(exc)[:300]) from None
    except InvalidArgument as exc:
        raise ApiError(403, "flow.bad_plan", str(exc)[:300]) from None
    if user_request:
        api.gateway.record_user(agent, session, user_request)
    return JSONResponse({"session_id": session, "tools": sorted(set(tools))})


def _approval_store(api: WardedApi) -> Any:
    store = api.gateway.approvals
    if store is None:
        raise ApiError(503, "approval.unavailable", "this gateway has no approval store")
    return store


async def _list_approvals(request: Request, api: WardedApi) -> Response:
    agent = authenticate(request)
    store = _approval_store(api)
    pending = await anyio.to_thread.run_sync(lambda: store.pending(api.clock()))
    return JSONResponse({"approvals": [r.to_json() for r in pending if r.agent_id == agent]})


def _request_id(request: Request) -> str:
    request_id = str(request.path_params.get("request_id", ""))
    if not request_id or len(request_id) > 128:
        raise ApiError(400, "request.bad_field", "the request id must be 1 to 128 characters")
    return request_id


def _own_request(api: WardedApi, agent: str, request_id: str) -> Any:
    request = _approval_store(api).load_request(request_id)
    if request is None:
        raise ApiError(404, "approval.unknown_request", f"no approval request {request_id[:80]!r}")
    if request.agent_id != agent:
        raise ApiError(403, "auth.wrong_agent", "this approval request belongs to another agent")
    return request


def _wait_seconds(request: Request) -> float:
    text = request.query_params.get("wait")
    if text is None:
        return 0.0
    try:
        wait = float(text)
    except ValueError:
        raise ApiError(400, "request.bad_field", "'wait' must be a number of seconds") from None
    if not math.isfinite(wait) or not 0 <= wait <= MAX_WAIT_S:
        raise ApiError(400, "request.bad_field", f"'wait' must be between 0 and {MAX_WAIT_S:g} seconds")
    return wait


async def _get_approval(request: Request, api: WardedApi) -> Response:
    agent = authenticate(request)
    request_id = _request_id(request)
    wait = min(_wait_seconds(request), max(0.0, api.spec.request_timeout_s - 0.5))
    store = _approval_store(api)
    req = await anyio.to_thread.run_sync(lambda: _own_request(api, agent, request_id))
    deadline = time.monotonic() + wait
    while True:
        status = await anyio.to_thread.run_sync(lambda: store.status(request_id))
        if status != "pending" or time.monotonic() >= deadline:
            break
        await anyio.sleep(0.2)
    verdict = await anyio.to_thread.run_sync(lambda: store.load_verdict(request_id))
    return JSONResponse(
        {"request": req.to_json(), "status": status, "verdict": verdict.to_json() if verdict is not None else None}
    )


def _submit(api: WardedApi, agent: str, request_id: str, data: bytes) -> dict[str, str]:
    _own_request(api, agent, request_id)
    approval = decode_approval(data)
    if approval.request_id != request_id:
        raise ApiError(400, "approval.malformed", "the approval names another request than the URL")
    store = _approval_store(api)
    try:
        submit_approval(store.path, approval, api.gateway.policy.approvers, api.clock())
    except StoreError as exc:
        status = store.status(request_id)
        if status is not None and status != "pending":
            raise ApiError(
                409, "approval.already_decided", f"approval request {request_id} is already {status}"
            ) from None
        raise ApiError(409, "approval.conflict", str(exc)[:300]) from None
    api.gateway.audit.append(
        "approval_decided",
        {
            "request_id": request_id,
            "verdict": approval.verdict.value,
            "approver": approval.approver,
            "key_id": approval.key_id,
            "by": "api",
            "submitted_by": agent,
        },
    )
    return {"request_id": request_id, "status": store.status(request_id) or "unknown"}


_REJECT_STATUS = {RejectCode.MALFORMED: 400, RejectCode.EXPIRED: 409}


async def _post_approval(request: Request, api: WardedApi) -> Response:
    agent = authenticate(request)
    request_id = _request_id(request)
    data = await _read_body(request, min(api.spec.max_body_bytes, MAX_APPROVAL_FILE_BYTES))
    try:
        out = await anyio.to_thread.run_sync(lambda: _submit(api, agent, request_id, data))
    except ApprovalRejected as exc:
        raise ApiError(_REJECT_STATUS.get(exc.code, 403), exc.code.value, exc.detail[:300]) from None
    return JSONResponse(out)


async def _healthz(request: Request, api: WardedApi) -> Response:
    return JSONResponse({"status": "ok", "pid": os.getpid(), "policy_sha256": api.gateway.policy.digest})


async def _metrics(request: Request, api: WardedApi) -> Response:
    text = await anyio.to_thread.run_sync(api.metrics.render)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


async def _openapi(request: Request, api: WardedApi) -> Response:
    return JSONResponse(openapi_document())


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return _error(status, f"http.{status}", str(detail))


# -- the app ----------------------------------------------------------------------------------------


async def _flush_metrics(api: WardedApi) -> None:
    """Publish this worker's counters every second, so a scrape of any worker sees all of them."""
    while True:
        await anyio.sleep(METRICS_FLUSH_S)
        await anyio.to_thread.run_sync(api.metrics.maybe_flush)


def create_app(
    policy_path: str,
    *,
    api_keys: Mapping[str, str] | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    serve_spec: ServeSpec | None = None,
    shared_windows: bool | None = None,
) -> Starlette:
    """The decision API for the policy at ``policy_path``.

    ``api_keys`` (``{agent_id: sha256 hex}``) overrides ``serve_spec.api_keys``. ``shared_windows`` keeps
    limits, budgets and breakers in the SQLite file so that workers share them (default: when
    ``serve_spec.workers > 1``). Refuses (:class:`ServeConfigError`, ``PolicyError``) to build a half-configured
    app: unknown agents in the keys, or mTLS subjects (not supported yet).
    """
    spec = serve_spec if serve_spec is not None else load_policy(policy_path).spec.serve
    if api_keys is not None:
        spec = ServeSpec.model_validate({**spec.model_dump(), "api_keys": dict(api_keys)})
    check_serve_config(policy_path, spec)
    share = shared_windows if shared_windows is not None else spec.workers > 1

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A host may run the lifespan more than once (tests, mounts): reopen what the last shutdown closed.
        if app.state.warded.closed:
            app.state.warded = _open_api(policy_path, spec, share)
        api: WardedApi = app.state.warded
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_flush_metrics, api)
                yield
                tasks.cancel_scope.cancel()
        finally:
            api.close()

    routes: list[BaseRoute] = [
        Route("/v1/decide", _endpoint("decide", _decide, deny_on_error=True), methods=["POST"]),
        Route("/v1/results", _endpoint("results", _results, deny_on_error=True), methods=["POST"]),
        Route("/v1/plan", _endpoint("plan", _plan), methods=["POST"]),
        Route("/v1/approvals", _endpoint("approvals", _list_approvals), methods=["GET"]),
        Route("/v1/approvals/{request_id}", _endpoint("approval", _get_approval), methods=["GET"]),
        Route("/v1/approvals/{request_id}", _endpoint("approval_submit", _post_approval), methods=["POST"]),
        Route("/healthz", _endpoint("healthz", _healthz), methods=["GET"]),
        Route("/metrics", _endpoint("metrics", _metrics), methods=["GET"]),
        Route("/openapi.json", _endpoint("openapi", _openapi), methods=["GET"]),
        *extra_routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.warded = _open_api(policy_path, spec, share)  # eagerly: a bad policy or store fails here
    return app


def _open_api(policy_path: str, spec: ServeSpec, shared_windows: bool) -> WardedApi:
    # With several workers the limit/budget windows live in SQLite (the gateway owns and closes them).
    gateway = Gateway.from_file(policy_path, shared_windows=shared_windows)
    try:
        db_path = gateway.policy.audit_path(gateway.policy.spec.audit.path)
        windows: SQLiteWindows | None = None
        return WardedApi(gateway, spec, KeyRing(spec.api_keys.items()), Metrics(db_path), windows)
    except BaseException:
        gateway.close()
        raise


def check_serve_config(policy_path: str, spec: ServeSpec) -> None:
    """Everything :func:`create_app` would refuse, checked without opening the gateway."""
    if spec.client_certs:
        raise ServeConfigError("serve.client_certs (mTLS) is not supported yet; use API keys")
    policy = load_policy(policy_path)
    unknown = sorted(set(spec.api_keys) - set(policy.spec.agents))
    if unknown:
        raise ServeConfigError(f"API keys name agents the policy does not define: {', '.join(unknown)}")
    bind_at_start_up(policy)  # a bound BOM the deployment does not match stops the start here (issue 12)


def app_from_environment() -> Starlette:
    """The app ``warded serve`` hands to each uvicorn worker (policy and settings from the environment)."""
    policy = os.environ.get("WARDED_SERVE_POLICY")
    if not policy:
        raise ServeConfigError("WARDED_SERVE_POLICY is not set")
    raw = os.environ.get("WARDED_SERVE_SPEC", "{}")
    try:
        spec = ServeSpec.model_validate_json(raw)
    except ValueError as exc:
        raise ServeConfigError(f"WARDED_SERVE_SPEC is not a valid serve spec: {exc}") from exc
    return create_app(policy, serve_spec=spec)
