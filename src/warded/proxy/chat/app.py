"""The OpenAI-compatible chat proxy: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Put warded between an agent and any OpenAI-compatible endpoint by changing the agent's base URL and
API key::

    app = create_chat_app("warded.yaml", ChatProxySpec(upstream_url="https://api.openai.com/v1", ...))
    # uvicorn.run(app, host="127.0.0.1", port=8787); then OpenAI(base_url="http://127.0.0.1:8787/v1", api_key=...)

Per request: the client's API key names its agent (unknown or missing keys get 401); the session is the
``X-Warded-Session`` header or, without it, derived from the conversation's first system and user
messages. Every field of the request is on an allow-list (``_chat_request``; an unknown field is
refused, never forwarded unread), every text in it is scanned and PII-masked, and every message is
checked and labelled (``_chat_inputs``) before anything is sent upstream; the upstream's reply (whole
or streamed) is checked and its tool calls decided (``_chat_output``) before the client sees it.
Upstream failures, timeouts and malformed replies end in OpenAI-style errors
(``{"error": {"message", "type", "code", "param"}}``); nothing fails open:

==========================  ======  =========================================================
condition                   status  ``error.code``
==========================  ======  =========================================================
no or unknown API key       401     ``invalid_api_key``
body too large              413     ``request_too_large``
bad JSON / request shape    400     ``invalid_request`` / ``invalid_messages`` / ...
field not on the allow-list 400     ``unsupported_parameter``
image, audio or file part   400     ``unscannable_content`` (unless ``unsafe_forward_unscanned_media``)
bad tool-call arguments     400     ``invalid_tool_arguments`` (invalid JSON or a duplicate key)
model not configured        400     ``model_not_allowed``
input refused by the guard  400     ``input_blocked`` (``error.warded.rule_ids``)
tool output needs approval  403     ``approval_required`` (``error.warded.approval_id``)
upstream 4xx                same    ``upstream_<status>`` (401/403 from upstream become 502)
upstream 5xx / unreachable  502     ``upstream_error`` / ``upstream_unavailable``
upstream timeout            504     ``upstream_timeout``
malformed upstream reply    502     ``upstream_malformed`` / ``upstream_truncated``
warded itself failed        503     ``warded_unavailable``
==========================  ======  =========================================================

Once a stream has started, the same errors arrive as one ``data: {"error": {...}}`` event (the official
client raises ``APIError``) and the stream ends. A client that disconnects cancels the upstream request.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from warded import jsonio
from warded.config.chat import ChatProxySpec
from warded.errors import WardedError
from warded.gateway.gateway import Gateway
from warded.proxy.chat._errors import ChatError, bad_request, upstream_error
from warded.proxy.chat._inputs import InputContext
from warded.proxy.chat._output import DONE, OutputContext, StreamRelay, process_completion, sse
from warded.proxy.chat._request import prepare_request
from warded.proxy.chat._state import Conversation, Conversations
from warded.scan.pipeline import ScanPipeline, ScanResult
from warded.scan.registry import load_scanner
from warded.scan.types import Category, Source

__all__ = ["ChatProxy", "ChatProxySpec", "build_chat_app", "chat_routes", "create_chat_app"]

_log = logging.getLogger("warded.proxy.chat.app")
_SESSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
MAX_ERROR_CHARS = 500
SCAN_CACHE_ENTRIES = 4096
SCAN_CACHE_MAX_CHARS = 16384
INLINE_SCAN_BYTES = 64 * 1024


class ChatProxyError(WardedError):
    """The chat proxy cannot start with this policy and configuration."""


class ChatProxy:
    """State shared by the chat routes: the gateway, scanners, upstream client and conversations."""

    def __init__(self, gateway: Gateway, spec: ChatProxySpec) -> None:
        policy = gateway.policy
        scan = policy.spec.scan
        if not scan.enabled or gateway.scanner is None:
            raise ChatProxyError("the chat proxy needs the content guard: set scan.enabled in the policy")
        self.gateway = gateway
        self.spec = spec
        self.upstream = spec.upstream_url.rstrip("/")
        key = spec.upstream_key()
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if key:
            self._headers["authorization"] = f"Bearer {key}"
        self._keys = spec.key_ring()
        self.scanner = gateway.scanner
        self.output_scanner = self._output_pipeline(gateway.scanner, spec)
        self.pii: ScanPipeline | None = None
        if spec.mask_pii:
            self.pii = ScanPipeline([load_scanner("pii", scan.options.get("pii"))], max_chars=scan.max_chars)
        self.conversations = Conversations(spec.max_conversations, mask_pii=spec.mask_pii)
        if spec.unsafe_forward_unscanned_media:
            _log.warning(
                "warded chat: unsafe_forward_unscanned_media is on: image, audio and file parts reach the "
                "model unscanned (each such message is recorded as chat_input_unscanned)"
            )
        self._client: httpx.AsyncClient | None = None
        self._scan_cache: OrderedDict[bytes, ScanResult] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._warm_up()

    def _scan_input(self, text: str) -> ScanResult:
        """Scan an input text as source ``user``. Scanning is a pure function of the text, so results for
        short texts (system prompts repeat across conversations) are cached, except those carrying a
        scanner error or timeout, which must be retried."""
        if len(text) > SCAN_CACHE_MAX_CHARS:
            return self.scanner.scan(text, Source.USER)
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        with self._cache_lock:
            hit = self._scan_cache.get(key)
            if hit is not None:
                self._scan_cache.move_to_end(key)
                return hit
        result = self.scanner.scan(text, Source.USER)
        if not any(a.finding.category is Category.SCANNER_ERROR for a in result.applied):
            with self._cache_lock:
                self._scan_cache[key] = result
                while len(self._scan_cache) > SCAN_CACHE_ENTRIES:
                    self._scan_cache.popitem(last=False)
        return result

    def _warm_up(self) -> None:
        """Load every pipeline now (``ScanPipeline.warm_up``): a first call that loads a model or builds a
        cache would spend the first client's time budget; the gateway's is warm already, the proxy's own
        output and PII pipelines are warmed here."""
        for pipeline in (self.scanner, self.output_scanner, self.pii):
            if pipeline is not None and not pipeline.warmed:
                pipeline.warm_up()

    @staticmethod
    def _output_pipeline(base: ScanPipeline, spec: ChatProxySpec) -> ScanPipeline:
        if spec.allowed_link_domains is None:
            return base
        scanners = [
            load_scanner("exfiltration", {"allowed_domains": spec.allowed_link_domains})
            if s.id == "exfiltration"
            else s
            for s in base.scanners
        ]
        return ScanPipeline(scanners, responses=base.responses, max_chars=base.max_chars)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            spec = self.spec
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(spec.read_timeout_s, connect=spec.connect_timeout_s),
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
                trust_env=False,  # never route the upstream through proxies named in the environment
                follow_redirects=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self.completions, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
        ]

    # -- requests ------------------------------------------------------------------------------

    def _agent(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        agent = None
        if scheme.lower() == "bearer" and token.strip():
            agent = self._keys.agent_for(token.strip())
        if agent is None:
            raise ChatError(401, "a valid warded API key is required", "invalid_api_key")
        return agent

    async def _body(self, request: Request) -> tuple[dict[str, Any], int]:
        limit = self.spec.max_request_bytes
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise ChatError(413, f"request body over {limit} bytes", "request_too_large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ChatError(413, f"request body over {limit} bytes", "request_too_large")
            chunks.append(chunk)
        try:
            # Strict (no key twice, no NaN); out-of-range numbers and lone surrogates are left to the
            # checks that read the fields, as before.
            body = jsonio.loads(b"".join(chunks), refuse_overflow=False, refuse_lone_surrogates=False)
        except jsonio.JsonRefused:
            raise bad_request("the request body is not valid JSON", "invalid_json") from None
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object", "invalid_request")
        return body, size

    def _session(self, request: Request, agent: str, body: dict[str, Any]) -> str:
        given = request.headers.get(self.spec.session_header)
        if given is not None:
            if not _SESSION.match(given):
                raise bad_request(f"bad {self.spec.session_header} header", "invalid_session")
            return given
        first: dict[str, object] = {}
        for message in body.get("messages") or ():
            role = message.get("role") if isinstance(message, dict) else None
            if role in ("system", "developer", "user") and role not in first:
                first[str(role)] = message.get("content")
        seed = json.dumps([agent, first], sort_keys=True, default=str).encode("utf-8", "surrogatepass")
        return "chat-" + hashlib.sha256(seed).hexdigest()[:24]

    def _model_allowed(self, model: object) -> bool:
        return (
            isinstance(model, str)
            and any(model == m or fnmatch.fnmatchcase(model, m) for m in self.spec.models)
            and (self.gateway.bom is None or self.gateway.bom.check_model(model) is None)
        )

    def _out_of_manifest(self, agent: str, model: object) -> None:
        """A model the config allows but the bound BOM does not approve: refused and alerted (issue 12)."""
        bom = self.gateway.bom
        reason = bom.check_model(model) if bom is not None else None
        if reason is None:
            return
        self.gateway.alert(
            {
                "rule_id": reason.rule_id,
                "agent_id": agent,
                "model": str(model)[:200],
                "message": f"agent {agent}: {reason.message}",
            }
        )
        raise ChatError(403, reason.message, reason.rule_id, kind="warded_denied")

    async def completions(self, request: Request) -> Response:
        try:
            agent = self._agent(request)
            body, size = await self._body(request)
            self._out_of_manifest(agent, body.get("model"))
            if not self._model_allowed(body.get("model")):
                raise bad_request(f"model {str(body.get('model'))[:100]!r} is not available here", "model_not_allowed")
            stream = body.get("stream")
            if not isinstance(stream, bool | None):
                raise bad_request("'stream' must be a boolean", "invalid_request")
            conv = self.conversations.get(agent, self._session(request, agent, body))
            ctx = InputContext(self.gateway, self._scan_input, self.pii, conv, self.spec.unsafe_forward_unscanned_media)
            if size > INLINE_SCAN_BYTES:  # large inputs are checked off the event loop
                body = await anyio.to_thread.run_sync(prepare_request, ctx, body)
            else:
                body = prepare_request(ctx, body)
            out = self._output_context(conv)
            if stream:
                return await self._stream(body, out)
            return await self._complete(body, out)
        except ChatError as exc:
            return exc.response()
        except RecursionError:  # a body nested deeper than the JSON encoder can follow: nothing was forwarded
            return bad_request("the request is nested too deeply", "invalid_request").response()
        except WardedError as exc:  # the audit log or a store failed: nothing was forwarded
            return ChatError(
                503, f"warded could not check this request: {exc}", "warded_unavailable", kind="server_error"
            ).response()

    def _output_context(self, conv: Conversation) -> OutputContext:
        scanner = self.output_scanner

        def scan(text: str) -> ScanResult:
            return scanner.scan(text, Source.MODEL_OUTPUT)

        vault = conv.vault
        return OutputContext(
            self.gateway,
            conv,
            scan,
            vault.restore if vault is not None else _same,
            self.spec.scan_context_chars,
            self.spec.max_hold_chars,
        )

    async def _open(self, body: dict[str, Any]) -> httpx.Response:
        client = self.client()
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
        req = client.build_request("POST", f"{self.upstream}/chat/completions", content=payload, headers=self._headers)
        resp = await _reach(client.send(req, stream=True))
        if resp.status_code != 200:
            try:
                detail = await self._read(resp, 65536)
            except ChatError:
                detail = b""
            finally:
                await resp.aclose()
            raise _status_error(resp.status_code, detail)
        return resp

    async def _read(self, resp: httpx.Response, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise upstream_error(502, f"the upstream reply is over {limit} bytes", "upstream_malformed")
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise upstream_error(504, "the upstream did not answer in time", "upstream_timeout") from None
        except httpx.HTTPError as exc:
            raise upstream_error(
                502, f"the upstream connection failed ({type(exc).__name__})", "upstream_unavailable"
            ) from None
        return b"".join(chunks)

    async def _complete(self, body: dict[str, Any], out: OutputContext) -> Response:
        try:
            async with asyncio.timeout(self.spec.total_timeout_s):
                resp = await self._open(body)
                try:
                    raw = await self._read(resp, self.spec.max_response_bytes)
                finally:
                    await resp.aclose()
        except TimeoutError:
            raise upstream_error(504, "the upstream did not answer in time", "upstream_timeout") from None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise upstream_error(502, "the upstream reply is not valid JSON", "upstream_malformed") from None
        return JSONResponse(process_completion(out, data))

    async def _stream(self, body: dict[str, Any], out: OutputContext) -> Response:
        resp = await self._open(body)
        if not resp.headers.get("content-type", "").startswith("text/event-stream"):
            await resp.aclose()
            raise upstream_error(502, "the upstream did not answer with an event stream", "upstream_malformed")
        relay = StreamRelay(out)
        headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        return StreamingResponse(self._relay(resp, relay), media_type="text/event-stream", headers=headers)

    async def _relay(self, resp: httpx.Response, relay: StreamRelay) -> AsyncIterator[bytes]:
        try:
            try:
                finished = False
                async for batch in _sse_events(resp, self.spec.max_response_bytes):
                    for n, data in enumerate(batch):
                        if data == "[DONE]":
                            finished = True
                            break
                        try:
                            chunk = json.loads(data)
                        except ValueError:
                            raise upstream_error(
                                502, "the upstream sent a malformed event", "upstream_malformed"
                            ) from None
                        if isinstance(chunk, dict) and chunk.get("error") is not None:
                            message = f"the upstream failed mid-stream: {_message(chunk)}"
                            raise upstream_error(502, message, "upstream_error")
                        last = n == len(batch) - 1 or batch[n + 1] == "[DONE]"
                        for event in relay.on_chunk(chunk, last=last):
                            yield event
                        if relay.done:
                            break
                    if finished or relay.done:
                        break
                if not relay.done:
                    if not finished and not relay.out.choices:
                        raise upstream_error(502, "the upstream stream ended early", "upstream_truncated")
                    for event in relay.on_end():
                        yield event
                self._audit_output(relay)
                yield DONE
            except httpx.TimeoutException:
                raise upstream_error(504, "the upstream stopped sending", "upstream_timeout") from None
            except httpx.HTTPError as exc:
                raise upstream_error(
                    502, f"the upstream connection failed ({type(exc).__name__})", "upstream_error"
                ) from None
        except ChatError as exc:
            yield sse(exc.body())
        except WardedError as exc:
            yield sse(ChatError(503, f"warded failed: {exc}", "warded_unavailable", kind="server_error").body())
        except Exception as exc:  # a bug here must still end the stream closed, with nothing more released
            message = f"warded failed ({type(exc).__name__})"
            yield sse(ChatError(500, message, "warded_error", kind="server_error").body())
        finally:
            with anyio.CancelScope(shield=True):
                await resp.aclose()

    def _audit_output(self, relay: StreamRelay) -> None:
        if relay.out.findings() or relay.out.blocked:
            self.gateway.audit.append("chat_output_scanned", relay.out.audit_body())
        relay.out.observe()

    async def models(self, request: Request) -> Response:
        try:
            self._agent(request)
            client = self.client()
            resp = await _reach(client.get(f"{self.upstream}/models", headers=self._headers))
            if resp.status_code != 200:
                raise _status_error(resp.status_code, resp.content[:65536])
            try:
                data = resp.json()
            except ValueError:
                raise upstream_error(502, "the upstream reply is not valid JSON", "upstream_malformed") from None
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise upstream_error(502, "the upstream sent a malformed model list", "upstream_malformed")
            kept = [m for m in items if isinstance(m, dict) and self._model_allowed(m.get("id"))]
            return JSONResponse({"object": "list", "data": kept})
        except ChatError as exc:
            return exc.response()


def _same(text: str) -> str:
    return text


def _message(data: object) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message)[:MAX_ERROR_CHARS] if message else "no message"


def _status_error(status: int, detail: bytes) -> ChatError:
    try:
        message = _message(json.loads(detail)) if detail else "no message"
    except (ValueError, UnicodeDecodeError):
        message = "no message"
    if status in (401, 403, 407):
        return upstream_error(502, f"the upstream refused warded's credentials ({status})", "upstream_auth")
    if 400 <= status < 500:
        return ChatError(
            status,
            f"the upstream refused the request ({status}): {message}",
            f"upstream_{status}",
            kind="invalid_request_error",
        )
    return upstream_error(502, f"the upstream failed ({status}): {message}", "upstream_error")


async def _sse_events(resp: httpx.Response, limit: int) -> AsyncIterator[list[str]]:
    """The ``data`` of each server-sent event (lines joined), bounded in size, batched per network read."""
    buffer = b""
    data: list[str] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        buffer += chunk
        if len(buffer) > limit:
            raise upstream_error(502, "the upstream sent an oversized event", "upstream_malformed")
        batch: list[str] = []
        while True:
            nl = buffer.find(b"\n")
            if nl == -1:
                break
            line, buffer = buffer[:nl].rstrip(b"\r"), buffer[nl + 1 :]
            if not line:
                if data:
                    batch.append("\n".join(data))
                    data, size = [], 0
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                value = value[1:] if value.startswith(b" ") else value
                size += len(value)
                if size > limit:
                    raise upstream_error(502, "the upstream sent an oversized event", "upstream_malformed")
                try:
                    data.append(value.decode("utf-8"))
                except UnicodeDecodeError:
                    raise upstream_error(502, "the upstream sent invalid UTF-8", "upstream_malformed") from None
            # comments (":"), "event:", "id:" and "retry:" lines carry nothing the proxy relays
        if batch:
            yield batch
    if data:
        yield ["\n".join(data)]


# -- wiring ----------------------------------------------------------------------------------------


def chat_routes(gateway: Gateway, config: ChatProxySpec) -> list[Route]:
    """The chat proxy's routes for mounting in another Starlette app. Its upstream connection pool lives
    until the process ends; to close it on shutdown, build ``ChatProxy(gateway, config)`` yourself, mount
    ``proxy.routes()`` and ``await proxy.aclose()`` in the app's lifespan."""
    return ChatProxy(gateway, config).routes()


