"""Shared SQLite windows: ``reserve`` checks and records in one write transaction, so workers never
overshoot a limit or a budget (issue 8, item 15)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest

from warded.core.windows import Claim, SlidingWindows
from warded.errors import StoreError
from warded.store.windows import SQLiteWindows

BURST = Claim(("burst", ("a", "s1")), 60.0, 2.0)
SPEND = Claim(("spend", ("a",)), 60.0, 10.0, amount=6.0, counted=False)


def test_reserve_matches_the_in_memory_windows(tmp_path: Path) -> None:
    mem = SlidingWindows()
    with SQLiteWindows(str(tmp_path / "w.db")) as db, SQLiteWindows(str(tmp_path / "w.db")) as other:
        steps: list[tuple[list[Claim], float]] = [
            ([BURST, SPEND], 1.0),
            ([BURST, SPEND], 2.0),
            ([BURST], 3.0),
            ([BURST], 4.0),
            ([SPEND], 5.0),
            ([BURST, SPEND], 70.0),
            ([], 80.0),
        ]
        for claims, now in steps:
            assert db.reserve(claims, now) == mem.reserve(claims, now), (claims, now)
            for claim in (BURST, SPEND):
                assert other.count(claim.key, 60.0, now) == mem.count(claim.key, 60.0, now)
                assert other.total(claim.key, 60.0, now) == mem.total(claim.key, 60.0, now)


@pytest.mark.parametrize(
    "claim",
    [
        pytest.param(Claim(("k",), 0.0, 1.0), id="zero-window"),
        pytest.param(Claim(("k",), float("nan"), 1.0), id="nan-window"),
        pytest.param(Claim(("k",), 1.0, float("inf")), id="infinite-cap"),
        pytest.param(Claim(("k",), 1.0, 1.0, float("nan"), counted=False), id="nan-amount"),
        pytest.param(Claim("not-a-tuple", 1.0, 1.0), id="bad-key"),
    ],
)
def test_reserve_refuses_bad_claims(tmp_path: Path, claim: Claim) -> None:
    with SQLiteWindows(str(tmp_path / "w.db")) as db, pytest.raises(StoreError):
        db.reserve([claim], 1.0)


WORKERS = 4
ATTEMPTS = 60
CAP = 25


def _hammer(path: str, barrier: Any, out: Any) -> None:
    with SQLiteWindows(path) as db:
        barrier.wait(timeout=60)
        taken = sum(db.reserve([Claim(("burst", ("a",)), 3600.0, float(CAP))], 100.0) is None for _ in range(ATTEMPTS))
    out.put(taken)


def test_processes_hammering_one_window_never_exceed_its_cap(tmp_path: Path) -> None:
    path = str(tmp_path / "w.db")
    SQLiteWindows(path).close()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    out: Any = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(path, barrier, out), daemon=True) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    try:
        taken = sum(out.get(timeout=120) for _ in procs)
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
    assert taken == CAP
    with SQLiteWindows(path) as db:
        assert db.count(("burst", ("a",)), 3600.0, 100.0) == CAP
