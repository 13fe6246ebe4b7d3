"""Live decisions: one follower tails the audit log and fans each new decision out to the open streams.

The follower reads the entries after the last one it saw (every ``poll_s``), so it sees what every gateway
process writes to the shared log, not only this process. Each stream has a bounded queue: a stream that
cannot keep up is not silently thinned out; it counts what it missed and tells the browser (a ``gap``
event with the number), which then reloads.

**No decision shown twice or lost between the page and its stream.** The page is rendered from the log up to
a cursor (the last seq it read) and opens the stream with ``after=`` that cursor. The stream subscribes
first, then reads the backlog after the cursor from the store, then follows its queue, skipping anything at
or below the highest seq already sent: a decision written before the subscription is in the backlog, one
written after it is in the queue, one in both is sent once. A backlog longer than :data:`BACKLOG` entries is
not read in full: the newest are sent after a ``gap`` event that says how many entries were skipped.
Server-sent event ids are seqs, so a browser that reconnects resumes after the last one it saw.

A follower that cannot read the audit log sends every stream a ``stalled`` event per failed read and retries
from its place: the view says it is stalled instead of going quiet, and skips nothing once the log answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from warded.audit.chain import AuditEntry
from warded.audit.store import AuditStore
from warded.errors import AuditError

__all__ = ["DecisionFeed", "Filter", "Subscriber", "summarise"]

QUEUE_BOUND = 20_000
BATCH = 5_000
BACKLOG = 5_000
"""At most this many entries after a stream's cursor are read for its backlog (the newest of them)."""


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
        self.failures = 0

    def _read(self) -> list[AuditEntry]:
        with self._lock:
            out: list[AuditEntry] = []
            for entry in self._store.iter_entries(self.last_seq + 1):
                out.append(entry)
                if len(out) >= BATCH:
                    break
            return out

    async def poll(self) -> int:
        """Read what was appended since the last poll and queue each decision for the streams it matches;
        the number of entries read."""
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
        return len(entries)

    async def _run(self) -> None:
        while True:
            try:
                read = await self.poll()
            except AuditError as exc:
                # The follower keeps its place (last_seq) and retries: nothing is skipped once the store
                # answers again. Meanwhile every stream says the view is stalled, rather than going quiet.
                self.failures += 1
                self._tell_all({"seq": -1, "error": f"the live view cannot read the audit log: {exc}"[:300]})
                read = 0
            if read < BATCH:
                await asyncio.sleep(self._poll_s)

    def _tell_all(self, item: dict[str, Any]) -> None:
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(item)
            except asyncio.QueueFull:
                sub.dropped += 1

    def _backlog(self, after: int) -> tuple[list[AuditEntry], int]:
        """The entries after ``after``, oldest first, at most :data:`BACKLOG` of them (the newest), and how
        many entries after ``after`` were skipped to keep to that bound."""
        with self._lock:
            newest = self._store.entries_before(sys.maxsize, BACKLOG, min_seq=after + 1)
        skipped = newest[-1].seq - after - 1 if len(newest) == BACKLOG else 0
        return newest[::-1], skipped

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
        self,
        sub: Subscriber,
        disconnected: Callable[[], Any],
        *,
        after: int | None = None,
        keepalive_s: float = 15.0,
    ) -> AsyncGenerator[bytes, None]:
        """Server-sent events for ``sub`` (subscribed before the response starts): with ``after`` (the cursor
        of the page that opened the stream), first the matching decisions written after it and before the
        subscription (the backlog, read now from the store), then ``decision`` per matching entry as the
        follower reads them, each seq once and in order; ``gap`` when some were missed (the number), comments
        to keep the connection open. Unsubscribes when it ends."""
        reported = 0
        sent = -1  # the highest seq sent or covered by the backlog: anything at or below it is not sent again
        try:
            yield b": connected\n\n"
            if after is not None:
                entries, skipped = await asyncio.to_thread(self._backlog, after)
                sent = after
                if skipped:
                    yield f"event: gap\ndata: {skipped}\n\n".encode()
                for entry in entries:
                    sent = entry.seq
                    item = summarise(entry)
                    if item is not None and sub.filter.matches(item):
                        sub.delivered += 1
                        yield _event(item)
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), keepalive_s)
                except TimeoutError:
                    if await disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                if "error" in item:
                    yield f"event: stalled\ndata: {json.dumps(item['error'])}\n\n".encode()
                    continue
                if item["seq"] <= sent:
                    continue  # already sent from the backlog (written before the subscription, read by both)
                sent = item["seq"]
                sub.delivered += 1
                yield _event(item)
                if sub.dropped > reported:
                    reported = sub.dropped
                    yield f"event: gap\ndata: {reported}\n\n".encode()
        finally:
            self.unsubscribe(sub)


def _event(item: dict[str, Any]) -> bytes:
    return f"event: decision\nid: {item['seq']}\ndata: {json.dumps(item)}\n\n".encode()
