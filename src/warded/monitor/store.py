"""Where the monitor keeps each agent's baseline: table ``monitor_agents`` of the gateway's SQLite file.

One row per agent (its :meth:`AgentModel.to_json`). The column ``flagged`` is where earlier versions kept
whether an anomaly left the agent needing approval; that flag lives in the shared state store now
(``StateStore.flag``), and a gateway that finds one here moves it there at start. The row is written when
the warm-up ends, on every alert, every :data:`SAVE_EVERY` calls and at shutdown, so a restart keeps the
baseline. A stored row that cannot be read is learnt again, and the gateway alerts on it
(``monitor.baseline_unreadable``): during that warm-up the agent raises no anomaly alert. A failed save
denies the call that needed it (``gateway/_watch.py``); at shutdown it is a ``monitor_error`` entry.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

from warded.errors import StoreError
from warded.store._sqlite import open_sqlite

__all__ = ["SAVE_EVERY", "MonitorStore"]

SAVE_EVERY = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS monitor_agents (
    agent_id TEXT PRIMARY KEY,
    updated_at REAL NOT NULL,
    flagged INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL
);
"""


class MonitorStore:
    """Agent models in SQLite (WAL; shared by the workers of one gateway file). Thread-safe."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db = open_sqlite(
            path, what=f"the monitor table in {path!r}", timeout_s=5.0, synchronous="NORMAL", schema=_SCHEMA
        )

    def load(self) -> dict[str, tuple[dict[str, Any] | None, bool]]:
        """Every stored agent: its model (``None`` if unreadable) and whether it is flagged."""
        with self._lock:
            try:
                rows = self._db.execute("SELECT agent_id, flagged, model FROM monitor_agents").fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the monitor state: {exc}") from exc
        out: dict[str, tuple[dict[str, Any] | None, bool]] = {}
        for agent, flagged, text in rows:
            try:
                model = json.loads(str(text))
            except ValueError:
                model = None
            out[str(agent)] = (model if isinstance(model, dict) else None, bool(flagged))
        return out

    def save(self, agent_id: str, model: dict[str, Any], at: float) -> None:
        text = json.dumps(model, separators=(",", ":"))
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO monitor_agents VALUES (?, ?, 0, ?) ON CONFLICT (agent_id) DO UPDATE SET "
                    "updated_at = excluded.updated_at, model = excluded.model",
                    (agent_id, at, text),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the monitor state: {exc}") from exc

    def clear_flag(self, agent_id: str) -> bool:
        """Clear the flag an older warded kept here; ``True`` if the agent was flagged."""
        with self._lock:
            try:
                cur = self._db.execute(
                    "UPDATE monitor_agents SET flagged = 0 WHERE agent_id = ? AND flagged = 1", (agent_id,)
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the monitor state: {exc}") from exc
        return cur.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
