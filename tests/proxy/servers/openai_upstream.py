"""A small OpenAI-compatible upstream for the chat proxy tests, served by uvicorn on 127.0.0.1.

Each test scripts its replies: ``upstream.script = [Reply(...), ...]`` (one per request, in order) or a
function of the request body. Every request body and its headers are recorded; a stream the client
abandoned is noted in ``upstream.cancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = "fake-model-1"


@dataclass
class Reply:
    """One scripted answer. ``chunks`` makes it a stream (dicts become ``data:`` events, ``b"..."`` is sent
    raw, ``"[DONE]"`` ends it); ``die_after`` drops the connection after that many chunks; ``forever``
    keeps sending chunks every ``delay_s`` until the client goes away; ``hang`` never answers."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    chunks: list[Any] | None = None
    delay_s: float = 0.0
    die_after: int | None = None
    forever: bool = False
    hang: bool = False


def completion(content: str | None, *, tool_calls: list[dict[str, Any]] | None = None) -> Reply:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return Reply(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if tool_calls else "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        }
    )


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def stream(pieces: list[str], *, tool_calls: list[dict[str, Any]] | None = None, delay_s: float = 0.0) -> Reply:
    """A stream of ``pieces`` as content deltas, then each tool call split over three deltas."""
    chunks: list[Any] = [chunk({"role": "assistant", "content": ""})]
    chunks.extend(chunk({"content": p}) for p in pieces)
    for i, call in enumerate(tool_calls or ()):
        args = call["function"]["arguments"]
        half = len(args) // 2
        chunks.append(
            chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                   "function": {"name": call["function"]["name"], "arguments": ""}}]})
        )  # fmt: skip
        chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[:half]}}]}))
        chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]}))
    chunks.append(chunk({}, "tool_calls" if tool_calls else "stop"))
    chunks.append("[DONE]")
    return Reply(chunks=chunks, delay_s=delay_s)


@dataclass
class Upstream:
    script: list[Reply] | Callable[[dict[str, Any]], Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)
    sent: list[float] = field(default_factory=list)  # monotonic time each stream chunk was sent

    def next_reply(self, body: dict[str, Any]) -> Reply:
        if callable(self.script):
            return self.script(body)
        if not self.script:
            return Reply(status=500, body={"error": {"message": "no reply scripted", "type": "server_error"}})
        return self.script.pop(0)

    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            reply = self.next_reply(body)
            if reply.hang:
                while not await request.is_disconnected():
                    await asyncio.sleep(0.05)
                return Response(status_code=499)
            if reply.chunks is None:
                if reply.delay_s:
                    await asyncio.sleep(reply.delay_s)
                if reply.raw is not None:
                    return Response(reply.raw, status_code=reply.status, media_type=reply.content_type)
                return JSONResponse(reply.body, status_code=reply.status)
            return StreamingResponse(self._events(reply), media_type="text/event-stream")

        async def models(request: Request) -> Response:
            self.headers.append(dict(request.headers))
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in (MODEL, "secret-model")]
            return JSONResponse({"object": "list", "data": data})

        return Starlette(routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]), Route("/v1/models", models),
        ])  # fmt: skip

    async def _events(self, reply: Reply) -> AsyncIterator[bytes]:
        chunks = list(reply.chunks or ())
        try:
            sent = 0
            while chunks or reply.forever:
                item = chunks.pop(0) if chunks else chunk({"content": "tick "})
                if reply.die_after is not None and sent >= reply.die_after:
                    raise ConnectionAbortedError("scripted death mid-stream")
                if isinstance(item, bytes):
                    yield item
                elif item == "[DONE]":
                    yield b"data: [DONE]\n\n"
                else:
                    yield b"data: " + json.dumps(item).encode() + b"\n\n"
                self.sent.append(time.monotonic())
                sent += 1
                if reply.delay_s:
                    await asyncio.sleep(reply.delay_s)
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled.set()
            raise


@contextlib.contextmanager
def serve(app: Any, *, lifespan: Literal["auto", "on", "off"] = "off") -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="error", lifespan=lifespan, ws="none", access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
