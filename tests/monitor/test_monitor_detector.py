"""The monitor's statistics, pure: what a call tells it, the baseline, the binomial thresholds, the alerts."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warded.config.monitor import MonitorSpec
from warded.core.types import Decision, Reason, Tier, Verdict
from warded.monitor.detector import _WORDS, MIN_COUNT, SIGNALS, AgentModel, threshold
from warded.monitor.monitor import RULE_ANOMALY, Monitor, gate_flagged
from warded.monitor.signals import MAX_TEXTS, read_call, read_output
from warded.monitor.store import MonitorStore


@pytest.mark.parametrize(
    ("arguments", "dirs", "domains", "recipients"),
    [
        ({"path": "/home/dev/proj/src/app.py"}, ("/home/dev/proj",), (), ()),
        ({"path": "~/.ssh/id_rsa"}, ("~/.ssh",), (), ()),
        ({"path": "../../etc/passwd"}, ("./../../etc",), (), ()),
        ({"file_path": "bill-december-2023.txt"}, (".",), (), ()),
        ({"file_id": "12"}, (), (), ()),  # an id under a file-ish key is not a path
        ({"url": "https://Evil.Example.NET:8443/x?y=1"}, (), ("evil.example.net",), ()),
        ({"url": "www.informations.com"}, (), ("www.informations.com",), ()),
        ({"to": ["Bob@Corp.com"]}, (), ("corp.com",), ("bob@corp.com",)),
        ({"recipient": "DE89370400440532013000"}, (), (), ("DE89370400440532013000",)),
        ({"body": "see https://a.example/x and https://b.example/y"}, (), ("a.example", "b.example"), ()),
        ({"n": 5, "flag": True}, (), (), ()),
    ],
)
def test_read_call_finds_the_places_a_call_touches(
    arguments: dict[str, object], dirs: tuple[str, ...], domains: tuple[str, ...], recipients: tuple[str, ...]
) -> None:
    obs = read_call("a", "s", "tool", arguments, "allow", 1.0)
    assert (obs.dirs, obs.domains, obs.recipients) == (dirs, domains, recipients)
    assert obs.shape == f"tool({','.join(sorted(arguments))})"


def test_read_call_is_bounded_and_says_so() -> None:
    obs = read_call("a", "s", "t", {"items": [f"/d{i}/f" for i in range(MAX_TEXTS * 2)]}, "allow", 0.0)
    assert obs.truncated and len(obs.dirs) == MAX_TEXTS
    deep: object = "/x/y"
    for _ in range(20):
        deep = {"k": deep}
    assert read_call("a", "s", "t", {"d": deep}, "allow", 0.0).truncated


def _binom_tail(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


@given(st.floats(1e-6, 0.5), st.integers(5, 60), st.sampled_from([1e-3, 1e-5, 1e-7]))
def test_threshold_is_the_smallest_count_unlikely_enough(p: float, window: int, alpha: float) -> None:
    k = threshold(p, window, alpha)
    assert k >= MIN_COUNT
    if k <= window:
        assert _binom_tail(k, window, p) < alpha * (1 + 1e-6)
        if k > MIN_COUNT:
            assert _binom_tail(k - 1, window, p) >= alpha * (1 - 1e-6)


def _benign(rng: random.Random) -> tuple[str, dict[str, object], str]:
    tool = rng.choice(["read_file", "list_dir", "run_tests", "write_file"])
    path = f"/home/dev/proj/{rng.choice(['src', 'tests', 'docs'])}/f{rng.randint(1, 50)}.py"
    verdict = "deny" if rng.random() < 0.01 else "allow"
    return tool, {"path": path}, verdict


def _model(baseline: int = 400) -> AgentModel:
    return AgentModel("coder-1", baseline, 20, 1e-7)


def test_ordinary_work_after_the_warm_up_raises_no_alert() -> None:
    rng = random.Random(1)
    model = _model()
    alerts = [model.observe(read_call("coder-1", "s", *_benign(rng), float(i) * 60)) for i in range(5000)]
    assert not model.learning
    assert [a for a in alerts if a is not None] == []


def test_probing_after_the_warm_up_alerts_within_a_window_with_an_explanation() -> None:
    rng = random.Random(2)
    model = _model()
    for i in range(600):
        assert model.observe(read_call("coder-1", "s", *_benign(rng), float(i) * 60)) is None
    probes = ["/etc/shadow", "~/.ssh/id_rsa", "/root/.aws/credentials", "/var/lib/db/x", "/opt/secrets/k"]
    found = None
    for n, path in enumerate(probes * 4, start=1):
        found = model.observe(read_call("coder-1", "s", "write_file", {"path": path}, "deny", 36000.0 + n))
        if found is not None:
            break
    assert found is not None and n <= 6
    assert found.message.startswith("agent coder-1: ")
    assert "directories outside its usual ones" in found.message and "/etc" in found.message
    assert "denied calls" in found.message and "baseline" in found.message
    assert found.signals["new_dir"]["count"] >= MIN_COUNT
    assert found.signals["denied"]["threshold"] >= MIN_COUNT
    # The window restarts after an alert: one episode, one alert.
    assert model.observe(read_call("coder-1", "s", "write_file", {"path": "/etc/x"}, "deny", 37000.0)) is None


def test_a_burst_of_calls_alerts_on_the_rate() -> None:
    rng = random.Random(3)
    model = _model()
    for i in range(600):
        model.observe(read_call("coder-1", "s", *_benign(rng), i * 60.0 + rng.random() * 30))
    at = 600 * 60.0
    alert = None
    for i in range(40):
        alert = model.observe(read_call("coder-1", "s", *_benign(rng), at + i * 0.01)) or alert
    assert alert is not None and "rate" in alert.signals and "faster than its usual" in alert.message


def test_the_model_survives_a_round_trip_through_the_store(tmp_path: Path) -> None:
    rng = random.Random(4)
    spec = MonitorSpec(baseline=100)
    store = MonitorStore(str(tmp_path / "state.db"))
    monitor = Monitor(spec, store)
    for i in range(150):
        tool, args, verdict = _benign(rng)
        monitor.observe(read_call("coder-1", "s", tool, args, verdict, float(i)))
    before = monitor.fingerprint("coder-1")
    monitor.close(200.0)
    again = Monitor(spec, MonitorStore(str(tmp_path / "state.db")))
    after = again.fingerprint("coder-1")
    assert before is not None and after is not None
    assert after["learning"] is False and after["calls"] == 150
    assert after["baseline_per_100_calls"] == before["baseline_per_100_calls"]
    session = again.fingerprint("coder-1", "s")
    assert session is None  # session fingerprints are kept in memory only
    again.close(300.0)


def test_an_unreadable_stored_model_is_learnt_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = MonitorStore(str(tmp_path / "state.db"))
    store.save("coder-1", {"agent_id": "coder-1", "calls": "many"}, 1.0)
    store.close()
    monitor = Monitor(MonitorSpec(baseline=100), MonitorStore(str(tmp_path / "state.db")))
    assert monitor.fingerprint("coder-1") is None
    assert "learning again" in capsys.readouterr().err
    monitor.close(2.0)


def test_the_monitor_keeps_no_flag_and_hands_over_one_an_earlier_version_stored(tmp_path: Path) -> None:
    spec = MonitorSpec(baseline=50, on_anomaly="require_approval")  # type: ignore[arg-type]
    monitor = Monitor(spec, MonitorStore(str(tmp_path / "state.db")))
    for i in range(60):
        monitor.observe(read_call("a", "s", "read", {"path": "/srv/app/x.txt"}, "allow", float(i)))
    found = [
        monitor.observe(read_call("a", "s", "write", {"path": f"/etc/d{i}/x"}, "deny", 100.0 + i)) for i in range(10)
    ]
    assert any(found)  # the anomaly is returned: what it leaves (a flag) is the state store's (gateway/_watch.py)
    monitor.close(200.0)
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT flagged FROM monitor_agents").fetchall() == [(0,)]
        db.execute("UPDATE monitor_agents SET flagged = 1")  # as an earlier version left it
    reopened = Monitor(spec, MonitorStore(str(tmp_path / "state.db")))
    assert reopened.stored_flags == ["a"]
    reopened.forget_stored_flag("a")
    reopened.close(300.0)
    assert Monitor(spec, MonitorStore(str(tmp_path / "state.db"))).stored_flags == []


@pytest.mark.parametrize("tier", [Tier.WRITE, Tier.FINANCIAL, Tier.EXTERNAL])
def test_gate_flagged_asks_a_human_for_non_read_calls_only(tier: Tier) -> None:
    allow = Decision(Verdict.ALLOW, (Reason("policy.grant", "ok"),), tier)
    gated = gate_flagged(allow, flagged=True, approved=False)
    assert gated.verdict is Verdict.REQUIRE_APPROVAL and gated.rule_ids == (RULE_ANOMALY,)
    assert gate_flagged(allow, flagged=True, approved=True) is allow
    assert gate_flagged(allow, flagged=False, approved=False) is allow
    read = Decision(Verdict.ALLOW, (), Tier.READ)
    assert gate_flagged(read, flagged=True, approved=False) is read
    deny = Decision(Verdict.DENY, (Reason("x", "no"),), tier)
    assert gate_flagged(deny, flagged=True, approved=False) is deny


def test_every_signal_has_words() -> None:
    assert set(_WORDS) == set(SIGNALS)


def test_model_completions_that_start_refusing_or_violating_are_alerted() -> None:
    rng = random.Random(6)
    model = _model()
    for i in range(600):
        if i % 3:
            model.observe(read_call("coder-1", "s", *_benign(rng), float(i) * 60))
        else:
            model.observe(read_output("coder-1", "s", float(i) * 60, False, 0, False))
    found = None
    for n in range(1, 20):
        found = model.observe(read_output("coder-1", "s", 40000.0 + n, True, 1, n % 2 == 0))
        if found is not None:
            break
    assert found is not None and n <= 5
    assert "model completions that refused" in found.message
    assert found.signals["refusal"]["count"] >= MIN_COUNT
