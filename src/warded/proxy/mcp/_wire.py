"""The MCP proxy's wire: bounded reading, and protocol-correct answers to input that is not MCP.

Every message from the client is checked here before the SDK sees it: oversized messages, text that is
not JSON, JSON that is not JSON-RPC, batches, and methods the proxy does not serve each get the JSON-RPC
error the specification names (``-32700`` parse error, ``-32600`` invalid request, ``-32601`` method not
found), the proxy stays up, and ``on_bad`` is told so the audit log records it. Only what passes reaches
the SDK's session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import types
from mcp.shared.message import SessionMessage

from warded import jsonio

__all__ = [
    "SERVED_METHODS",
    "BadInput",
    "GuardedHttpApp",
    "check_message",
    "error_body",
    "stdio_transport",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601

#: Requests the proxy answers; anything else is "method not found" (deny by default: no resources,
#: prompts, completions or sampling pass through unguarded).
SERVED_METHODS = frozenset({"initialize", "ping", "tools/list", "tools/call"})
#: Notifications passed to the session; others are dropped, as JSON-RPC allows.
PASSED_NOTIFICATIONS = frozenset(
    {
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/roots/list_changed",
    }
)
_ID = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,19})')

OnBad = Callable[["BadInput"], None]


@dataclass(frozen=True, slots=True)
class BadInput:
    """A message refused before the SDK saw it, and the error sent back (``reply`` is None for a dropped
    notification)."""

    code: int
    message: str
    size: int
    request_id: str | int | None
    method: str | None = None
    reply: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "bytes": self.size,
            "request_id": self.request_id,
            "method": self.method[:200] if self.method else None,
        }


def error_body(request_id: str | int | None, code: int, message: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}, separators=(",", ":")
    ).encode("utf-8")


def _find_id(head: bytes) -> str | int | None:
    match = _ID.search(head[:4096])
    if match is None:
        return None
    with contextlib.suppress(jsonio.JsonRefused):
        value = jsonio.loads(match.group(1))
        if isinstance(value, str | int) and not isinstance(value, bool):
            return value
    return None


def _bad(code: int, message: str, size: int, request_id: str | int | None, method: str | None = None) -> BadInput:
    return BadInput(code, message, size, request_id, method, error_body(request_id, code, message))


def oversized(head: bytes, size: int, limit: int) -> BadInput:
    return _bad(
        INVALID_REQUEST, f"message of {size} bytes or more exceeds the limit of {limit} bytes", size, _find_id(head)
    )


def check_message(raw: bytes) -> tuple[types.JSONRPCMessage | None, BadInput | None]:
    """Parse one message; exactly one of the pair is set, or neither for a dropped notification."""
    try:
        message = types.JSONRPCMessage.model_validate_json(raw)
    except ValueError:
        return None, _diagnose(raw)
    root = message.root
    if isinstance(root, types.JSONRPCRequest) and root.method not in SERVED_METHODS:
        return None, _bad(METHOD_NOT_FOUND, f"method not found: {root.method[:200]}", len(raw), root.id, root.method)
    if isinstance(root, types.JSONRPCNotification):
        data = json.loads(raw)  # notifications are rare: look for an "id" the model ignored (e.g. ``true``)
        if isinstance(data, dict) and "id" in data:
            return None, _bad(INVALID_REQUEST, "invalid request: id must be a string or a number", len(raw), None)
        if root.method not in PASSED_NOTIFICATIONS:
            return None, BadInput(0, "unknown notification dropped", len(raw), None, root.method, None)
    return message, None


def _diagnose(raw: bytes) -> BadInput:
    try:
        data = jsonio.loads(raw, refuse_overflow=False, refuse_lone_surrogates=False)
    except jsonio.JsonRefused:  # not JSON, or JSON no consumer reads one way (a key twice, NaN)
        return _bad(PARSE_ERROR, "parse error: the message is not valid JSON", len(raw), None)
    if isinstance(data, list):
        return _bad(INVALID_REQUEST, "invalid request: JSON-RPC batches are not supported", len(raw), None)
    request_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        request_id = None
    method = data.get("method") if isinstance(data, dict) else None
    return _bad(
        INVALID_REQUEST,
        "invalid request: not a JSON-RPC 2.0 message",
        len(raw),
        request_id,
        method if isinstance(method, str) else None,
    )


# -- stdio ---------------------------------------------------------------------------------------------


class _LineReader:
    """Reads newline-terminated messages of at most ``limit`` bytes from a binary stream.

    Pipes and sockets are read by the event loop itself; anything else (a file, a terminal) by a thread.
    """

    def __init__(self, file: BinaryIO, limit: int) -> None:
        self._file = file
        self._limit = limit
        self._reader: asyncio.StreamReader | None = None
        self._transport: asyncio.BaseTransport | None = None

    async def open(self) -> None:
        mode = os.fstat(self._file.fileno()).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=self._limit + 1)
            self._transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self._file)
            self._reader = reader

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def read(self) -> tuple[bytes, int] | None:
        """The next line and its full size (``len(line) < size`` when it was cut at the limit), or None at EOF."""
        if self._reader is None:
            return await anyio.to_thread.run_sync(self._read_blocking)
        reader = self._reader
        try:
            line = await reader.readuntil(b"\n")
            return line, len(line)
        except asyncio.IncompleteReadError as exc:
            return (exc.partial, len(exc.partial)) if exc.partial else None
        except asyncio.LimitOverrunError as exc:
            head = await reader.read(exc.consumed)
            size = len(head)
            while True:
                try:
                    rest = await reader.readuntil(b"\n")
                    size += len(rest)
                    break
                except asyncio.LimitOverrunError as more:
                    size += len(await reader.read(more.consumed))
                except asyncio.IncompleteReadError as end:
                    size += len(end.partial)
                    break
            return head[: self._limit], size

    def _read_blocking(self) -> tuple[bytes, int] | None:
        line = self._file.readline(self._limit + 1)
        if not line:
            return None
        size = len(line)
        if size > self._limit and not line.endswith(b"\n"):
            while True:
                rest = self._file.readline(1 << 20)
                size += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            return line[: self._limit], size
        return line, size


class _Writer:
    """Writes one message per line; pipes through the event loop (with back-pressure), else a thread."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._transport: asyncio.WriteTransport | None = None
        self._protocol: Any = None
        self._lock = anyio.Lock()

    async def open(self) -> None:
        mode = os.fstat(self._file.fileno()).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            loop = asyncio.get_running_loop()
            self._transport, self._protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, self._file
            )

    async def write(self, data: bytes) -> None:
        async with self._lock:
            if self._transport is None:
                await anyio.to_thread.run_sync(self._write_blocking, data)
                return
            if self._transport.is_closing():
                raise anyio.BrokenResourceError("stdout is closed")
            self._transport.write(data + b"\n")
            await self._protocol._drain_helper()

    def _write_blocking(self, data: bytes) -> None:
        self._file.write(data + b"\n")
        self._file.flush()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


