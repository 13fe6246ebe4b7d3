"""The MCP proxy's one client connection to the upstream server, kept by a background task.

The connection (a spawned process or a Streamable HTTP session) lives in its own task, so that when the
upstream dies, hangs or talks nonsense, only that task fails: the proxy stays up, callers get
:class:`UpstreamUnavailable`, and the next call connects afresh.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import types
from mcp.client.session import ClientSession, MessageHandlerFnT
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage
from mcp.shared.session import RequestResponder

from warded import __version__
from warded.errors import WardedError

__all__ = ["Upstream", "UpstreamUnavailable", "http_connector", "stdio_connector"]

Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
Connector = Callable[[], AbstractAsyncContextManager[Any]]
Incoming = RequestResponder[types.ServerRequest, types.ClientResult] | types.ServerNotification | Exception
MessageHandler = MessageHandlerFnT


class UpstreamUnavailable(WardedError):
    """The upstream MCP server could not be reached (or has gone away)."""


def stdio_connector(command: list[str], env: dict[str, str], cwd: str | None = None) -> Connector:
    if not command:
        raise UpstreamUnavailable("no upstream command given")
    params = StdioServerParameters(command=command[0], args=list(command[1:]), env=env, cwd=cwd)
    return lambda: stdio_client(params)


@contextlib.asynccontextmanager
async def _http(url: str, headers: dict[str, str], timeout: float) -> Any:
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout), follow_redirects=False) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
    ):
        yield read, write


def http_connector(url: str, headers: dict[str, str], timeout: float) -> Connector:
    return lambda: _http(url, headers, timeout)


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc)[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Upstream:
    """One upstream session at a time. ``bind`` it to a task group, then ask for :meth:`session`."""

    def __init__(
        self,
        connect: Connector,
        *,
        connect_timeout: float,
        on_message: MessageHandler | None = None,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self._connect_cm = connect
        self._timeout = connect_timeout
        self._on_message = on_message
        self._on_connect = on_connect
        self._tg: TaskGroup | None = None
        self._session: ClientSession | None = None
        self._stop = anyio.Event()
        self._lock = anyio.Lock()
        self.last_error = ""
        self.initialize_result: types.InitializeResult | None = None
        self.connections = 0

    def bind(self, tg: TaskGroup) -> None:
        self._tg = tg

    async def session(self) -> ClientSession:
        """The live session, connecting first if there is none. Raises :class:`UpstreamUnavailable`."""
        live = self._session
        if live is not None:
            return live
        async with self._lock:
            if self._session is None:
                await self._connect()
            if self._session is None:
                raise UpstreamUnavailable(f"the upstream MCP server is unavailable ({self.last_error or 'no answer'})")
            return self._session

    def lost(self, session: ClientSession, why: str) -> None:
        """A call found ``session`` broken: drop it (its task tears the connection down)."""
        if self._session is session:
            self._session = None
            self.last_error = why
            self._stop.set()

    async def aclose(self) -> None:
        self._session = None
        self._stop.set()

    async def _connect(self) -> None:
        if self._tg is None:
            raise UpstreamUnavailable("the upstream connection is not bound to a task group")
        ready = anyio.Event()
        self._stop = anyio.Event()
        self._tg.start_soon(self._hold, ready, self._stop)
        with anyio.move_on_after(self._timeout + 1.0):
            await ready.wait()

    async def _hold(self, ready: anyio.Event, stop: anyio.Event) -> None:
        session: ClientSession | None = None
        try:
            async with self._connect_cm() as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(
                    read,
                    write,
                    message_handler=self._on_message,
                    client_info=types.Implementation(name="warded", version=__version__),
                    read_timeout_seconds=timedelta(days=1),
                ) as session:
                    with anyio.fail_after(self._timeout):
                        self.initialize_result = await session.initialize()
                    self._session = session
                    self.connections += 1
                    if self._on_connect is not None:
                        self._on_connect()
                    ready.set()
                    await stop.wait()
        except Exception as exc:  # any failure of the upstream ends this connection, never the proxy
            self.last_error = _describe(exc)
        finally:
            if self._session is session:
                self._session = None
            ready.set()
