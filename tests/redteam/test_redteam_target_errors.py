"""Errors are not passes: a run whose target fails (down, refusing, answering garbage) is reported as errors,
the gate and ``warded serve --require-redteam`` refuse it, and the exit code is not 0 (review finding M2)."""

from __future__ import annotations

import json
import socket
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from redteam_policy import write

from warded.cli import main
from warded.errors import WardedError
from warded.policy.compile import load_policy
from warded.redteam import gate
from warded.redteam.command import summary
from warded.redteam.families.audit import _verify_command
from warded.redteam.model import Plan, PlanStats
from warded.redteam.reports import render_junit
from warded.redteam.runner import run_plan
from warded.redteam.targets import HttpTarget, TargetError


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = write(tmp_path_factory.mktemp("down"))
    return path


def _run(policy: Path, url: str, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    args = ["redteam", str(policy), "--target", url, "--api-key", "bot=k", "--budget", "40", "--out", str(out)]
    code = main([*args, *extra])
    report: dict[str, Any] = json.loads(out.read_text())
    return code, report


def test_a_target_that_is_down_is_an_incomplete_run_not_a_pass(policy: Path, tmp_path: Path) -> None:
    code, report = _run(policy, f"http://127.0.0.1:{_closed_port()}", tmp_path / "r.json")
    assert code == gate.EXIT_INCOMPLETE
    assert report["errors"] > 0
    assert report["bypasses"] == []  # nothing got through, and nothing was shown to hold either
    verdict = gate.judge(report, "any")
    assert verdict.code == gate.EXIT_INCOMPLETE
    assert any("failed at the target" in r for r in verdict.reasons)
    with pytest.raises(WardedError, match="incomplete"):
        gate.require_clean(str(tmp_path / "r.json"), str(policy), load_policy(policy).digest)
    # `warded serve --require-redteam` refuses before it binds anything
    assert main(["serve", "--policy", str(policy), "--require-redteam", str(tmp_path / "r.json")]) == 2
    # the JUnit report shows errors, not a green run
    root = ET.fromstring(render_junit(report).split("\n", 1)[1])
    assert int(root.get("errors", "0")) > 0 and root.find(".//error") is not None
    assert "ERRORS:" in summary(report)


def test_every_attempt_against_a_closed_port_raises() -> None:
    target = HttpTarget(f"http://127.0.0.1:{_closed_port()}", {"bot": "k"}, timeout_s=30.0)
    try:
        with pytest.raises(TargetError, match="did not answer"):
            target.decide("bot", "s", "read_file", {"path": "a"})
        with pytest.raises(TargetError, match="did not answer"):
            target.result_delivered("bot", "s", "read_doc", "text")
        with pytest.raises(TargetError, match="no --api-key"):
            target.decide("someone-else", "s", "read_file", {"path": "a"})
    finally:
        target.close()


class _Answers(BaseHTTPRequestHandler):
    """A fake decision API: answers every POST with the status and body the test sets."""

    status = 200
    body = b"{}"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def fake_api() -> Iterator[tuple[str, type[_Answers]]]:
    handler = type("Handler", (_Answers,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, b'{"verdict": "allow"}', "allow"),
        (200, b'{"verdict": "deny"}', "deny"),
        (400, b'{"error": {"code": "request.bad_field"}}', "refused"),  # the API refused the case itself: held
        (413, b'{"error": {"code": "request.too_large"}}', "refused"),
        (200, b"not json", TargetError),
        (200, b'{"no": "verdict"}', TargetError),
        (401, b'{"error": {"code": "auth.unknown_key"}}', TargetError),  # a wrong key tests nothing
        (403, b'{"error": {"code": "auth.wrong_agent"}}', TargetError),
        (404, b"{}", TargetError),
        (429, b"{}", TargetError),
        (500, b"{}", TargetError),
        (503, b"{}", TargetError),
    ],
)
def test_what_the_http_target_makes_of_each_answer(
    fake_api: tuple[str, type[_Answers]], status: int, body: bytes, outcome: str | type[Exception]
) -> None:
    url, handler = fake_api
    handler.status, handler.body = status, body
    target = HttpTarget(url, {"bot": "k"}, timeout_s=30.0)
    try:
        if isinstance(outcome, str):
            assert target.decide("bot", "s", "read_file", {"path": "a"}) == outcome
        else:
            with pytest.raises(outcome):
                target.decide("bot", "s", "read_file", {"path": "a"})
    finally:
        target.close()


