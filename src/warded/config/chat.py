"""Configuration of the OpenAI-compatible chat proxy (``ChatProxySpec``).

The upstream's API key belongs to warded: clients authenticate to warded with their own keys, each
bound to one agent identity, and never see or send the upstream key. A client key is given as its
SHA-256 (``key_sha256:``, as ``serve.api_keys`` holds them) or as plaintext (``key:``, at least 16
characters), which is hashed as the config loads and not kept. The upstream key prints as ``'**********'``.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from warded.config._keys import KeyRing, Sha256Hex, hash_api_key
from warded.config._types import Name
from warded.config.http import HttpLimits
from warded.errors import WardedError

#: Shortest plaintext client key accepted.
MIN_KEY_CHARS = 16


class ChatConfigError(WardedError):
    """The chat proxy's configuration cannot be used."""


class ClientKey(BaseModel):
    """One client API key (as its SHA-256) and the agent identity it speaks for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_sha256: Sha256Hex
    agent: Name

    @model_validator(mode="before")
    @classmethod
    def _hash_plaintext(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "key" not in data:
            return data
        if "key_sha256" in data:
            raise ValueError("give key or key_sha256, not both")
        key = data["key"]
        if isinstance(key, SecretStr):
            key = key.get_secret_value()
        if not isinstance(key, str) or len(key) < MIN_KEY_CHARS:
            raise ValueError(f"key: a client key is a string of at least {MIN_KEY_CHARS} characters")
        try:
            digest = hash_api_key(key)
        except (WardedError, UnicodeEncodeError):
            raise ValueError("key: a client key must be valid text") from None
        return {**{k: v for k, v in data.items() if k != "key"}, "key_sha256": digest}


class ChatProxySpec(BaseModel):
    """Everything the chat proxy needs besides the policy.

    ``upstream_url`` is the API base, e.g. ``https://api.openai.com/v1`` (``/chat/completions`` and
    ``/models`` are appended). ``models`` lists the model names clients may ask for (exact names, or
    ``fnmatch`` patterns such as ``gpt-4o*``; a bare ``*`` is refused: name what you allow).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    upstream_url: str = Field(pattern=r"^https?://[^\s]+$")
    upstream_api_key: SecretStr | None = None
    #: Read the upstream key from this environment variable instead (at start-up).
    upstream_api_key_env: str | None = None
    clients: list[ClientKey] = Field(min_length=1)
    models: list[str] = Field(min_length=1)

    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    #: Non-streaming: the whole upstream response. Streaming: the gap allowed between two chunks.
    read_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    #: Non-streaming only: the whole round trip, whatever the upstream trickles.
    total_timeout_s: float = Field(default=300.0, gt=0, le=7200)
    max_request_bytes: int = Field(default=4 << 20, ge=1024, le=256 << 20)
    max_response_bytes: int = Field(default=16 << 20, ge=1024, le=1 << 30)

    #: Mask PII in everything going upstream (placeholders) and restore it in what comes back.
    mask_pii: bool = False
    #: Forward image, audio and file content parts although warded cannot scan them (their URL, file
    #: name and id are still scanned and masked; their pixels, sound and bytes are not). Off: refused.
    unsafe_forward_unscanned_media: bool = False
    #: Domains model output may link to; when set, overrides the policy's ``exfiltration`` allowlist
    #: for model output (``example.com`` exactly, ``*.example.com`` for subdomains).
    allowed_link_domains: list[str] | None = None
    #: Streaming: characters of already-released text rescanned as context with each new release.
    scan_context_chars: int = Field(default=256, ge=0, le=65536)
    #: Streaming: the most text held back waiting for a word, link or key block to end; beyond it the
    #: held text is scanned and released (or blocked) anyway.
    max_hold_chars: int = Field(default=8192, ge=64, le=1 << 20)
    #: Conversations (PII vaults, scan caches) kept in memory; the least recently used are dropped.
    max_conversations: int = Field(default=4096, ge=1, le=1_000_000)
    session_header: str = "x-warded-session"
    #: The listener's header/body read timeouts and connection caps (see ``warded.config.http``).
    http_limits: HttpLimits = Field(default_factory=HttpLimits)

    @field_validator("models")
    @classmethod
    def _no_wildcard(cls, models: list[str]) -> list[str]:
        for model in models:
            if not model or model.strip() in ("*", "**") or not model.strip("*?"):
                raise ValueError("models: name the models clients may use; a bare '*' is not allowed")
        return models

    @field_validator("session_header")
    @classmethod
    def _lower(cls, name: str) -> str:
        return name.lower()

    @model_validator(mode="after")
    def _keys(self) -> ChatProxySpec:
        if self.upstream_api_key is not None and self.upstream_api_key_env is not None:
            raise ValueError("give upstream_api_key or upstream_api_key_env, not both")
        digests = [c.key_sha256 for c in self.clients]
        if len(set(digests)) != len(digests):
            raise ValueError("clients: the same API key is listed twice")
        return self

    def upstream_key(self) -> str | None:
        """The upstream API key (from the config or its environment variable), or ``None``."""
        if self.upstream_api_key is not None:
            return self.upstream_api_key.get_secret_value()
        if self.upstream_api_key_env is not None:
            value = os.environ.get(self.upstream_api_key_env)
            if not value:
                raise ChatConfigError(f"environment variable {self.upstream_api_key_env} is not set")
            return value
        return None

    def key_ring(self) -> KeyRing:
        """The client keys, for :meth:`KeyRing.agent_for`."""
        return KeyRing((c.agent, c.key_sha256) for c in self.clients)

    def agent_for(self, presented: str) -> str | None:
        """The agent bound to API key ``presented``, or ``None`` (compared as digests, in constant time)."""
        return self.key_ring().agent_for(presented)
