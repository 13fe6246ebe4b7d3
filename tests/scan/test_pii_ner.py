"""The optional ``pii_ner`` scanner (spaCy names and places): findings with exact spans, chunking that
reads the whole text, and a policy that asks for it refused when it cannot be honoured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from warded.errors import PolicyError
from warded.policy.compile import load_policy
from warded.scan.pipeline import ScanPipeline
from warded.scan.registry import ScannerLoadError, check_scanner_options, load_scanner
from warded.scan.scanners.pii.ner import (
    DEFAULT_MODEL,
    NerUnavailableError,
    PiiNerScanner,
    chunks,
    model_installed,
)
from warded.scan.types import Category, Response, Source

needs_model = pytest.mark.skipif(not model_installed(DEFAULT_MODEL), reason="the ner extra is not installed")


@pytest.fixture(scope="module")
def ner() -> PiiNerScanner:
    if not model_installed(DEFAULT_MODEL):
        pytest.skip("the ner extra is not installed")
    scanner = PiiNerScanner()
    scanner.warm_up()
    return scanner


def found(scanner: PiiNerScanner, text: str) -> set[tuple[str, str]]:
    return {(f.rule_id, text[f.span[0] : f.span[1]]) for f in scanner.find(text) if f.span is not None}


ROWS = [
    ("Barack Obama was born in Hawaii.", {("pii.person", "Barack Obama"), ("pii.location", "Hawaii")}),
    ("Please forward the contract to Angela Merkel in Berlin.", {("pii.person", "Angela Merkel")}),
    ("We flew from London to New York on Monday.", {("pii.location", "London"), ("pii.location", "New York")}),
]


@pytest.mark.parametrize(("text", "expected"), ROWS)
def test_names_and_places_with_exact_spans(ner: PiiNerScanner, text: str, expected: set[tuple[str, str]]) -> None:
    assert expected <= found(ner, text)


def test_findings_are_pii_redactions_without_the_value(ner: PiiNerScanner) -> None:
    [finding, *_] = ner.find("Barack Obama was born in Hawaii.")
    assert finding.category is Category.PII and finding.suggested is Response.REDACT
    assert finding.layer == "raw" and "Obama" not in str(finding.to_json())


def test_entities_can_be_narrowed(ner: PiiNerScanner) -> None:
    people = PiiNerScanner(entities=["person"])
    assert {rule for rule, _ in found(people, ROWS[0][0])} == {"pii.person"}
    assert people.rules == frozenset({"pii.person"})


def test_long_text_is_read_to_the_end(ner: PiiNerScanner) -> None:
    filler = "The quarterly figures were reviewed and approved without changes. " * 400  # ~27 KB
    text = filler + "Send the file to Barack Obama in Chicago."
    small = PiiNerScanner(chunk_chars=2000)
    assert ("pii.person", "Barack Obama") in found(small, text)


def test_in_the_pipeline(ner: PiiNerScanner) -> None:
    pipeline = ScanPipeline([ner])
    result = pipeline.scan("Barack Obama was born in Hawaii.", Source.TOOL_OUTPUT)
    assert {a.finding.rule_id for a in result.applied} >= {"pii.person", "pii.location"}


@pytest.mark.parametrize(("size", "text"), [(10, "a" * 35), (8, "one two three four five six"), (5, "")])
def test_chunks_cover_the_text_in_order(size: int, text: str) -> None:
    pieces = list(chunks(text, size))
    assert "".join(piece for _, piece in pieces) == text
    assert all(len(piece) <= size for _, piece in pieces)
    assert [offset for offset, _ in pieces] == [sum(len(p) for _, p in pieces[:i]) for i in range(len(pieces))]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "no_such_spacy_model_pkg"}, "not installed"),
        ({"model": "../etc"}, "not installed"),
        ({"entities": ["PERSON", "ORG"]}, "entities must be"),
        ({"entities": "PERSON"}, "must be a list"),
        ({"entities": []}, "entities must be"),
        ({"chunk_chars": 10}, "chunk_chars"),
        ({"chunk_chars": True}, "chunk_chars"),
        ({"surprise": 1}, "unknown pii_ner option"),
    ],
)
def test_options_it_cannot_honour_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PiiNerScanner.check_options(options)
    with pytest.raises(ScannerLoadError, match=message):
        check_scanner_options("pii_ner", options)
    with pytest.raises(ScannerLoadError, match="pii_ner"):
        load_scanner("pii_ner", options)  # building it refuses too, never a scanner without its model


def test_a_missing_model_is_its_own_error() -> None:
    with pytest.raises(NerUnavailableError, match=r"pip install 'warded\[ner\]'"):
        PiiNerScanner.check_options({"model": "no_such_spacy_model_pkg"})
    with pytest.raises(NerUnavailableError):
        PiiNerScanner(model="no_such_spacy_model_pkg")


POLICY = """\
version: 1
agents:
  a:
    tools: [t]
tools:
  t:
    tier: read
scan:
  scanners: [pii, pii_ner, secrets]
"""


def test_policy_naming_pii_ner_without_its_model_is_refused(write_policy: Callable[[str], Path]) -> None:
    text = POLICY + "  options:\n    pii_ner: {model: no_such_spacy_model_pkg}\n"
    with pytest.raises(PolicyError) as info:
        load_policy(write_policy(text))
    assert "no_such_spacy_model_pkg" in info.value.diagnostics()
    assert "not installed" in info.value.diagnostics()


def test_policy_with_bad_phone_regions_is_refused(write_policy: Callable[[str], Path]) -> None:
    text = POLICY + "  options:\n    pii: {regions: [GB, XX]}\n"
    with pytest.raises(PolicyError) as info:
        load_policy(write_policy(text))
    assert "'XX' is not a region" in info.value.diagnostics()


@needs_model
def test_policy_naming_pii_ner_loads_when_installed(write_policy: Callable[[str], Path]) -> None:
    text = POLICY + "  options:\n    pii: {regions: [GB, IE, US]}\n    pii_ner: {entities: [PERSON]}\n"
    policy = load_policy(write_policy(text))
    assert policy.spec.scan.scanners == ["pii", "pii_ner", "secrets"]
