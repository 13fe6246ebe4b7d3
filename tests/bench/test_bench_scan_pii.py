"""``warded.bench.scan_pii`` on small samples: the data readers, the scoring, and each system (warded,
Presidio, detect-secrets) run end to end. The full run is ``make bench-scan``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warded.bench.scan_pii import (
    Sample,
    benign_lines,
    detect_secrets_peer,
    faker_samples,
    load_synth,
    pii_secrets_sizes,
    presidio_predictor,
    run_pii_secrets_bench,
    score_pii,
    score_secrets,
    secret_cases,
    warded_predictor,
    warded_secrets,
)

SYNTH = [
    {
        "full_text": "Call Ana Lopez on 07700 063 966 or write to ana@example.org.",
        "masked": "",
        "spans": [
            {"entity_type": "PERSON", "entity_value": "Ana Lopez", "start_position": 5, "end_position": 14},
            {"entity_type": "PHONE_NUMBER", "entity_value": "07700 063 966", "start_position": 18, "end_position": 31},
            {"entity_type": "EMAIL_ADDRESS", "entity_value": "ana@example.org", "start_position": 44, "end_position": 59},
            {"entity_type": "ORGANIZATION", "entity_value": "x", "start_position": 0, "end_position": 1},
        ],
    },
    {"full_text": "My SSN is 536-22-8741.", "spans": [
        {"entity_type": "US_SSN", "entity_value": "536-22-8741", "start_position": 10, "end_position": 21}]},
]  # fmt: skip


def write(tmp_path: Path, rows: object) -> Path:
    path = tmp_path / "synth_dataset_v2.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def test_synth_reader_keeps_scored_entities(tmp_path: Path) -> None:
    samples = load_synth(write(tmp_path, SYNTH))
    assert [s.spans for s in samples] == [
        ((5, 14, "PERSON"), (18, 31, "PHONE"), (44, 59, "EMAIL")),
        ((10, 21, "US_SSN"),),
    ]
    assert samples[0].text[18:31] == "07700 063 966"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"full_text": "x"}, "JSON list"),
        ([{"text": "x", "spans": []}], "shape"),
        (
            [{"full_text": "abc", "spans": [{"entity_type": "PERSON", "start_position": 2, "end_position": 9}]}],
            "outside",
        ),
    ],
)
def test_synth_reader_refuses_other_shapes(tmp_path: Path, rows: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_synth(write(tmp_path, rows))


def test_scoring_counts_overlaps_per_entity() -> None:
    samples = [Sample("Ana at 07700 063 966", ((0, 3, "PERSON"), (7, 20, "PHONE")))]
    result = score_pii(samples, lambda text: [(8, 12, "PHONE"), (0, 3, "LOCATION")])
    assert result["entities"]["PHONE"] == {"support": 1, "recall": 1.0, "predictions": 1, "precision": 1.0}
    assert result["entities"]["PERSON"] == {"support": 1, "recall": 0.0, "predictions": 0, "precision": None}
    assert result["entities"]["LOCATION"] == {"support": 0, "recall": None, "predictions": 1, "precision": 0.0}


def test_faker_samples_carry_exact_spans() -> None:
    samples = faker_samples(40)
    assert len(samples) == 40 and samples == faker_samples(40)
    kinds = {entity for s in samples for _, _, entity in s.spans}
    assert {"PERSON", "PHONE", "EMAIL"} <= kinds
    for sample in samples:
        for start, end, _ in sample.spans:
            value = sample.text[start:end]
            assert value and value == value.strip()


def test_warded_and_presidio_on_a_small_sample(tmp_path: Path) -> None:
    samples = load_synth(write(tmp_path, SYNTH))
    regex = score_pii(samples, warded_predictor(ner=False))["entities"]
    assert regex["PHONE"]["recall"] == 1.0 and regex["US_SSN"]["recall"] == 1.0 and regex["EMAIL"]["recall"] == 1.0
    assert regex["PERSON"]["recall"] == 0.0  # names need the pii_ner scanner
    presidio = score_pii(samples, presidio_predictor())
    assert presidio["texts"] == 2 and presidio["entities"]["EMAIL"]["recall"] == 1.0


def test_secrets_side_by_side_on_a_small_sample() -> None:
    cases = secret_cases(per_family=3)
    negatives = benign_lines(300, dists=("certifi", "idna", "PyYAML", "pydantic"))
    assert len(negatives) == 300 and len(set(negatives)) > 250
    assert all(len(lines) == 3 for lines in cases.values()) and "telegram_bot_token" in cases
    ours = score_secrets(cases, negatives, warded_secrets())
    assert ours["recall_all"] >= 0.9 and ours["fpr"] <= 0.01
    peer = score_secrets(cases, negatives, detect_secrets_peer())
    assert peer["benign_lines"] == 300 and 0 < peer["recall_all"] <= 1
    assert set(peer["families"]) == set(cases)


def test_detect_secrets_peer_reports_lines_by_index() -> None:
    detect = detect_secrets_peer()
    lines = ["nothing to see here", "AWS_ACCESS_KEY_ID=AKIA" + "Q7RZ4WXN2JD5KLMP", "plain text again"]
    assert detect(lines) == {1}


def test_whole_section_with_tiny_sizes(tmp_path: Path) -> None:
    result = run_pii_secrets_bench(
        pii_data=write(tmp_path, SYNTH), faker_texts=5, per_family=1, benign=50, peers=False, ner=False
    )
    assert set(result) == {"pii", "secrets"}
    assert result["pii"]["synth_dataset_v2"]["warded_regex"]["texts"] == 2
    assert result["pii"]["faker_text"]["warded_regex"]["texts"] == 5
    assert "detect_secrets_1_5_0" not in result["secrets"]
    assert result["pii"]["notes"]["warded_regex_ner"] == "not run (ner=False)"
    assert result["pii"]["sample_run"] is True
    assert result["pii"]["data"]["synth_is_the_recorded_file"] is False  # the small file written here
    missing = run_pii_secrets_bench(
        pii_data=tmp_path / "absent.json", faker_texts=2, per_family=1, benign=20, peers=False, ner=False
    )
    assert "skipped" in missing["pii"]["synth_dataset_v2"]
    assert missing["pii"]["data"]["synth_dataset_v2"].startswith("missing")


def test_small_repeats_make_a_sample_run() -> None:
    assert pii_secrets_sizes(200) == {}
    sample = pii_secrets_sizes(20)
    assert sample["peers"] is False and sample["synth_limit"] == 50
