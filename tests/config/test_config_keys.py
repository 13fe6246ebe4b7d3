"""One API-key lookup: hashes only, constant-time comparison, shared by the decision API and the chat proxy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from warded.config._keys import KeyRing, hash_api_key
from warded.config.chat import ChatProxySpec
from warded.config.serve import ServeSpec

KEY = "a-long-random-client-key-1"
OTHER = "another-long-random-key-22"


def _chat(*clients: dict[str, str]) -> ChatProxySpec:
    return ChatProxySpec.model_validate(
        {"upstream_url": "https://up.example/v1", "models": ["m"], "clients": list(clients)}
    )


@pytest.mark.parametrize(
    ("presented", "agent"),
    [(KEY, "a"), (OTHER, "b"), ("not-a-known-key-000", None), ("", None), ("\ud800", None)],
    ids=["first", "second", "unknown", "empty", "lone-surrogate"],
)
def test_key_ring_finds_the_agent_by_hash(presented: str, agent: str | None) -> None:
    ring = KeyRing([("a", hash_api_key(KEY)), ("b", hash_api_key(OTHER))])
    assert ring.agent_for(presented) == agent


def test_chat_plaintext_key_is_hashed_at_load_and_not_kept() -> None:
    spec = _chat({"key": KEY, "agent": "support-bot"})
    assert spec.clients[0].key_sha256 == hash_api_key(KEY)
    assert KEY not in repr(spec) and KEY not in spec.model_dump_json()
    assert spec.agent_for(KEY) == "support-bot"
    assert spec.agent_for(OTHER) is None


def test_chat_accepts_hashes_as_serve_does() -> None:
    spec = _chat({"key_sha256": hash_api_key(KEY), "agent": "support-bot"})
    assert spec.key_ring().agent_for(KEY) == "support-bot"
    serve = ServeSpec.model_validate({"api_keys": {"support-bot": hash_api_key(KEY)}})
    assert KeyRing(serve.api_keys.items()).agent_for(KEY) == "support-bot"


@pytest.mark.parametrize(
    "clients",
    [
        [{"key": "short", "agent": "a"}],
        [{"key": KEY, "key_sha256": hash_api_key(KEY), "agent": "a"}],
        [{"key_sha256": "ABC", "agent": "a"}],
        [{"agent": "a"}],
        [{"key": KEY, "agent": "a"}, {"key_sha256": hash_api_key(KEY), "agent": "b"}],
    ],
    ids=["too-short", "both", "not-hex", "none", "same-key-twice"],
)
def test_chat_refuses_bad_client_keys(clients: list[dict[str, str]]) -> None:
    with pytest.raises(ValidationError):
        _chat(*clients)
