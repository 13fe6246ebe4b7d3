"""Live decisions: one follower tails the audit log and fans each new decision out to the open streams.

The follower reads the entries after the last one it saw (every ``poll_s``), so it sees what every gateway
process writes to the shared log, not only this process. Each stream has a bounded queue: a stream that
cannot keep up is not silently thinned out; it counts what it missed and tells the browser (a ``gap``
event with the number), which then reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from warded.audit.chain import AuditEntry
from warded.audit.store import AuditStore

__all__ = ["DecisionFeed", "Filter", "Subscriber", "summarise"]

QUEUE_BOUND = 20_000
BATCH = 5_000


def summarise(entry: AuditEntry) -> dict[str, Any] | None:
    """The fields a live view shows of a ``decision`` entry (None for other kinds)."""
    if entry.kind != "decision":
        return None
    body = entry.body
    raw_action, raw_decision = body.get("action"), body.get("decision")
    action: dict[str, Any] = raw_action if isinstance(raw_action, dict) else {}
    decision: dict[str, Any] = raw_decision if isinstance(raw_decision, dict) else {}
    raw_reasons = decision.get("reasons")
    reasons: list[Any] = raw_reasons if isinstance(raw_reasons, list) else []
    first: dict[str, Any] = reasons[0] if reasons and isinstance(reasons[0], dict) else {}
    return {
        "seq": entry.seq,
        "ts": entry.ts,
        "agent_id": str(action.get("agent_id", "")),
        "session_id": str(action.get("session_id", "")),
        "tool": str(action.get("tool", "")),
        "verdict": str(decision.get("verdict", "")),
        "rule_id": str(first.get("rule_id", "")),
        "message": str(first.get("message", ""))[:300],
        "request_id": body.get("request_id") if isinstance(body.get("request_id"), str) else None,
    }


@dataclass(frozen=True, slots=True)
class Filter:
    verdict: str = ""
    agent_id: str = ""
    tool: str = ""

    def matches(self, item: dict[str, Any]) -> bool:
        return (
            (not self.verdict or item["verdict"] == self.verdict)
            and (not self.agent_id or item["agent_id"] == self.agent_id)
            and (not self.tool or item["tool"] == self.tool)
        )


@dataclass(eq=False)
class Subscriber:
    filter: Filter
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_BOUND))
    dropped: int = 0
    delivered: int = 0


class DecisionFeed:
    """Follows ``store`` from its current head; :meth:`stream` yields server-sent events for one browser."""

    def __init__(self, store: AuditStore, *, poll_s: float = 0.1, store_lock: threading.Lock | None = None) -> None:
        self._store = store
        self._poll_s = poll_s
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._lock = store_lock or threading.Lock()
        self.last_seq = store.head()[0]
        self.seen = 0

    def _read(self) -> list[AuditEntry]:
        with self._lock:
            out: list[AuditEntry] = []
            for entry in self._store.iter_entries(self.last_seq + 1):
                out.append(entry)
                if len(out) >= BATCH:
                    break
            return out

    async def _run(self) -> None:
        while True:
            entries = await asyncio.to_thread(self._read)
            for entry in entries:
                self.last_seq = entry.seq
                item = summarise(entry)
                if item is None:
                    continue
                self.seen += 1
                for sub in list(self._subscribers):
                    if not sub.filter.matches(item):
                        continue
                    try:
                        sub.queue.put_nowait(item)
                    except asyncio.QueueFull:
                        sub.dropped += 1
            if len(entries) < BATCH:
                await asyncio.sleep(self._poll_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def subscribe(self, flt: Filter) -> Subscriber:
        sub = Subscriber(flt)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    async def stream(
        self, sub: Subscriber, disconnected: Callable[[], Any], *, keepalive_s: float = 15.0
    ) -> AsyncGenerator[bytes, None]:
        """Server-sent events for ``sub`` (subscribed before the response starts, so nothing written after the
        browser sees the stream open is missed): ``decision`` per matching entry, ``gap`` when some were
        missed, comments to keep the connection open. Unsubscribes when it ends."""
        reported = 0
        try:
            yield b": connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), keepalive_s)
                except TimeoutError:
                    if await disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                sub.delivered += 1
                yield f"event: decision\nid: {item['seq']}\ndata: {json.dumps(item)}\n\n".encode()
                if sub.dropped > reported:
                    reported = sub.dropped
                    yield f"event: gap\ndata: {reported}\n\n".encode()
        finally:
            self.unsubscribe(sub)
