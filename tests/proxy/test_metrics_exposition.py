"""``/metrics`` is written by prometheus_client: the same metric names as before, every family declared, the
workers' snapshots summed, and the text parses back with prometheus_client's own parser."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from warded.proxy._metrics import DECIDE_BUCKETS, Metrics


def test_two_workers_are_summed_and_the_exposition_parses(tmp_path: Path) -> None:
    db = str(tmp_path / "metrics.db")
    a, b = Metrics(db), Metrics(db)
    try:
        a.inc("warded_decisions_total", (("verdict", "allow"),), 2)
        b.inc("warded_decisions_total", (("verdict", "allow"),))
        b.inc("warded_decisions_total", (("verdict", "deny"),))
        a.observe("warded_decide_seconds", 0.0007)
        b.observe("warded_decide_seconds", 0.3)
        b.flush()
        families = {f.name: f for f in text_string_to_metric_families(a.render())}
    finally:
        a.close()
        b.close()
    assert {"warded_api_requests", "warded_api_auth_failures", "warded_decisions", "warded_results"} <= set(families)
    decisions = {s.labels["verdict"]: s.value for s in families["warded_decisions"].samples}
    assert decisions == {"allow": 3.0, "deny": 1.0}
    hist = families["warded_decide_seconds"]
    assert hist.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in hist.samples if s.name.endswith("_bucket")}
    assert len(buckets) == len(DECIDE_BUCKETS) + 1
    assert buckets["0.001"] == 1.0 and buckets["1.0"] == 2.0
    assert buckets["+Inf"] == 2.0
    count = next(s.value for s in hist.samples if s.name == "warded_decide_seconds_count")
    assert count == 2.0


def test_an_empty_exposition_declares_every_family_with_zeros(tmp_path: Path) -> None:
    metrics = Metrics(str(tmp_path / "m.db"))
    try:
        text = metrics.render()
    finally:
        metrics.close()
    assert "# TYPE warded_decisions_total counter" in text
    assert 'warded_decide_seconds_bucket{le="+Inf"} 0.0' in text
