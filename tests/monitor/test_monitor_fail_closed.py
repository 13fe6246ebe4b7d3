"""An anomaly is never lost to a failure: when its flag, pause or alert, or the monitor's own state, cannot be
recorded, the call is a DENY (``monitor.unrecorded``) with a ``monitor_error`` entry, and the agent is held
by this worker until the anomaly is recorded. Failures are injected into the real stores."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from warded.core.types import Action, Decision, Verdict
from warded.errors import AuditError, StoreError
from warded.gateway import _watch
from warded.gateway.gateway import Gateway

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
audit: {path: audit.db, key: audit.key}
scan: {enabled: false}
monitor: {baseline: 60, window: 20, on_anomaly: %s}
"""

WRITE = Action("coder-1", "s1", "write_file", {"path": "/srv/app/out/a.txt"})
READ = Action("coder-1", "s1", "read_file", {"path": "/srv/app/a.txt"})


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 60.0
        return self.now


def _gateway(tmp_path: Path, on_anomaly: str) -> Gateway:
    (tmp_path / "warded.yaml").write_text(POLICY % on_anomaly, encoding="utf-8")
    gw = Gateway.from_file(tmp_path / "warded.yaml", clock=Clock())
    for i in range(80):  # the warm-up: reads and writes in the agent's two usual directories
        tool = "read_file" if i % 3 else "write_file"
        path = f"/srv/app/{'out/' if tool == 'write_file' else ''}f{i % 7}.txt"
        assert gw.check(Action("coder-1", "s1", tool, {"path": path})).verdict is Verdict.ALLOW
    return gw


def _explore(gw: Gateway) -> list[Decision]:
    """Allowed reads, each in a directory the agent never used: the anomaly comes on an allowed call."""
    return [gw.check(Action("coder-1", "s1", "read_file", {"path": f"/srv/app/new{i}/x.txt"})) for i in range(8)]


