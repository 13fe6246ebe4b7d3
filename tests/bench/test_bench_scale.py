"""`warded bench scale` on the real services, with one replica and a tiny count (figures are not asserted)."""

from __future__ import annotations

import os
import socket

import pytest

from warded.bench.scale import LIMIT, ScaleBenchError, run_scale_bench
from warded.cli import main

POSTGRES_DSN = os.environ.get("WARDED_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WARDED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_service(name: str, host: str, port: int) -> None:
    """Skip without the service, or fail when WARDED_REQUIRE_SERVICES=1 (as tests/services.py does)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return
    except OSError:
        pass
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("WARDED_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (WARDED_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def test_one_replica_keeps_the_limit_and_reports_every_key() -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", "127.0.0.1", 6379)
    result = run_scale_bench([1], requests=200, concurrency=2, postgres=POSTGRES_DSN, redis_url=REDIS_URL)
    (row,) = result["replicas"]
    assert set(row) >= {"n", "decisions_per_s", "p50_ms", "p99_ms", "round_trips_per_allow"}
    assert row["n"] == 1 and row["decisions_per_s"] > 0
    assert result["sqlite_decisions_per_s"] > 0
    assert result["limit_violations"] == 0
    # The workload crosses the limit, so the check above means something.
    assert row["outcomes"].get("deny", 0) > 0, f"the limit of {LIMIT} per session never bound: {row['outcomes']}"


def test_bad_replica_counts_are_refused() -> None:
    with pytest.raises(ScaleBenchError):
        run_scale_bench([0])
    assert main(["bench", "scale", "--replicas", "1,x"]) == 2
