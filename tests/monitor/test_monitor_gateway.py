"""The monitor inside the gateway: alerts in the audit log, to a webhook and to OpenTelemetry; the
``on_anomaly`` actions; ``warded alerts list``; telemetry spans per decision."""

from __future__ import annotations

import http.server
import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from warded.cli import main
from warded.config.monitor import TelemetrySpec
from warded.core.types import Action, Verdict
from warded.gateway.gateway import Gateway
from warded.telemetry import DISABLED, start_telemetry

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
monitor: {baseline: 60, window: 20, on_anomaly: %s %s}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 60.0
        return self.now


def _gateway(tmp_path: Path, on_anomaly: str = "alert", extra: str = "") -> Gateway:
    (tmp_path / "warded.yaml").write_text(POLICY % (on_anomaly, extra), encoding="utf-8")
    return Gateway.from_file(tmp_path / "warded.yaml", clock=Clock())


def _work(gw: Gateway, n: int) -> None:
    for i in range(n):
        tool = "read_file" if i % 3 else "write_file"
        path = f"/srv/app/{'out/' if tool == 'write_file' else ''}f{i % 7}.txt"
        assert gw.check(Action("coder-1", "s1", tool, {"path": path})).verdict is Verdict.ALLOW


def _probe(gw: Gateway, n: int) -> list[Verdict]:
    targets = ["/etc/shadow", "/root/.ssh/id_rsa", "/var/lib/pg/data", "/home/admin/.aws/credentials", "/opt/k"]
    return [gw.check(Action("coder-1", "s1", "write_file", {"path": targets[i % 5]})).verdict for i in range(n)]


