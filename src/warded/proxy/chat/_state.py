"""Per-conversation state of the chat proxy: the PII vault, accepted-message cache, pending approvals."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from warded.proxy._pending import PendingApprovals
from warded.scan.vault import RedactionVault

#: Accepted messages remembered per conversation, so history resent each turn is not rescanned.
MAX_SEEN = 1024


@dataclass
class Conversation:
    """One (agent, session): its vault (when masking PII), accepted messages and approval requests."""

    agent: str
    session: str
    vault: RedactionVault | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    pending: PendingApprovals = field(default_factory=PendingApprovals)  # approval requests per call

    def remember(self, digest: str, message: dict[str, Any]) -> None:
        self.seen[digest] = message
        self.seen.move_to_end(digest)
        while len(self.seen) > MAX_SEEN:
            self.seen.popitem(last=False)


class Conversations:
    """A bounded LRU of conversations. Thread-safe."""

    def __init__(self, max_conversations: int, *, mask_pii: bool) -> None:
        self._max = max_conversations
        self._mask = mask_pii
        self._items: OrderedDict[tuple[str, str], Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, agent: str, session: str) -> Conversation:
        key = (agent, session)
        with self._lock:
            conv = self._items.get(key)
            if conv is None:
                conv = Conversation(agent, session, RedactionVault() if self._mask else None)
                self._items[key] = conv
                while len(self._items) > self._max:
                    _, old = self._items.popitem(last=False)
                    if old.vault is not None:
                        old.vault.clear()
            else:
                self._items.move_to_end(key)
            return conv


def digest(value: object) -> str:
    """A stable digest of a JSON value (keys sorted)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()