def test_a_server_error_on_every_case_is_counted_as_errors(
    fake_api: tuple[str, type[_Answers]], policy: Path, tmp_path: Path
) -> None:
    url, handler = fake_api
    handler.status, handler.body = 500, b"{}"
    code, report = _run(policy, url, tmp_path / "r.json", "--family", "cedar")
    assert code == gate.EXIT_INCOMPLETE
    assert report["errors"] > 0


def _report(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "tool": "warded-redteam",
        "cases": 10,
        "errors": 0,
        "planned": {"plans": 1, "cases": 10},
        "plans": [{"key": "sql:bot:run_sql:query", "cases": 10, "errors": 0, "budget": 10, "completed": True}],
        "bypasses": [],
        "by_family": {"sql": {"cases": 10, "attacks": 9, "successes": 0, "errors": 0, "success_rate": 0.0}},
        "skipped": [],
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        (_report(errors=3), "failed at the target"),
        (_report(planned={"plans": 2, "cases": 20}), "1 of 2 planned"),
        (_report(plans=[{"key": "k", "cases": 4, "errors": 0, "budget": 10, "completed": False}]), "did not finish"),
        (_report(cases=0, plans=[], planned={"plans": 0, "cases": 0}), "no case"),
        ({k: v for k, v in _report().items() if k != "planned"}, "does not say"),
        ({k: v for k, v in _report().items() if k != "errors"}, "does not say"),
    ],
)
def test_the_gate_refuses_a_report_with_errors_or_missing_attempts(report: dict[str, Any], reason: str) -> None:
    verdict = gate.judge(report, "any")
    assert verdict.code == gate.EXIT_INCOMPLETE
    assert any(reason in r for r in verdict.reasons), verdict.reasons
    assert gate.judge(_report(), "any").code == gate.EXIT_PASS


def _plan(oracle: Any, attempt: Any) -> Plan:
    return Plan("sql", "bypass", "bot", "run_sql", "query", None, st.integers(0, 50), oracle, attempt, str)


def _always(value: object) -> bool:
    return True


def _target_down(value: object) -> bool:
    raise TargetError("the target did not answer")


def _oracle_broken(value: object) -> bool:
    raise ValueError("the oracle broke")


@pytest.mark.parametrize(("oracle", "attempt"), [(_always, _target_down), (_oracle_broken, _always)])
def test_an_attempt_that_raises_is_an_error_not_an_attack_and_not_a_pass(oracle: Any, attempt: Any) -> None:
    stats = PlanStats("sql", "bypass", "k")
    found = run_plan(_plan(oracle, attempt), 20, 0, stats, tick=lambda: None, deadline=None)
    assert found is None and stats.cases > 0
    assert stats.errors == stats.cases and stats.attacks == 0


@pytest.mark.parametrize(("code", "accepted"), [(0, True), (1, False), (2, TargetError), (70, TargetError)])
def test_the_verify_command_s_exit_code(code: int, accepted: bool | type[Exception]) -> None:
    command = f"{sys.executable} -c 'import sys; sys.exit({code})' {{db}} {{pub}}"
    if isinstance(accepted, bool):
        assert _verify_command(command, "a.db", "a.pub") is accepted
    else:
        with pytest.raises(accepted, match=f"exited {code}"):
            _verify_command(command, "a.db", "a.pub")


def test_a_report_that_cannot_be_written_is_an_incomplete_run(policy: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the report's folder should be")
    args = ["redteam", str(policy), "--family", "cedar", "--budget", "5", "--junit", str(blocker / "r.xml")]
    assert main(args) == gate.EXIT_INCOMPLETE
