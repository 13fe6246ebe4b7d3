"""Secrets go into the audit log as salted hashes only."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warded.audit.canonical import canonical_json
from warded.audit.secrets import hash_secret, is_secret_record, matches_secret
from warded.errors import AuditError

SECRET = "sk-live-Zq8PwS3cretTokenValue"


def test_record_shape() -> None:
    record = hash_secret(SECRET)
    assert set(record) == {"$secret", "salt", "digest"}
    assert record["$secret"] == "sha256-salted"
    assert len(bytes.fromhex(record["salt"])) == 16
    assert len(bytes.fromhex(record["digest"])) == 32
    assert is_secret_record(record)
    assert not is_secret_record({"salt": "00"})
    assert not is_secret_record("x")


def test_plaintext_never_appears() -> None:
    encoded = canonical_json(hash_secret(SECRET))
    assert SECRET.encode() not in encoded
    assert b"Zq8P" not in encoded


def test_matches_only_the_same_value() -> None:
    record = hash_secret(SECRET)
    assert matches_secret(record, SECRET)
    assert not matches_secret(record, SECRET + "x")
    assert not matches_secret(record, SECRET[:-1])


def test_salts_differ() -> None:
    first, second = hash_secret(SECRET), hash_secret(SECRET)
    assert first["salt"] != second["salt"]
    assert first["digest"] != second["digest"]
    assert matches_secret(first, SECRET)
    assert matches_secret(second, SECRET)


def test_structured_values_are_hashed_canonically() -> None:
    record = hash_secret({"user": "a", "token": SECRET})
    assert matches_secret(record, {"token": SECRET, "user": "a"})
    assert not matches_secret(record, {"token": SECRET})


def test_non_json_values_are_refused() -> None:
    with pytest.raises(AuditError):
        hash_secret(b"raw bytes")


@pytest.mark.parametrize(
    "record",
    [
        {"salt": "00", "digest": "00" * 32},
        {"$secret": "md5", "salt": "00", "digest": "00" * 32},
        {"$secret": "sha256-salted", "salt": "zz", "digest": "00" * 32},
        {"$secret": "sha256-salted", "salt": "00", "digest": "00"},
        {"$secret": "sha256-salted", "salt": None, "digest": "00" * 32},
    ],
)
def test_malformed_records_raise(record: dict[str, Any]) -> None:
    with pytest.raises(AuditError):
        matches_secret(record, SECRET)


def test_tampered_digest_does_not_match() -> None:
    record = hash_secret(SECRET)
    record["digest"] = ("0" if record["digest"][0] != "0" else "1") + record["digest"][1:]
    assert not matches_secret(record, SECRET)
    record["digest"] = "é" * 64
    assert not matches_secret(record, SECRET)


@given(st.text(min_size=12, alphabet=st.characters(categories=["L"], exclude_characters="abcdefABCDEF")))
def test_plaintext_never_appears_property(secret: str) -> None:
    record = hash_secret(secret)
    assert secret.encode() not in canonical_json(record)
    assert matches_secret(record, secret)
