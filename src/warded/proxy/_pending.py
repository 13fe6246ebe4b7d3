"""The approval request each call is waiting on, so that the same call made again presents the approval.

A proxy whose call needed approval tells the agent "make the same call again once a person approves
it". :class:`PendingApprovals` remembers the request per (session, tool, arguments); when the identical
call comes back and its request is ``approved`` in the store, that request id goes to the gateway with
it. Anything else (no request, still pending, denied, used, an unreadable store) presents nothing, so
the gateway decides afresh: never ALLOW on error. Used by the MCP proxy and the chat proxy.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Protocol

from warded.approve.store import RequestStatus
from warded.core.types import Action, Decision, Verdict
from warded.errors import StoreError

__all__ = ["MAX_PENDING", "PendingApprovals"]

#: Requests remembered per holder; the least recently remembered is forgotten first.
MAX_PENDING = 1024


class _Statuses(Protocol):
    def status(self, request_id: str) -> RequestStatus | None: ...


def _key(action: Action) -> tuple[str, str, str]:
    args = json.dumps(action.arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return action.session_id, action.tool, hashlib.sha256(args.encode("utf-8", "surrogatepass")).hexdigest()


class PendingApprovals:
    """Approval request ids by (session, tool, arguments), bounded. Thread-safe."""

    def __init__(self, max_items: int = MAX_PENDING) -> None:
        self._max = max_items
        self._items: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def approved(self, store: _Statuses | None, action: Action) -> str | None:
        """The remembered request for ``action`` if the store says it is approved (and not yet used)."""
        with self._lock:
            request_id = self._items.get(_key(action))
        if request_id is None or store is None:
            return None
        try:
            status = store.status(request_id)
        except (StoreError, ValueError):  # unreadable store or status: decide without it
            return None
        return request_id if status == RequestStatus.APPROVED else None

    def remember(self, action: Action, request_id: str) -> None:
        """``action`` now waits on ``request_id`` (a blank id is ignored)."""
        if not request_id:
            return
        key = _key(action)
        with self._lock:
            self._items[key] = request_id
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def settle(self, action: Action, decision: Decision, presented: str | None) -> None:
        """After deciding ``action`` with approval ``presented``: remember a new request, or forget the
        presented one once an ALLOW has spent it (after a DENY it stays approved and may be presented again)."""
        if decision.verdict is Verdict.REQUIRE_APPROVAL and decision.request_id:
            self.remember(action, decision.request_id)
        elif presented is not None and decision.verdict is Verdict.ALLOW:
            key = _key(action)
            with self._lock:
                if self._items.get(key) == presented:
                    del self._items[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
