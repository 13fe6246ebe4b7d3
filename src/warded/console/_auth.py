"""Console sessions, CSRF tokens, login rate limits and the challenges a session waits on (internal).

A session is a random id in a ``Secure; HttpOnly; SameSite=Strict`` cookie, kept in memory only: restarting
the console logs everyone out. Every session, signed in or not, carries a CSRF token that each state-changing
request must echo in the ``X-CSRF-Token`` header. Signing in replaces the session id (no fixation).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COOKIE", "RateLimiter", "Session", "Sessions"]

COOKIE = "warded_console"
IDLE_S = 1800.0
ABSOLUTE_S = 8 * 3600.0
MAX_SESSIONS = 10_000


@dataclass
class Session:
    sid: str
    csrf: str
    created: float
    seen: float
    approver: str | None = None
    credential_id: str | None = None
    waiting: dict[str, Any] = field(default_factory=dict)  # purpose -> what the next assertion must sign

    def csrf_ok(self, token: str | None) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    """The console's sessions, in memory, bounded (the oldest are dropped first)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, sid: str | None, now: float) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            if now - session.seen > IDLE_S or now - session.created > ABSOLUTE_S:
                del self._by_id[sid]
                return None
            session.seen = now
            return session

    def new(self, now: float) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:
                oldest = min(self._by_id.values(), key=lambda s: s.seen)
                del self._by_id[oldest.sid]
            self._by_id[session.sid] = session
        return session

    def sign_in(self, old: Session, approver: str, credential_id: str, now: float) -> Session:
        """A new session (new id and CSRF token) for ``approver``; the old one ends."""
        self.end(old)
        session = self.new(now)
        session.approver, session.credential_id = approver, credential_id
        return session

    def end(self, session: Session) -> None:
        with self._lock:
            self._by_id.pop(session.sid, None)


class RateLimiter:
    """At most ``limit`` attempts per ``window_s`` per client (login and registration)."""

    def __init__(self, limit: int = 10, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float) -> bool:
        with self._lock:
            if len(self._hits) > MAX_SESSIONS:
                self._hits.clear()
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True
