"""Connection limits of every HTTP server warded runs (``serve.http_limits``, ``mcp.http_limits``, and
``http_limits`` in the chat proxy's config).

The listener (``warded.proxy._http_server``) enforces them before any request reaches the app, so no
credentials are needed to be bounded by them:

* ``header_timeout_s``: a request head (request line and headers) must arrive in full within this time of
  the connection opening, or of the previous response ending; otherwise the connection is closed (a 408 if
  part of a head had arrived). This is what reaps slow-loris connections.
* ``body_timeout_s``: the request body must arrive in full within this time of its head.
* ``keep_alive_s``: an idle keep-alive connection is closed after this long.
* ``max_connections``: open connections per server process. At the cap, the connection that has waited
  longest for its request to arrive (head or body incomplete, or idle) is closed to make room; if every
  connection is serving a complete request, the new one is answered 503 and closed.
* ``max_connections_per_client``: the same, per client IP address (off by default: behind a reverse proxy,
  or with agents on the same host, every client shares one address).
* ``max_header_bytes``: a request head larger than this is answered 431 and closed.
* ``backlog``: the kernel's queue of connections not yet accepted.

This module imports only pydantic: the policy schema includes it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["HttpLimits"]


class HttpLimits(BaseModel):
    """Header/body read timeouts and connection caps of one HTTP listener. Strict: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    keep_alive_s: int = Field(default=5, ge=1, le=300)
    max_connections: int = Field(default=512, ge=1, le=65536)
    max_connections_per_client: int | None = Field(default=None, ge=1, le=65536)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    backlog: int = Field(default=2048, ge=1, le=65535)

    @model_validator(mode="after")
    def _per_client_within_total(self) -> HttpLimits:
        per_client = self.max_connections_per_client
        if per_client is not None and per_client > self.max_connections:
            raise ValueError(
                f"max_connections_per_client ({per_client}) exceeds max_connections ({self.max_connections})"
            )
        return self