@contextlib.asynccontextmanager
async def stdio_transport(
    max_bytes: int, on_bad: OnBad, *, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
]:
    """Like ``mcp.server.stdio.stdio_server``, with every message checked by :func:`check_message` first.

    Without explicit streams, the process's own stdout is taken for the protocol and file descriptor 1 is
    pointed at stderr, so a stray ``print`` anywhere cannot corrupt the conversation.
    """
    own_stdout = stdout is None
    if stdout is None:
        sys.stdout.flush()
        stdout = os.fdopen(os.dup(1), "wb", buffering=0)
        os.dup2(2, 1)
    if stdin is None:
        stdin = sys.stdin.buffer
    reader = _LineReader(stdin, max_bytes)
    writer = _Writer(stdout)
    await reader.open()
    await writer.open()
    read_send, read_recv = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_send, write_recv = anyio.create_memory_object_stream[SessionMessage](0)

    async def pump_in() -> None:
        async with read_send:
            while True:
                got = await reader.read()
                if got is None:
                    return
                line, size = got
                if len(line) < size or len(line.rstrip(b"\r\n")) > max_bytes:
                    bad: BadInput | None = oversized(line, size, max_bytes)
                    message = None
                else:
                    if not line.strip():
                        continue
                    message, bad = check_message(line)
                if bad is not None:
                    on_bad(bad)
                    if bad.reply is not None:
                        with contextlib.suppress(anyio.BrokenResourceError, OSError):
                            await writer.write(bad.reply)
                    continue
                if message is not None:
                    await read_send.send(SessionMessage(message))

    async def pump_out() -> None:
        async with write_recv:
            async for item in write_recv:
                data = item.message.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")
                try:
                    await writer.write(data)
                except (anyio.BrokenResourceError, OSError):
                    return  # the client went away; the reader will see EOF

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump_in)
            tg.start_soon(pump_out)
            yield read_recv, write_send
            tg.cancel_scope.cancel()
    finally:
        reader.close()
        writer.close()
        if own_stdout:
            with contextlib.suppress(OSError):
                stdout.close()


# -- Streamable HTTP ---------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class GuardedHttpApp:
    """ASGI wrapper: each POSTed message is read (bounded), checked as on stdio, then replayed to ``inner``."""

    def __init__(self, inner: ASGIApp, max_bytes: int, on_bad: OnBad) -> None:
        self.inner = inner
        self.max_bytes = max_bytes
        self.on_bad = on_bad

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST":
            await self.inner(scope, receive, send)
            return
        declared = _content_length(scope)
        body = bytearray()
        size = 0
        too_big = declared is not None and declared > self.max_bytes
        while not too_big:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                too_big = True
                body.extend(chunk[: max(0, 4096 - len(body))])
                break
            body.extend(chunk)
            if not event.get("more_body", False):
                break
        if too_big:
            big = oversized(bytes(body), max(size, declared or 0), self.max_bytes)
            self.on_bad(big)
            await _reply(send, 413, big.reply or b"")
            return
        raw = bytes(body)
        _, bad = check_message(raw)
        if bad is not None:
            self.on_bad(bad)
            if bad.reply is None:
                await _reply(send, 202, b"")
            else:
                await _reply(send, 200 if bad.code == METHOD_NOT_FOUND else 400, bad.reply)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.inner(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reply(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode("ascii"))]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
