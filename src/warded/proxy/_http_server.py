"""The HTTP/1.1 listener under every server warded runs: uvicorn with read timeouts and connection caps.

uvicorn times out idle keep-alive connections but not a request that is still arriving: a client that sends
half a request line holds its socket forever, and a few thousand of them starve the server. The protocol
classes here (one for each of uvicorn's parsers, httptools and h11) put every connection in one of three
phases and arm a deadline for the first two (see :class:`~warded.config.http.HttpLimits`):

* ``head``: waiting for a complete request head (new connection, or keep-alive after a response);
  ``header_timeout_s``, and at most ``max_header_bytes`` of it;
* ``body``: head complete, body still arriving; ``body_timeout_s``;
* ``busy``: the request is complete and the app is answering; no deadline here (the apps bound their own work).

Deadlines are armed when a phase starts and are not extended by bytes that dribble in. Connections are
counted at accept: past ``max_connections`` (or ``max_connections_per_client``), the connection that has
waited longest in ``head`` or ``body`` is closed to make room, so half-open connections can never lock out a
client that sends its request promptly; when every connection is ``busy``, the newcomer gets a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import resource
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, cast

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from warded.config.http import HttpLimits
from warded.errors import WardedError

__all__ = ["GuardedConfig", "GuardedH11Protocol", "HttpLimitsError", "run"]

Phase = Literal["head", "body", "busy"]

# Descriptors kept free for the rest of the process (SQLite, model files, upstream connections, logs).
FD_HEADROOM = 256

_CLOSE = b"content-length: 0\r\nconnection: close\r\n\r\n"
_408 = b"HTTP/1.1 408 Request Timeout\r\n" + _CLOSE
_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\n" + _CLOSE
_503 = b"HTTP/1.1 503 Service Unavailable\r\n" + _CLOSE


class HttpLimitsError(WardedError):
    """The HTTP listener cannot honour its limits (e.g. more connections than file descriptors)."""


class _Registry:
    """The connections of one uvicorn server, and those waiting for their request, oldest first."""

    def __init__(self) -> None:
        self.count = 0
        self.per_client: Counter[str] = Counter()
        self.waiting: dict[_Guard, None] = {}
        self.waiting_per_client: dict[str, dict[_Guard, None]] = {}

    def oldest_waiting(self, client: str | None = None) -> _Guard | None:
        waiting = self.waiting if client is None else self.waiting_per_client.get(client, {})
        return next(iter(waiting), None)


_REGISTRIES: weakref.WeakKeyDictionary[ServerState, _Registry] = weakref.WeakKeyDictionary()


def _registry(state: ServerState) -> _Registry:
    registry = _REGISTRIES.get(state)
    if registry is None:
        registry = _REGISTRIES[state] = _Registry()
    return registry


class _Guard:
    """Deadlines and admission of one connection. The protocol tells it when data arrives and responses end."""

    def __init__(self, limits: HttpLimits, state: ServerState, phase_of: Callable[[], Phase]) -> None:
        self.limits = limits
        self.registry = _registry(state)
        self.phase_of = phase_of
        self.transport: asyncio.Transport | None = None
        self.client = ""
        self.phase: Phase | None = None
        self.phase_bytes = 0
        self.timer: asyncio.TimerHandle | None = None
        self.admitted = False

    # -- admission -------------------------------------------------------------------------------

    def admit(self, transport: asyncio.Transport, client: tuple[str, int] | None) -> bool:
        """Count the new connection in, making room at a cap; False (503 sent, closing) if there is none."""
        self.transport = transport
        self.client = client[0] if client else ""
        registry, limits = self.registry, self.limits
        per_client = limits.max_connections_per_client
        if per_client is not None and registry.per_client[self.client] >= per_client:
            victim = registry.oldest_waiting(self.client)
            if victim is None:
                self._shut(_503)
                return False
            victim.shut()
        if registry.count >= limits.max_connections:
            victim = registry.oldest_waiting()
            if victim is None:
                self._shut(_503)
                return False
            victim.shut()
        registry.count += 1
        registry.per_client[self.client] += 1
        self.admitted = True
        self.update()
        return True

    def _forget(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._unwait()
        if self.admitted:
            self.admitted = False
            registry = self.registry
            registry.count -= 1
            registry.per_client[self.client] -= 1
            if registry.per_client[self.client] <= 0:
                del registry.per_client[self.client]

    def _unwait(self) -> None:
        registry = self.registry
        registry.waiting.pop(self, None)
        mine = registry.waiting_per_client.get(self.client)
        if mine is not None:
            mine.pop(self, None)
            if not mine:
                del registry.waiting_per_client[self.client]

    # -- phases and deadlines --------------------------------------------------------------------

    def data(self, size: int) -> None:
        """Bytes arrived (called before the parser sees them)."""
        if self.phase == "head":
            self.phase_bytes += size

    def update(self) -> None:
        """Re-read the phase after the parser or the app moved; re-arm the deadline when it changed."""
        if not self.admitted or self.transport is None or self.transport.is_closing():
            return
        phase = self.phase_of()
        if phase == self.phase:
            if phase == "head" and self.phase_bytes > self.limits.max_header_bytes:
                self.shut(_431)
            return
        self.phase, self.phase_bytes = phase, 0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._unwait()
        if phase == "busy":
            return
        self.registry.waiting[self] = None
        self.registry.waiting_per_client.setdefault(self.client, {})[self] = None
        delay = self.limits.header_timeout_s if phase == "head" else self.limits.body_timeout_s
        self.timer = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self.timer = None
        # A 408 only where nothing else is being written: a partial head, no app running.
        self.shut(_408 if self.phase == "head" and self.phase_bytes else None)

    def shut(self, status: bytes | None = None) -> None:
        """Close this connection now (evicted, timed out or refused), with a status line if one is given."""
        self._forget()
        self._shut(status)

    def _shut(self, status: bytes | None) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if status is not None and transport.get_write_buffer_size() == 0:
            transport.write(status)
        # close() would wait for a peer that does not read; abort() does not.
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    def lost(self) -> None:
        self._forget()


def _limits_of(config: uvicorn.Config) -> HttpLimits:
    if not isinstance(config, GuardedConfig):
        raise HttpLimitsError("the guarded HTTP protocol needs a GuardedConfig (it carries the limits)")
    return config.limits


class _Guarded(asyncio.Protocol):
    """What both of uvicorn's HTTP protocols gain: admission at connect, deadlines updated on every event.

    Listed before the uvicorn protocol in the bases, so each method runs the guard around uvicorn's own.
    """

    _guard: _Guard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._guard.admit(cast(asyncio.Transport, transport), getattr(self, "client", None))

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.lost()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._guard.data(len(data))
        super().data_received(data)
        self._guard.update()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._guard.update()


class GuardedH11Protocol(_Guarded, H11Protocol):
    """uvicorn's h11 protocol with :class:`_Guard` deadlines and admission."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard = _Guard(_limits_of(config), server_state, self._phase)

    def _phase(self) -> Phase:
        if self.conn.their_state is h11.SEND_BODY:
            return "body"
        if self.cycle is not None and not self.cycle.response_complete:
            return "busy"
        return "head"


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency; h11 serves without it
    _PROTOCOL: type[asyncio.Protocol] = GuardedH11Protocol
