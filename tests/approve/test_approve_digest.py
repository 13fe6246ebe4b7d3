"""The action digest: deterministic, domain-separated, changed by any change to the call."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pytest

from warded.approve.digest import ACTION_DIGEST_DOMAIN, DigestError, action_digest, digest_of_action
from warded.audit.canonical import canonical_json
from warded.core.types import Action, Tier

BASE: dict[str, Any] = {
    "agent_id": "a1",
    "session_id": "s1",
    "tool": "send_email",
    "arguments": {"to": "bob@example.com", "n": 1, "flags": [True, None]},
    "expires_at": 1_700_000_600.0,
    "nonce": "abc123abc123abc1",
}


def digest(**changes: Any) -> str:
    fields = BASE | changes
    return action_digest(
        fields["agent_id"],
        fields["session_id"],
        fields["tool"],
        fields["arguments"],
        fields["expires_at"],
        fields["nonce"],
    )


def test_is_lowercase_hex_sha256_and_deterministic() -> None:
    first = digest()
    assert first == digest()
    assert len(first) == 64
    assert first == first.lower()
    int(first, 16)


def test_is_domain_separated() -> None:
    body = {k: BASE[k] for k in BASE}
    assert digest() == hashlib.sha256(ACTION_DIGEST_DOMAIN + canonical_json(body)).hexdigest()
    assert digest() != hashlib.sha256(canonical_json(body)).hexdigest()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agent_id", "a2"),
        ("session_id", "s2"),
        ("tool", "send_emails"),
        ("arguments", {"to": "bob@example.com", "n": 2, "flags": [True, None]}),
        ("arguments", {"to": "bob@example.com", "n": 1.0, "flags": [True, None]}),  # 1 is not 1.0
        ("arguments", {"to": "bob@example.com", "n": "1", "flags": [True, None]}),
        ("arguments", {"to": "Bob@example.com", "n": 1, "flags": [True, None]}),
        ("arguments", {"to": "bob@example.com ", "n": 1, "flags": [True, None]}),
        ("arguments", {"to": "bob@ex\u0430mple.com", "n": 1, "flags": [True, None]}),  # Cyrillic a
        ("arguments", {"to": "bob@example.com", "n": 1, "flags": [None, True]}),
        ("arguments", {"to": "bob@example.com", "n": 1, "flags": [True, None], "cc": None}),
        ("arguments", {"to": "bob@example.com", "n": 1}),
        ("expires_at", 1_700_000_601.0),
        ("nonce", "abc123abc123abc2"),
    ],
)
def test_any_change_changes_the_digest(field: str, value: Any) -> None:
    assert digest(**{field: value}) != digest()


def test_key_order_and_expiry_spelling_do_not_matter() -> None:
    reordered = dict(reversed(list(BASE["arguments"].items())))
    assert digest(arguments=reordered) == digest()
    assert digest(expires_at=1_700_000_600) == digest()  # int and float expiry are the same instant
    assert digest(arguments={**BASE["arguments"], "flags": (True, None)}) == digest()  # tuples are arrays


def test_digest_of_action_matches() -> None:
    action = Action("a1", "s1", "send_email", BASE["arguments"], tier=Tier.EXTERNAL, labels=frozenset({"x"}))
    assert digest_of_action(action, BASE["expires_at"], BASE["nonce"]) == digest()


@pytest.mark.parametrize(
    "changes",
    [
        {"agent_id": ""},
        {"agent_id": 1},
        {"session_id": None},
        {"tool": ""},
        {"nonce": ""},
        {"nonce": "x" * 257},
        {"nonce": 5},
        {"arguments": [("to", "x")]},
        {"arguments": {"data": b"bytes"}},
        {"arguments": {"s": {1, 2}}},
        {"arguments": {1: "non-string key"}},
        {"arguments": {"x": math.nan}},
        {"arguments": {"x": "\ud800"}},
        {"expires_at": math.inf},
        {"expires_at": math.nan},
        {"expires_at": True},
        {"expires_at": "1700000600"},
        {"expires_at": 10**400},
    ],
)
def test_undigestable_actions_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(DigestError):
        digest(**changes)


def test_digest_of_non_action_is_refused() -> None:
    with pytest.raises(DigestError):
        digest_of_action("not an action", 1.0, "n")  # type: ignore[arg-type]
