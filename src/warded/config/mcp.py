"""How warded reaches an MCP upstream: its command or URL, its credentials, timeouts and limits.

The upstream's credentials live here, in warded's configuration (or warded's own environment, referenced
as ``${NAME}``), never in the agent's: the agent talks to warded, and only warded talks to the server.
Secret values print as ``'**********'``. The policy schema can embed :class:`McpSpec` without an import
cycle (this module imports only :mod:`warded.errors` and :mod:`warded.config.http`).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from warded.config._types import Duration
from warded.config.http import HttpLimits
from warded.errors import WardedError

__all__ = ["McpConfigError", "McpSpec", "PinMode"]

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"


class McpConfigError(WardedError):
    """The MCP upstream configuration cannot be used (e.g. a referenced variable is not set)."""


Seconds = Duration


class PinMode(StrEnum):
    """When a tool definition becomes trusted. A *changed* definition always waits for an operator."""

    FIRST_SIGHT = "first_sight"  # trust on first use: the first definition seen is pinned
    APPROVAL = "approval"  # every new tool stays hidden until an operator approves it (``approve_tool``)


class McpSpec(BaseModel):
    """The ``mcp:`` section of ``warded.yaml``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # A stable name for the upstream: tool pins are kept per name. Defaults to the command line or URL.
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,127}$")] | None = None
    # The upstream: a command (stdio) or a Streamable HTTP URL. The CLI may give either instead.
    command: list[str] = Field(default_factory=list)
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    # Environment of the upstream process: only these variables, plus a minimal safe set (PATH, HOME, ...).
    # A value may reference warded's own environment as ``${NAME}``; a missing reference refuses to start.
    env: dict[Annotated[str, Field(pattern=_ENV_NAME)], SecretStr] = Field(default_factory=dict)
    # Variables of warded's environment passed through to the upstream process unchanged, by name.
    pass_env: list[Annotated[str, Field(pattern=_ENV_NAME)]] = Field(default_factory=list)
    # Headers sent to an HTTP upstream (e.g. Authorization); ``${NAME}`` references as for ``env``.
    headers: dict[Annotated[str, Field(pattern=_HEADER_NAME)], SecretStr] = Field(default_factory=dict)
    connect_timeout: Seconds = 20.0
    list_timeout: Seconds = 20.0
    call_timeout: Seconds = 60.0
    # Largest JSON-RPC message accepted from the client (and the largest request body over HTTP).
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    pin: Annotated[PinMode, Field(strict=False)] = PinMode.FIRST_SIGHT
    # Scan tool names, descriptions and schemas with the content guard; poisoned tools are hidden.
    scan_descriptions: bool = True
    # Hand the upstream the single-use capability token of each allowed call in ``_meta``.
    forward_capability: bool = True
    # The HTTP transport's listener: header/body read timeouts and connection caps (warded.config.http).
    http_limits: HttpLimits = Field(default_factory=HttpLimits)

    def server_key(self, command: list[str] | None = None, url: str | None = None) -> str:
        """The name tool pins are kept under: ``name``, else the upstream's command line or URL."""
        if self.name:
            return self.name
        if url or self.url:
            return f"http:{url or self.url}"
        cmd = command or self.command
        if not cmd:
            raise McpConfigError("no MCP upstream: give a command or a URL")
        return f"stdio:{shlex.join(cmd)}"

    def upstream_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The extra environment for the upstream process, ``${NAME}`` references resolved."""
        source = os.environ if environ is None else environ
        out = {name: source[name] for name in self.pass_env if name in source}
        out.update({name: _expand(f"env.{name}", value.get_secret_value(), source) for name, value in self.env.items()})
        return out

    def upstream_headers(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The headers for an HTTP upstream, ``${NAME}`` references resolved."""
        source = os.environ if environ is None else environ
        return {k: _expand(f"headers.{k}", v.get_secret_value(), source) for k, v in self.headers.items()}


def _expand(where: str, value: str, environ: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise McpConfigError(f"mcp.{where} references ${{{name}}}, which is not set in warded's environment")
        return environ[name]

    return _REF.sub(sub, value)