else:

    class GuardedHttpToolsProtocol(_Guarded, HttpToolsProtocol):
        """uvicorn's httptools protocol with :class:`_Guard` deadlines and admission."""

        def __init__(
            self,
            config: uvicorn.Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._reading: Phase = "head"  # what the parser waits for: a head, a body, or nothing ("busy")
            self._guard = _Guard(_limits_of(config), server_state, self._phase)

        def _phase(self) -> Phase:
            if self._reading == "body":
                return "body"
            if self.cycle is not None and not self.cycle.response_complete:
                return "busy"
            return "head"

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._reading = "head"

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._reading = "body"

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._reading = "busy"

    _PROTOCOL = GuardedHttpToolsProtocol


def _ensure_descriptors(limits: HttpLimits) -> None:
    """Make room for ``max_connections`` sockets, or refuse: an accept that fails for want of descriptors
    stops the whole listener, which is the starvation these limits exist to prevent."""
    needed = limits.max_connections + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard == resource.RLIM_INFINITY or hard >= needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        return
    raise HttpLimitsError(
        f"max_connections {limits.max_connections} needs {needed} file descriptors; this process may open {hard} "
        f"(raise `ulimit -n` or lower max_connections)"
    )


class GuardedConfig(uvicorn.Config):
    """A uvicorn ``Config`` whose HTTP protocol enforces ``limits``. Picklable, so ``workers > 1`` works.

    The protocol, WebSockets (off), keep-alive, backlog and concurrency settings are this class's to set;
    everything else passes through to uvicorn. ``parser``: httptools where installed (``auto``), or h11.
    """

    def __init__(self, app: Any, *, limits: HttpLimits, parser: Literal["auto", "h11"] = "auto", **kwargs: Any) -> None:
        for owned in (
            "http",
            "ws",
            "timeout_keep_alive",
            "backlog",
            "limit_concurrency",
            "h11_max_incomplete_event_size",
        ):
            if owned in kwargs:
                raise HttpLimitsError(f"GuardedConfig sets {owned!r} itself (from the HTTP limits)")
        _ensure_descriptors(limits)
        self.limits = limits
        super().__init__(
            app,
            http=GuardedH11Protocol if parser == "h11" else _PROTOCOL,
            ws="none",
            timeout_keep_alive=limits.keep_alive_s,
            backlog=limits.backlog,
            # uvicorn's own cap answers 503 to *requests* once the connection count reaches it, evicted and
            # refused sockets included; admission above replaces it.
            limit_concurrency=None,
            h11_max_incomplete_event_size=limits.max_header_bytes,
            **kwargs,
        )


def run(config: GuardedConfig) -> None:
    """Serve until interrupted, as ``uvicorn.run`` does (``workers > 1`` needs the app as an import string).

    Raises :class:`HttpLimitsError` if the server did not start (port taken, app failed its startup).
    """
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    server = uvicorn.Server(config)
    if config.workers > 1:
        if not isinstance(config.app, str):
            raise HttpLimitsError("workers > 1 needs the app as an import string")
        sockets = [config.bind_socket()]
        if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.55
            Multiprocess(config, target=server.run, sockets=sockets).run()  # type: ignore[call-arg, unused-ignore]
        else:
            Multiprocess(config, sockets=sockets).run()
        return
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl-C is a normal stop
        server.run()
    if not server.started:
        raise HttpLimitsError(f"the HTTP server did not start on {config.host}:{config.port}")