def _entries(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    with sqlite3.connect(tmp_path / "audit.db") as db:
        rows = db.execute("SELECT body FROM audit_entries WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
    return [json.loads(b) for (b,) in rows]


def test_probing_is_alerted_in_the_audit_log_and_listed_with_its_explanation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _gateway(tmp_path) as gw:
        _work(gw, 80)
        assert _entries(tmp_path, "alert") == []
        assert set(_probe(gw, 10)) == {Verdict.DENY}
        fingerprint = gw.monitor.fingerprint("coder-1") if gw.monitor else None
    alerts = _entries(tmp_path, "alert")
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["rule_id"] == "monitor.anomaly" and alert["agent_id"] == "coder-1"
    assert "denied calls" in alert["message"] and "directories outside its usual ones" in alert["message"]
    assert alert["signals"]["denied"]["count"] >= 3
    assert fingerprint is not None and fingerprint["alerts"] == 1 and fingerprint["learning"] is False
    assert main(["alerts", "list", "--policy", str(tmp_path / "warded.yaml")]) == 0
    out = capsys.readouterr().out
    assert "[monitor.anomaly]  coder-1: agent coder-1: " in out and "/etc" in out


def test_require_approval_then_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _gateway(tmp_path, "require_approval") as gw:
        _work(gw, 80)
        _probe(gw, 10)
        write = Action("coder-1", "s1", "write_file", {"path": "/srv/app/out/a.txt"})
        decision = gw.check(write)
        assert decision.verdict is Verdict.REQUIRE_APPROVAL and decision.rule_ids == ("monitor.anomaly",)
        read = Action("coder-1", "s1", "read_file", {"path": "/srv/app/a.txt"})
        assert gw.check(read).verdict is Verdict.ALLOW  # reads stay open
    assert main(["alerts", "clear", "coder-1", "--policy", str(tmp_path / "warded.yaml")]) == 0
    assert "cleared" in capsys.readouterr().out
    with Gateway.from_file(tmp_path / "warded.yaml", clock=Clock()) as gw:
        assert gw.check(write).verdict is Verdict.ALLOW


def test_pause_pauses_every_session_of_the_agent(tmp_path: Path) -> None:
    with _gateway(tmp_path, "pause") as gw:
        _work(gw, 80)
        _probe(gw, 10)
        other = gw.check(Action("coder-1", "s2", "write_file", {"path": "/srv/app/out/a.txt"}))
        assert other.verdict is Verdict.DENY
    paused = _entries(tmp_path, "session_paused")
    assert paused and paused[0]["by"] == "monitor" and paused[0]["rule_id"] == "monitor.anomaly"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"auth": self.headers.get("Authorization"), **json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_alerts_reach_the_webhook(tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = webhook
    with _gateway(tmp_path, "alert", f", webhook: {url}, webhook_headers: {{Authorization: Bearer t0k}}") as gw:
        _work(gw, 80)
        _probe(gw, 10)
    # close() delivers what is queued before it returns
    assert len(received) == 1
    assert received[0]["rule_id"] == "monitor.anomaly" and received[0]["auth"] == "Bearer t0k"


def test_a_dead_webhook_loses_nothing_from_the_audit_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with _gateway(tmp_path, "alert", f", webhook: 'http://127.0.0.1:{port}/hook'") as gw:
        _work(gw, 80)
        assert set(_probe(gw, 10)) == {Verdict.DENY}
    assert len(_entries(tmp_path, "alert")) == 1
    assert "alert webhook" in capsys.readouterr().err


def test_a_failing_monitor_store_is_recorded_and_denies(tmp_path: Path) -> None:
    with _gateway(tmp_path) as gw:
        _work(gw, 59)
        with sqlite3.connect(tmp_path / "audit.db") as db:
            db.execute("DROP TABLE monitor_agents")
        # The 60th call ends the warm-up and saves the model: the save fails, and the call is denied.
        read = Action("coder-1", "s1", "read_file", {"path": "/srv/app/a.txt"})
        decision = gw.check(read)
        assert decision.verdict is Verdict.DENY and decision.rule_ids == ("monitor.unrecorded",)
        assert gw.check(read).verdict is Verdict.DENY  # the save is tried again on the next call, and fails
        with sqlite3.connect(tmp_path / "audit.db") as db:  # the table is back (as at start)
            db.execute(
                "CREATE TABLE monitor_agents (agent_id TEXT PRIMARY KEY, updated_at REAL NOT NULL, "
                "flagged INTEGER NOT NULL DEFAULT 0, model TEXT NOT NULL)"
            )
        assert gw.check(read).verdict is Verdict.ALLOW
    errors = _entries(tmp_path, "monitor_error")
    assert len(errors) == 2 and "monitor state" in errors[0]["error"]


def test_telemetry_spans_metrics_and_alert_logs(tmp_path: Path) -> None:
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = start_telemetry(
        TelemetrySpec(enabled=True), span_exporter=spans, metric_reader=reader, log_exporter=logs
    )
    (tmp_path / "warded.yaml").write_text(POLICY % ("alert", ""), encoding="utf-8")
    base = Gateway.from_file(tmp_path / "warded.yaml", clock=Clock())
    gw = Gateway(base.policy, base.audit, base.state, clock=Clock(), monitor=base.monitor, telemetry=telemetry)
    try:
        _work(gw, 80)
        _probe(gw, 10)
        telemetry.flush()
        decide = [s for s in spans.get_finished_spans() if s.name == "warded.decide"]
        assert len(decide) == 90
        attrs = dict(decide[-1].attributes or {})
        assert attrs["gen_ai.operation.name"] == "execute_tool" and attrs["gen_ai.tool.name"] == "write_file"
        assert attrs["gen_ai.agent.id"] == "coder-1" and attrs["warded.verdict"] == "deny"
        assert [s for s in spans.get_finished_spans() if s.name == "warded.scan"]
        records = [r.log_record for r in logs.get_finished_logs()]
        assert len(records) == 1 and "agent coder-1" in str(records[0].body)
        assert dict(records[0].attributes or {})["warded.rule_id"] == "monitor.anomaly"
        data = reader.get_metrics_data()
        assert data is not None
        names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        assert {"warded.alerts", "warded.decisions", "warded.decision.duration"} <= names
    finally:
        gw.close()
        base.close()


def test_telemetry_is_off_by_default(tmp_path: Path) -> None:
    assert start_telemetry(TelemetrySpec()) is DISABLED
    with _gateway(tmp_path) as gw:
        assert gw.telemetry is DISABLED
