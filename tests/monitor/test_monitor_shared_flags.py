"""What an anomaly leaves on an agent (``on_anomaly: require_approval``: a flag) lives in the shared state
store, not in a worker's memory: another worker or replica sees it on its next call, and ``warded alerts
clear`` lifts it for every running one. SQLite (two gateways on one file) and Redis (two replicas on one
Redis, PostgreSQL for the audit chain as in the scale deployment)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from warded.cli import main
from warded.core.types import Action, Verdict
from warded.errors import StoreError
from warded.gateway._stores import migrate_postgres
from warded.gateway.gateway import Gateway
from warded.ops import list_alerts

POLICY = """
version: 1
agents:
  coder-1:
    tools: [read_file, write_file]
tools:
  read_file:
    tier: read
    args:
      path: {type: string, required: true, path: {roots: ["/srv/app"]}}
  write_file:
    tier: write
    args:
      path: {type: string, required: true, path: {roots: ["/srv/app/out"]}}
      content: {type: string}
audit: {path: audit.db, key: audit.key}
scan: {enabled: false}
monitor: {baseline: 60, window: 20, on_anomaly: require_approval}
"""

WRITE = Action("coder-1", "s1", "write_file", {"path": "/srv/app/out/a.txt"})
READ = Action("coder-1", "s1", "read_file", {"path": "/srv/app/a.txt"})


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 60.0
        return self.now


def _policy(tmp_path: Path, store: str = "") -> Path:
    path = tmp_path / "warded.yaml"
    path.write_text(POLICY + store, encoding="utf-8")
    return path


def _work(gw: Gateway, n: int) -> None:
    for i in range(n):
        tool = "read_file" if i % 3 else "write_file"
        path = f"/srv/app/{'out/' if tool == 'write_file' else ''}f{i % 7}.txt"
        assert gw.check(Action("coder-1", "s1", tool, {"path": path})).verdict is Verdict.ALLOW


def _probe(gw: Gateway, n: int) -> None:
    targets = ["/etc/shadow", "/root/.ssh/id_rsa", "/var/lib/pg/data", "/home/admin/.aws/credentials", "/opt/k"]
    for i in range(n):
        gw.check(Action("coder-1", "s1", "write_file", {"path": targets[i % 5]}))


def _entries(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    with sqlite3.connect(tmp_path / "audit.db") as db:
        rows = db.execute("SELECT body FROM audit_entries WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
    return [json.loads(b) for (b,) in rows]


def _two_workers_share_the_flag(policy: Path) -> None:
    """Worker A raises the anomaly; B, started before it, holds the agent too; the CLI clears both."""
    with Gateway.from_file(policy, clock=Clock()) as a, Gateway.from_file(policy, clock=Clock()) as b:
        assert b.check(WRITE).verdict is Verdict.ALLOW
        _work(a, 80)
        _probe(a, 10)
        assert [alert.rule_id for alert in list_alerts(str(policy), None)] == ["monitor.anomaly"]
        for gw in (a, b):
            held = gw.check(WRITE)
            assert held.verdict is Verdict.REQUIRE_APPROVAL and held.rule_ids == ("monitor.anomaly",)
            assert gw.check(READ).verdict is Verdict.ALLOW  # reads stay open
        assert main(["alerts", "clear", "coder-1", "--policy", str(policy)]) == 0
        for gw in (a, b):  # no restart: the next call of every running worker reads the cleared flag
            assert gw.check(WRITE).verdict is Verdict.ALLOW
        assert main(["alerts", "clear", "coder-1", "--policy", str(policy)]) == 0  # not flagged: nothing to do


def test_a_flag_is_shared_by_two_gateways_on_one_sqlite_file_and_cleared_for_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_workers_share_the_flag(_policy(tmp_path))
    out = capsys.readouterr().out
    assert "cleared the anomaly flag of coder-1" in out and "coder-1 was not flagged" in out
    assert [e["by"] for e in _entries(tmp_path, "agent_flagged")] == ["monitor"]
    assert [e["was_flagged"] for e in _entries(tmp_path, "agent_flag_cleared")] == [True, False]


def test_a_flag_is_shared_by_two_replicas_on_one_redis(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    # With Redis the allow path checks pauses and windows in one round trip and decides again when they do
    # not hold: that second decision keeps the flag too.
    _two_workers_share_the_flag(_policy(tmp_path, f'store: {{redis: "{redis_url}", prefix: "{redis_prefix}"}}\n'))


def test_a_flag_is_shared_by_replicas_on_redis_and_postgresql(
    tmp_path: Path, redis_url: str, redis_prefix: str, pg_schema: tuple[str, str]
) -> None:
    dsn, schema = pg_schema
    migrate_postgres(dsn, schema)
    store = f'store: {{postgres: "{dsn}", schema: {schema}, redis: "{redis_url}", prefix: "{redis_prefix}"}}\n'
    _two_workers_share_the_flag(_policy(tmp_path, store))


def test_a_flag_that_cannot_be_read_denies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Gateway.from_file(_policy(tmp_path), clock=Clock()) as gw:
        assert gw.check(WRITE).verdict is Verdict.ALLOW

        def unavailable(agent_id: str) -> None:
            raise StoreError("database is locked")

        monkeypatch.setattr(gw.state, "flagged", unavailable)
        for action in (WRITE, READ):
            decision = gw.check(action)
            assert decision.verdict is Verdict.DENY and decision.rule_ids == ("store.unavailable",)


def test_a_flag_an_earlier_version_kept_in_the_monitor_table_still_holds(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    with Gateway.from_file(policy, clock=Clock()) as gw:
        _work(gw, 70)  # the warm-up ends: the model is stored
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("UPDATE monitor_agents SET flagged = 1 WHERE agent_id = 'coder-1'")
    with Gateway.from_file(policy, clock=Clock()) as gw:
        assert gw.check(WRITE).verdict is Verdict.REQUIRE_APPROVAL
        assert gw.state.flagged("coder-1") is not None
    with sqlite3.connect(tmp_path / "audit.db") as db:
        assert db.execute("SELECT flagged FROM monitor_agents").fetchall() == [(0,)]
    assert main(["alerts", "clear", "coder-1", "--policy", str(policy)]) == 0
    with Gateway.from_file(policy, clock=Clock()) as gw:
        assert gw.check(WRITE).verdict is Verdict.ALLOW


FLAG_SCRIPT: list[tuple[str, tuple[object, ...]]] = [
    ("flagged", ("a",)),
    ("flag", ("a", "probing /etc", "monitor.anomaly", 1.0)),
    ("flag", ("a", "again", "monitor.anomaly", 2.0)),  # already flagged: False, the first flag stays
    ("flagged", ("a",)),
    ("flag", ("b", "naïve — ünïcode", "monitor.anomaly", 0.5)),
    ("list_flags", ()),
    ("unflag", ("a",)),
    ("unflag", ("a",)),  # not flagged any more: False
    ("flagged", ("a",)),
    ("list_flags", ()),
]


def test_redis_flags_answer_as_sqlite_flags(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    from warded.store.redis import RedisStateStore  # noqa: PLC0415 - only with Redis
    from warded.store.state import SQLiteStateStore  # noqa: PLC0415

    with SQLiteStateStore(str(tmp_path / "state.db")) as sqlite, RedisStateStore(redis_url, prefix=redis_prefix) as rs:
        for method, args in FLAG_SCRIPT:
            expected = getattr(sqlite, method)(*args)
            assert getattr(rs, method)(*args) == expected, (method, args)
        assert rs.flagged("b") is not None and rs.flagged("b") == sqlite.flagged("b")
        with pytest.raises(StoreError):
            rs.flag("", "why", "monitor.anomaly", 1.0)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_an_agent_pause_is_not_weakened_by_a_session_quarantine(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """The monitor's pause (``on_anomaly: pause``) is agent-wide; a session quarantined before it must not
    turn it into a mere approval for that session."""
    from warded.store.state import ALL_SESSIONS, QUARANTINE  # noqa: PLC0415

    store = ""
    if backend == "redis":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        store = f'store: {{redis: "{url}", prefix: "{prefix}"}}\n'
    with Gateway.from_file(_policy(tmp_path, store), clock=Clock()) as gw:
        gw.state.pause("coder-1", "s1", "a tool output carried injected text", QUARANTINE, 1.0)
        assert gw.check(WRITE).verdict is Verdict.REQUIRE_APPROVAL  # the quarantine alone: approval
        gw.state.pause("coder-1", ALL_SESSIONS, "agent coder-1: probing", "monitor.anomaly", 2.0)
        for session in ("s1", "s2"):
            decision = gw.check(Action("coder-1", session, "write_file", {"path": "/srv/app/out/a.txt"}))
            assert decision.verdict is Verdict.DENY and decision.rule_ids == ("warded.session_paused",), session
        paused = gw.state.paused("coder-1", "s1")
        assert paused is not None and paused.rule_id == "monitor.anomaly"
        assert gw.state.resume("coder-1", ALL_SESSIONS)
        assert gw.check(WRITE).verdict is Verdict.REQUIRE_APPROVAL  # the quarantine is still there