def _entries(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    with sqlite3.connect(tmp_path / "audit.db") as db:
        rows = db.execute("SELECT body FROM audit_entries WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
    return [json.loads(b) for (b,) in rows]


def _failing(error: Exception) -> Callable[..., Any]:
    def fail(*args: object, **kwargs: object) -> Any:
        raise error

    return fail


def test_without_a_failure_the_anomaly_comes_on_an_allowed_call_and_the_decision_names_its_alert(
    tmp_path: Path,
) -> None:
    with _gateway(tmp_path, "alert") as gw:
        assert {d.verdict for d in _explore(gw)} == {Verdict.ALLOW}
    (alert,) = _entries(tmp_path, "alert")
    assert "directories outside its usual ones" in alert["message"]
    with sqlite3.connect(tmp_path / "audit.db") as db:
        (seq,) = db.execute("SELECT seq FROM audit_entries WHERE kind = 'alert'").fetchone()
        bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM audit_entries WHERE kind = 'decision'")]
    assert [b for b in bodies if b.get("monitor_alert") == seq]  # the decision that completed the anomaly


@pytest.mark.parametrize(("on_anomaly", "method"), [("require_approval", "flag"), ("pause", "pause")])
def test_a_flag_or_pause_that_cannot_be_stored_denies_and_holds_the_agent_until_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_anomaly: str, method: str
) -> None:
    with _gateway(tmp_path, on_anomaly) as gw:
        monkeypatch.setattr(gw.state, method, _failing(StoreError("database is locked")))
        decisions = _explore(gw)
        unrecorded = [d for d in decisions if d.rule_ids == ("monitor.unrecorded",)]
        assert len(unrecorded) == len(decisions) - decisions.index(unrecorded[0])  # held from the anomaly on
        assert {d.verdict for d in unrecorded} == {Verdict.DENY}
        for action in (READ, WRITE):  # every call of the agent, reads too, while it cannot be stored
            assert gw.check(action).rule_ids == ("monitor.unrecorded",)
        # visible: the alert went to the audit log even so, and the failure is recorded
        assert len(_entries(tmp_path, "alert")) == 1
        assert any("database is locked" in e["error"] for e in _entries(tmp_path, "monitor_error"))
        monkeypatch.undo()  # the store is back: the next call records the flag or pause, once
        if on_anomaly == "require_approval":
            assert gw.check(WRITE).verdict is Verdict.REQUIRE_APPROVAL
            assert gw.check(READ).verdict is Verdict.ALLOW
            assert len(_entries(tmp_path, "agent_flagged")) == 1
        else:
            assert gw.check(WRITE).verdict is Verdict.DENY  # paused (reads stay open under a pause)
            assert gw.state.paused("coder-1", "s1") is not None
            assert [e["by"] for e in _entries(tmp_path, "session_paused")] == ["monitor"]
    assert len(_entries(tmp_path, "alert")) == 1  # never twice


def test_an_alert_that_cannot_be_written_denies_until_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _gateway(tmp_path, "alert") as gw:
        append = gw.audit.append

        def no_alerts(kind: str, body: Any) -> Any:
            if kind == "alert":
                raise AuditError("disk full")
            return append(kind, body)

        monkeypatch.setattr(gw.audit, "append", no_alerts)
        decisions = _explore(gw)
        assert decisions[-1].verdict is Verdict.DENY and decisions[-1].rule_ids == ("monitor.unrecorded",)
        assert _entries(tmp_path, "alert") == []
        assert any("disk full" in e["error"] for e in _entries(tmp_path, "monitor_error"))
        monkeypatch.undo()
        assert gw.check(WRITE).verdict is Verdict.ALLOW  # the alert is written first, then the call goes on
    assert len(_entries(tmp_path, "alert")) == 1


def test_an_unsaved_model_loses_no_anomaly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _gateway(tmp_path, "require_approval") as gw:
        assert gw.monitor is not None
        monkeypatch.setattr(gw.monitor._store, "save", _failing(StoreError("no space left")))
        decisions = _explore(gw)
        assert decisions[-1].rule_ids == ("monitor.unrecorded",)  # the model was not saved: denied
        assert len(_entries(tmp_path, "alert")) == 1 and gw.state.flagged("coder-1") is not None
        monkeypatch.undo()
        assert gw.check(WRITE).verdict is Verdict.REQUIRE_APPROVAL  # the flag the anomaly left holds


@pytest.mark.parametrize("where", ["observe", "read_call"])
def test_a_monitor_that_fails_denies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    with _gateway(tmp_path, "alert") as gw:
        assert gw.monitor is not None
        if where == "observe":
            monkeypatch.setattr(gw.monitor, "observe", _failing(RuntimeError("detector bug")))
        else:
            monkeypatch.setattr(_watch, "read_call", _failing(RecursionError("deep arguments")))
        decision = gw.check(READ)
        assert decision.verdict is Verdict.DENY and decision.rule_ids == ("monitor.unrecorded",)
        assert _entries(tmp_path, "monitor_error")
        denied = gw.check(Action("coder-1", "s1", "write_file", {"path": "/etc/passwd"}))
        assert denied.rule_ids != ("monitor.unrecorded",)  # a DENY keeps its own reasons
        monkeypatch.undo()
        assert gw.check(READ).verdict is Verdict.ALLOW


def test_an_anomaly_from_model_completions_that_cannot_be_recorded_holds_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _gateway(tmp_path, "require_approval") as gw:
        monkeypatch.setattr(gw.state, "flag", _failing(StoreError("database is locked")))
        for _ in range(12):  # completions that refuse: the relayed text was already delivered
            gw.observe_output("coder-1", "s1", refused=True, findings=0, blocked=False)
        assert len(_entries(tmp_path, "alert")) == 1
        assert gw.check(READ).rule_ids == ("monitor.unrecorded",)
        monkeypatch.undo()
        assert gw.check(WRITE).verdict is Verdict.REQUIRE_APPROVAL


def _verify(tmp_path: Path) -> None:
    from warded import ops  # noqa: PLC0415

    report = ops.verify_log(str(tmp_path / "audit.db"), [str(tmp_path / "audit.key.pub")], expect_stopped=True)
    assert report.entries > 0


def test_an_unreadable_stored_baseline_is_an_alert_after_the_start_entry(tmp_path: Path) -> None:
    _gateway(tmp_path, "alert").close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute('UPDATE monitor_agents SET model = \'{"agent_id": "coder-1", "calls": "many"}\'')
    with Gateway.from_file(tmp_path / "warded.yaml", clock=Clock()) as gw:
        assert gw.check(READ).verdict is Verdict.ALLOW
    with sqlite3.connect(tmp_path / "audit.db") as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM audit_entries ORDER BY seq")]
    (alert,) = _entries(tmp_path, "alert")
    assert alert["rule_id"] == "monitor.baseline_unreadable" and "no anomaly is alerted" in alert["message"]
    second_start = [i for i, k in enumerate(kinds) if k == "gateway_started"][1]
    assert kinds.index("alert") > second_start
    _verify(tmp_path)


def test_a_flag_adopted_at_start_and_a_failed_save_at_shutdown_are_on_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gateway(tmp_path, "require_approval").close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("UPDATE monitor_agents SET flagged = 1")  # as an earlier version left it
    gw = Gateway.from_file(tmp_path / "warded.yaml", clock=Clock())
    assert gw.check(WRITE).verdict is Verdict.REQUIRE_APPROVAL
    assert gw.monitor is not None
    monkeypatch.setattr(gw.monitor._store, "save", _failing(StoreError("no space left")))
    gw.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM audit_entries ORDER BY seq")]
    second_start = [i for i, k in enumerate(kinds) if k == "gateway_started"][1]
    assert second_start < kinds.index("agent_flagged")  # after the start entry that declares the schedule
    assert second_start < kinds.index("monitor_error") < len(kinds) - 1 - kinds[::-1].index("gateway_stopped")
    assert "no space left" in _entries(tmp_path, "monitor_error")[-1]["error"]
    _verify(tmp_path)
