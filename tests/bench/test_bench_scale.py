"""`warded bench scale` on the real services, with one replica and a tiny count (figures are not asserted)."""

from __future__ import annotations

import pytest

from warded.bench.scale import LIMIT, ScaleBenchError, run_scale_bench
from warded.cli import main


def test_one_replica_keeps_the_limit_and_reports_every_key(shared_services: tuple[str, str]) -> None:
    postgres, redis_url = shared_services
    result = run_scale_bench([1], requests=200, concurrency=2, postgres=postgres, redis_url=redis_url)
    (row,) = result["replicas"]
    assert set(row) >= {"n", "decisions_per_s", "p50_ms", "p99_ms", "round_trips_per_allow"}
    assert row["n"] == 1 and row["decisions_per_s"] > 0
    # Counted on the wire: one PostgreSQL statement and one Redis script per ALLOW (an occasional checkpoint
    # signature falls in the counted window too).
    assert row["round_trips_per_allow_postgres"] >= 1.0 and row["round_trips_per_allow_redis"] >= 1.0
    assert row["round_trips_per_allow"] <= 2.1
    assert result["sqlite_decisions_per_s"] > 0
    assert result["limit_violations"] == 0
    # The workload crosses the limit, so the check above means something.
    assert row["outcomes"].get("deny", 0) > 0, f"the limit of {LIMIT} per session never bound: {row['outcomes']}"


def test_bad_replica_counts_are_refused() -> None:
    with pytest.raises(ScaleBenchError):
        run_scale_bench([0])
    assert main(["bench", "scale", "--replicas", "1,x"]) == 2
