"""scrub(): every hidden text replaced in every string and key, at any depth (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from warded.audit.redact import MIN_VALUE_CHARS, scrub, secret_texts

HIDDEN = {"4111111111111111": "pii.card", "sk_live_abcdef": "secret.stripe"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("pay 4111111111111111 now", "pay [REDACTED:pii.card] now", id="inside-text"),
        pytest.param({"4111111111111111": 1}, {"[REDACTED:pii.card]": 1}, id="mapping-key"),
        pytest.param([[["x sk_live_abcdef"]]], [[["x [REDACTED:secret.stripe]"]]], id="nested"),
        pytest.param(("a", 4111111111111111), ("a", 4111111111111111), id="numbers-untouched"),
        pytest.param(
            "4111111111111111 and 4111111111111111",
            "[REDACTED:pii.card] and [REDACTED:pii.card]",
            id="every-occurrence",
        ),
    ],
)
def test_scrub(value: Any, expected: Any) -> None:
    assert scrub(value, HIDDEN) == expected


def test_longer_text_first() -> None:
    assert scrub("abcdefgh", {"abcdefgh": "long", "cdef": "short"}) == "[REDACTED:long]"


def test_too_deep_is_replaced_whole() -> None:
    deep: Any = "sk_live_abcdef"
    for _ in range(100):
        deep = [deep]
    assert "sk_live_abcdef" not in repr(scrub(deep, HIDDEN))


def test_nothing_hidden_returns_the_value() -> None:
    value = {"a": ["b"]}
    assert scrub(value, {}) is value


def test_secret_texts_collects_strings_and_keys_long_enough() -> None:
    out: dict[str, str] = {}
    secret_texts({"user": "hunter2-long", "pin": "12", "tokens": ["abcdefgh"]}, "arg.t.a.secret", out)
    assert set(out) == {"hunter2-long", "abcdefgh", "tokens"}  # "user" and "pin" are too short
    assert all(len(t) >= MIN_VALUE_CHARS for t in out)