def build_chat_app(gateway: Gateway, config: ChatProxySpec) -> Starlette:
    """A standalone app around an open gateway (the caller closes the gateway)."""
    proxy = ChatProxy(gateway, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await proxy.aclose()

    app = Starlette(routes=proxy.routes(), lifespan=lifespan)
    app.state.chat_proxy = proxy
    return app


async def _reach(call: Awaitable[httpx.Response]) -> httpx.Response:
    """Await an upstream request, turning transport failures into OpenAI-style errors (fail closed)."""
    try:
        return await call
    except httpx.TimeoutException:
        raise upstream_error(504, "the upstream did not answer in time", "upstream_timeout") from None
    except httpx.HTTPError as exc:
        raise upstream_error(
            502, f"the upstream is unreachable ({type(exc).__name__})", "upstream_unavailable"
        ) from None


def create_chat_app(policy_path: str | os.PathLike[str], config: ChatProxySpec) -> Starlette:
    """A standalone app: opens the policy's gateway now, closes it (and the upstream client) on shutdown."""
    gateway = Gateway.from_file(policy_path)
    try:
        if gateway.bom is not None:  # every model named exactly must be approved by the bound BOM
            outside = gateway.bom.check_models([m for m in config.models if not any(c in m for c in "*?[")])
            if outside is not None:
                raise WardedError(f"{outside.message}; refusing to start")
        proxy = ChatProxy(gateway, config)
    except BaseException:
        gateway.close()
        raise

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            try:
                await proxy.aclose()
            finally:
                gateway.close()

    app = Starlette(routes=proxy.routes(), lifespan=lifespan)
    app.state.chat_proxy = proxy
    return app
