"""``warded bench monitor`` on a small sample: the same code as ``make bench-monitor``, fewer calls."""

from __future__ import annotations

import pytest

pytest.importorskip("agentdojo")

from warded.bench import monitor as bench


def test_small_monitor_bench_reports_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "BENIGN_BEFORE_PROBES", 300)
    result = bench.run_monitor_bench(seeds=1, benign=200, baseline=200, suites=("banking",))
    for key in (
        "detection_delay_calls_p50",
        "detection_delay_calls_max",
        "false_alerts_per_10k",
        "monitor_added_us_p50",
    ):
        assert key in result
    runs = result["runs"]
    assert [r["kind"] for r in runs] == ["probing", "probing (own tools only)", "benign-only"]
    assert runs[0]["detection_delay_calls"] <= bench.MAX_PROBE_CALLS
    assert runs[0]["first_alert"] != "MISSED" and runs[0]["first_alert"].startswith("agent banking-agent: ")
    assert runs[1]["first_alert"] != "MISSED"
    assert runs[2]["benign_calls_monitored"] == 200
    assert (
        result["benign_calls_monitored"] == runs[0]["benign_calls_monitored"] + runs[1]["benign_calls_monitored"] + 200
    )
    assert result["monitor_added_us_p50"] > 0
    # Probes really were refused by the suite's policy (the gateway decided them).
    assert runs[0]["verdicts"].get("deny", 0) > 0
