"""``serve:`` settings of the decision API: who may call it (API keys), where it listens, request limits.

API keys are never stored: the config holds the SHA-256 of each key (``warded`` prints it when it makes
one), bound to exactly one agent identity. A caller presenting a key acts as that agent and no other.
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, model_validator

from warded.config._keys import API_KEY_PREFIX, Sha256Hex, new_api_key
from warded.config._keys import hash_api_key as _hash
from warded.config._types import Name
from warded.config.http import HttpLimits
from warded.errors import WardedError

__all__ = ["API_KEY_PREFIX", "ServeConfigError", "ServeSpec", "hash_api_key", "is_loopback", "new_api_key"]

AgentName = Name


class ServeConfigError(WardedError):
    """The decision API cannot start with this configuration."""


class ServeSpec(BaseModel):
    """The ``serve:`` section. Strict: unknown keys and wrong types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # agent id -> sha256 hex of its API key (see `hash_api_key`). No keys: every authenticated call is refused.
    api_keys: dict[AgentName, Sha256Hex] = Field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_json_depth: int = Field(default=64, ge=4, le=512)
    request_timeout_s: float = Field(default=5.0, gt=0, le=300)
    # Header/body read timeouts and connection caps of each worker's listener (warded.config.http).
    http_limits: HttpLimits = Field(default_factory=HttpLimits)
    # Listening on anything but loopback must be asked for by name.
    allow_public_bind: bool = False
    # mTLS: agent id -> the client certificate's subject commonName (needs uvicorn's --ssl-ca-certs and
    # --ssl-cert-reqs 2; not wired yet, see the module docs of warded.proxy.api.app).
    client_certs: dict[AgentName, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_agent_per_key(self) -> ServeSpec:
        seen: dict[str, str] = {}
        for agent, digest in self.api_keys.items():
            if digest in seen:
                raise ValueError(f"agents {seen[digest]!r} and {agent!r} share one API key; each key names one agent")
            seen[digest] = agent
        if not self.allow_public_bind and not is_loopback(self.host):
            raise ValueError(f"host {self.host!r} is not loopback; set allow_public_bind: true to listen on it")
        return self


def hash_api_key(key: str) -> str:
    """The SHA-256 (hex) of an API key, as stored in ``serve.api_keys`` (see :mod:`warded.config._keys`)."""
    if not isinstance(key, str) or not key:
        raise ServeConfigError("an API key must be a non-empty string")
    return _hash(key)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for 0.0.0.0 and the rest."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
