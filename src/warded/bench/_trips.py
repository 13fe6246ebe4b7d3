"""Count a store's network round trips from outside the process: a loopback TCP forwarder that counts flights.

The scale bench points the replicas at one :class:`TripCounter` per store (PostgreSQL, Redis) instead of the
server itself. A round trip begins each time a client sends after the server last spoke on that connection
(or for the first time): a request split over several TCP segments, or a pipeline of statements sent
together, is one trip; every wait for an answer is another. Nothing in warded is instrumented, so the count
is what the network saw, whatever the drivers do (retries, pool checks, script loads included).
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self

__all__ = ["TripCounter"]

_CHUNK = 65536


class TripCounter:
    """Forwards ``127.0.0.1:port`` (``port`` chosen at start) to ``(host, target_port)``, counting round trips.

    Runs its own event loop on a daemon thread; :attr:`trips` may be read or :meth:`reset` from any thread.
    """

    def __init__(self, host: str, target_port: int) -> None:
        self._target = (host, target_port)
        self._trips = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True, name="trip-counter")
        self._thread.start()
        if not started.wait(10.0) or self._server is None:
            raise RuntimeError("the round-trip counter did not start")
        self.port: int = int(self._server.sockets[0].getsockname()[1])

    @property
    def trips(self) -> int:
        with self._lock:
            return self._trips

    def reset(self) -> int:
        """Zero the count; the count before."""
        with self._lock:
            trips, self._trips = self._trips, 0
        return trips

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def open_server() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

        self._loop.run_until_complete(open_server())
        started.set()
        self._loop.run_forever()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.close()
            return
        last = ["server"]  # who spoke last on this connection
        self._writers |= {client_w, server_w}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, side: str) -> None:
            try:
                while data := await src.read(_CHUNK):
                    if side == "client" and last[0] != "client":
                        with self._lock:
                            self._trips += 1
                    last[0] = side
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pump(client_r, server_w, "client"), pump(server_r, client_w, "server"))
        finally:
            self._writers -= {client_w, server_w}

    def close(self) -> None:
        """Close the listener and every forwarded connection, and stop the loop (nothing left pending)."""

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._server is not None:
                await self._server.wait_closed()

        if self._loop.is_closed():
            return
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
