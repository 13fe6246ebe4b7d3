"""Reversible masking (``RedactionVault``) and irreversible redaction (``redact``)."""

from __future__ import annotations

import copy
import hashlib
import pickle
import re
import threading

import pytest

from warded.errors import WardedError
from warded.scan.scanners.pii import PiiScanner
from warded.scan.types import Category, Finding
from warded.scan.vault import MIN_REPEAT_CHARS, RedactionVault, VaultFullError, redact

PLACEHOLDER = re.compile(r"\[\[[A-Z][A-Z0-9_]*_[a-z2-7]{8}\]\]")


def at(text: str, value: str, rule: str = "pii.email", nth: int = 0) -> Finding:
    """A finding covering the ``nth`` occurrence of ``value`` in ``text``."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(value, start + 1)
    return Finding(rule, Category.PII, 0.9, "test", span=(start, start + len(value)))


def test_mask_replaces_spans_and_restore_puts_values_back() -> None:
    text = "mail bob@example.com or alice@example.org today"
    findings = [at(text, "bob@example.com"), at(text, "alice@example.org")]
    vault = RedactionVault()
    masked = vault.mask(text, findings)
    assert "bob@example.com" not in masked and "alice@example.org" not in masked
    placeholders = PLACEHOLDER.findall(masked)
    assert len(placeholders) == 2 and len(set(placeholders)) == 2
    assert all(p.startswith("[[PII_EMAIL_") for p in placeholders)
    assert masked == f"mail {placeholders[0]} or {placeholders[1]} today"
    assert vault.restore(masked) == text
    assert len(vault) == 2


def test_same_value_same_placeholder_within_a_vault_but_not_across_vaults() -> None:
    text = "bob@example.com"
    one, two = RedactionVault(), RedactionVault()
    first = one.mask(text, [at(text, text)])
    assert one.mask(f"again {text}", [at(f"again {text}", text)]) == f"again {first}"
    assert two.mask(text, [at(text, text)]) != first  # random, not derived from the value


def test_placeholder_does_not_leak_the_value() -> None:
    value = "bob@example.com"
    vault = RedactionVault()
    placeholder = vault.mask(value, [at(value, value)])
    token = placeholder[len("[[PII_EMAIL_") : -2]
    for digest in (hashlib.sha256, hashlib.sha1, hashlib.md5):
        assert token not in digest(value.encode()).hexdigest()
    assert "bob" not in placeholder.lower() and "example" not in placeholder.lower()


def test_restore_tolerates_reordering_repetition_and_dropping() -> None:
    text = "a1@example.com, a2@example.com, a3@example.com"
    vault = RedactionVault()
    findings = [at(text, f"a{i}@example.com") for i in (1, 2, 3)]
    p1, p2, p3 = PLACEHOLDER.findall(vault.mask(text, findings))
    reply = f"Reply to {p3} and {p1}; cc {p3}{p3}."
    assert vault.restore(reply) == "Reply to a3@example.com and a1@example.com; cc a3@example.coma3@example.com."
    assert p2 not in vault.restore(reply)


@pytest.mark.parametrize(
    "forged",
    [
        "[[PII_EMAIL_aaaaaaaa]]",  # well-formed, never issued
        "[[pii_email_{token}]]",  # case changed
        "[[PII_EMAIL_{token}]",  # truncated
        "[ [PII_EMAIL_{token}]]",
        "[[PII_PHONE_{token}]]",  # issued token under another label
    ],
)
def test_restore_leaves_unknown_or_forged_placeholders_alone(forged: str) -> None:
    text = "bob@example.com"
    vault = RedactionVault()
    placeholder = vault.mask(text, [at(text, text)])
    token = placeholder[len("[[PII_EMAIL_") : -2]
    reply = "see " + forged.format(token=token)
    assert vault.restore(reply) == reply


def test_restored_values_are_not_expanded_again() -> None:
    # a value that itself looks like a placeholder is restored verbatim, in one pass
    vault = RedactionVault()
    first_text = "x@example.com"
    p1 = vault.mask(first_text, [at(first_text, first_text)])
    tricky = f"note-{p1}-end"
    p2 = vault.mask(tricky, [Finding("secret.x", Category.SECRET, 1.0, "t", span=(0, len(tricky)))])
    assert vault.restore(p2) == tricky


def test_overlapping_spans_are_merged_into_one_placeholder() -> None:
    text = "token ABCDEF123456 end"
    start = text.index("ABC")
    findings = [
        Finding("secret.a", Category.SECRET, 1.0, "t", span=(start, start + 8)),
        Finding("secret.longer", Category.SECRET, 1.0, "t", span=(start + 4, start + 12)),
    ]
    vault = RedactionVault()
    masked = vault.mask(text, findings)
    [placeholder] = PLACEHOLDER.findall(masked)
    assert placeholder.startswith("[[SECRET_")
    assert masked == f"token {placeholder} end"
    assert vault.restore(masked) == text
    assert redact(text, findings) == "token [REDACTED:secret.a] end"


def test_other_occurrences_of_a_masked_value_are_masked_too() -> None:
    text = "password=Hunter2Hunter2 and later Hunter2Hunter2 again"
    value = "Hunter2Hunter2"
    vault = RedactionVault()
    masked = vault.mask(text, [at(text, value, "secret.password")])
    assert value not in masked
    assert len(PLACEHOLDER.findall(masked)) == 2
    assert len(set(PLACEHOLDER.findall(masked))) == 1
    assert vault.restore(masked) == text
    assert redact(text, [at(text, value, "secret.password")]).count("[REDACTED:secret.password]") == 2


def test_short_values_are_masked_only_at_their_span() -> None:
    text = "ab ab"
    assert MIN_REPEAT_CHARS > 2
    masked = RedactionVault().mask(text, [at(text, "ab")])
    assert masked.endswith(" ab")


def test_findings_without_span_or_out_of_range_are_handled() -> None:
    text = "hello bob@example.com"
    no_span = Finding("pii.email", Category.PII, 0.9, "t")
    beyond = Finding("pii.email", Category.PII, 0.9, "t", span=(6, 10_000))
    empty = Finding("pii.email", Category.PII, 0.9, "t", span=(3, 3))
    vault = RedactionVault()
    assert vault.mask(text, [no_span, empty]) == text
    masked = vault.mask(text, [beyond])
    assert masked.startswith("hello [[PII_EMAIL_") and vault.restore(masked) == text
    assert redact(text, [no_span]) == text


def test_redact_is_irreversible_and_labelled() -> None:
    text = "call bob@example.com"
    out = redact(text, [at(text, "bob@example.com")])
    assert out == "call [REDACTED:pii.email]"


def test_vault_is_bounded_and_evicts_least_recently_used() -> None:
    vault = RedactionVault(max_entries=3)
    placeholders = {}
    for i in range(3):
        value = f"user{i}@example.com"
        placeholders[value] = vault.mask(value, [at(value, value)])
    # touch user0 so that user1 is the least recently used
    assert vault.restore(placeholders["user0@example.com"]) == "user0@example.com"
    vault.mask("new@example.com", [at("new@example.com", "new@example.com")])
    assert len(vault) == 3
    assert vault.restore(placeholders["user1@example.com"]) == placeholders["user1@example.com"]  # forgotten
    assert vault.restore(placeholders["user0@example.com"]) == "user0@example.com"


def test_vault_can_refuse_when_full() -> None:
    vault = RedactionVault(max_entries=1, on_full="refuse")
    vault.mask("a@example.com", [at("a@example.com", "a@example.com")])
    with pytest.raises(VaultFullError) as info:
        vault.mask("b@example.com", [at("b@example.com", "b@example.com")])
    assert isinstance(info.value, WardedError)
    small = RedactionVault(max_chars=10)
    with pytest.raises(VaultFullError):
        small.mask("b@example.com", [at("b@example.com", "b@example.com")])


def test_vault_character_budget_evicts() -> None:
    vault = RedactionVault(max_chars=30)
    a = vault.mask("aaaa@example.com", [at("aaaa@example.com", "aaaa@example.com")])
    vault.mask("bbbb@example.com", [at("bbbb@example.com", "bbbb@example.com")])
    assert len(vault) == 1
    assert vault.restore(a) == a


@pytest.mark.parametrize(
    "kwargs", [{"max_entries": 0}, {"max_chars": 0}, {"on_full": "drop"}], ids=["entries", "chars", "on_full"]
)
def test_invalid_configuration_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RedactionVault(**kwargs)  # type: ignore[arg-type]


def test_clear_forgets_everything() -> None:
    vault = RedactionVault()
    masked = vault.mask("a@example.com", [at("a@example.com", "a@example.com")])
    vault.clear()
    assert len(vault) == 0
    assert vault.restore(masked) == masked


def test_vault_refuses_pickling_and_copying_and_hides_values_in_repr() -> None:
    vault = RedactionVault()
    vault.mask("a@example.com", [at("a@example.com", "a@example.com")])
    with pytest.raises(TypeError):
        pickle.dumps(vault)
    with pytest.raises(TypeError):
        copy.copy(vault)
    with pytest.raises(TypeError):
        copy.deepcopy(vault)
    assert "example" not in repr(vault)


def test_vault_is_consistent_under_concurrent_use() -> None:
    vault = RedactionVault()
    values = [f"user{i}@example.com" for i in range(20)]
    results: list[dict[str, str]] = []
    lock = threading.Lock()

    def work() -> None:
        mine = {}
        for value in values * 5:
            mine[value] = vault.mask(value, [at(value, value)])
            assert vault.restore(mine[value]) == value
        with lock:
            results.append(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert all(r == results[0] for r in results)
    assert len(vault) == len(values)


def test_round_trip_with_scanner_findings_and_non_ascii() -> None:
    text = "Grüße 😀 from zoë@exämple.de, ring +44 20 7946 0958 \ud800 or 93.184.216.34"
    findings = PiiScanner().find(text)
    assert len(findings) == 3
    vault = RedactionVault()
    masked = vault.mask(text, findings)
    for f in findings:
        assert f.span is not None
        assert text[f.span[0] : f.span[1]] not in masked
    assert vault.restore(masked) == text
    assert redact(text, findings).count("[REDACTED:") == 3
