"""API keys, held as SHA-256 hashes and looked up in constant time: one lookup for every proxy.

The decision API (``serve.api_keys: {agent: sha256-hex}``) and the chat proxy (``clients:`` with
``key_sha256:``, or a plaintext ``key:`` hashed as the config loads) both authenticate a presented key
with :class:`KeyRing`. No plaintext key is kept once a configuration is loaded.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Annotated

from pydantic import Field

from warded.errors import WardedError

__all__ = ["API_KEY_PREFIX", "KeyRing", "Sha256Hex", "hash_api_key", "new_api_key"]

#: The SHA-256 of an API key, as lowercase hex.
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

API_KEY_PREFIX = "wdk_"


class ApiKeyError(WardedError):
    """A value is not an API key warded can hash."""


def hash_api_key(key: str) -> str:
    """The SHA-256 (hex) of an API key, as stored in ``serve.api_keys`` and ``clients[].key_sha256``."""
    if not isinstance(key, str) or not key:
        raise ApiKeyError("an API key must be a non-empty string")
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    """A fresh random API key (256 bits). Show it once; store only :func:`hash_api_key` of it."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class KeyRing:
    """API keys by hash, each bound to one agent. :meth:`agent_for` hashes the presented key and compares
    it with every stored hash, so the time taken does not depend on which key (if any) matched."""

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        """``keys``: ``(agent, sha256 hex)`` pairs."""
        self._keys = [(bytes.fromhex(digest), agent) for agent, digest in keys]

    def agent_for(self, presented: str) -> str | None:
        """The agent bound to ``presented``, or ``None``."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        for stored, agent in self._keys:  # no early exit
            if hmac.compare_digest(stored, digest):
                found = agent
        return found

    def __len__(self) -> int:
        return len(self._keys)
