"""``store:`` settings: where replicas share their state (PostgreSQL, Redis) instead of the SQLite file.

Credentials never rest in the policy file. A value is a ``${VAR}`` reference to the environment, or a DSN
that carries no password (a password inside it must itself be a ``${VAR}`` reference); a literal password
is a located policy error. References are resolved when the gateway starts (:func:`resolve_store`); a
variable that is not set refuses the start, naming it. A resolved DSN prints as ``'**********'``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from warded.errors import WardedError

__all__ = ["ResolvedStore", "StoreConfigError", "StoreSpec", "resolve_store"]

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}")
_WHOLE_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]{0,127}\}$")
_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_PLACEHOLDER = "WARDEDENVREF"
MASK = "**********"


class StoreConfigError(WardedError):
    """The shared stores named by ``store:`` cannot be used (an unset variable, a bad value)."""


def _literal_password(value: str) -> bool:
    """True when ``value`` carries a password that is not exactly one ``${VAR}`` reference."""
    if _WHOLE_REF.match(value):
        return False
    template = _REF.sub(_PLACEHOLDER, value)
    if "://" in template:
        try:
            parts = urlsplit(template)
            password = parts.password
        except ValueError:
            return True  # unparsable: refuse rather than guess where a password might hide
        if password not in (None, "", _PLACEHOLDER):
            return True
        query = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() == "password"]
        return any(v not in ("", _PLACEHOLDER) for v in query)
    found = _KEYWORD_PASSWORD.search(template)
    return found is not None and found.group(1).strip("'") not in ("", _PLACEHOLDER)


class StoreSpec(BaseModel):
    """The ``store:`` section. Strict: unknown keys and wrong types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    # PostgreSQL: the audit chain and approvals. "${WARDED_PG_DSN}" or a DSN without a password.
    postgres: str | None = Field(default=None, min_length=1, max_length=4096)
    # Redis: limit and budget windows, pauses. "${WARDED_REDIS_URL}" or a URL without a password.
    redis: str | None = Field(default=None, min_length=1, max_length=4096)
    # The PostgreSQL schema warded's tables live in (created by `warded store migrate`).
    pg_schema: str = Field(default="warded", alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # The prefix of every Redis key warded writes.
    prefix: str = Field(default="warded:", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    # How long one store round trip may take before the call is denied (store.unavailable).
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Connections per replica in the PostgreSQL pool.
    pool_size: int = Field(default=4, ge=1, le=256)

    @field_validator("postgres", "redis")
    @classmethod
    def _no_literal_password(cls, value: str | None) -> str | None:
        if value is not None and _literal_password(value):
            raise ValueError(
                "a password may not be written in the policy file: use an environment reference such as "
                '"${WARDED_PG_DSN}" (or put only the password in one: "postgresql://user:${PGPASSWORD}@host/db")'
            )
        return value


@dataclass(frozen=True, slots=True)
class ResolvedStore:
    """``store:`` with every reference replaced by its value; the DSNs never show in ``repr``."""

    postgres: str | None = field(repr=False)
    redis: str | None = field(repr=False)
    schema: str
    prefix: str
    timeout_s: float
    pool_size: int

    def __str__(self) -> str:
        pg = MASK if self.postgres else None
        rd = MASK if self.redis else None
        return f"store(postgres={pg}, redis={rd}, schema={self.schema}, prefix={self.prefix})"


def _expand(value: str | None, what: str, environ: Mapping[str, str]) -> str | None:
    if value is None:
        return None
    missing = [name for name in _REF.findall(value) if not environ.get(name)]
    if missing:
        names = ", ".join(sorted(set(missing)))
        raise StoreConfigError(f"store.{what} needs the environment variable(s) {names}, which are not set")
    expanded = _REF.sub(lambda m: environ[m.group(1)], value)
    if not expanded.strip():
        raise StoreConfigError(f"store.{what} is empty once its environment references are resolved")
    return expanded


def resolve_store(spec: StoreSpec, environ: Mapping[str, str] | None = None) -> ResolvedStore:
    """Resolve the ``${VAR}`` references of ``spec`` (from ``os.environ`` by default); raises
    :class:`StoreConfigError` naming any variable that is not set."""
    env = os.environ if environ is None else environ
    return ResolvedStore(
        postgres=_expand(spec.postgres, "postgres", env),
        redis=_expand(spec.redis, "redis", env),
        schema=spec.pg_schema,
        prefix=spec.prefix,
        timeout_s=spec.timeout_s,
        pool_size=spec.pool_size,
    )
