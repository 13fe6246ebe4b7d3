"""The ``domain`` family: the argument is a URL or a bare hostname whose host must be allowed.

Refused outright, before any parsing: backslashes (browsers read them as ``/``), whitespace, control and
invisible characters (``urlsplit`` silently deletes tabs and newlines), and userinfo (``https://good.com@evil.com``
goes to ``evil.com``). The host is lowercased, one trailing dot dropped and IDNA-normalised (see
:mod:`._hosts`). Patterns: ``example.com`` (exactly), ``*.example.org`` (strict subdomains only: not
``example.org``, not ``badexample.org``); IP literals match only when listed exactly. ``deny`` beats
``allow``; with ``allow`` given, the host must match it. A URL's scheme must be in ``schemes``; a bare
hostname has no scheme to check.
"""

from __future__ import annotations

import string
from urllib.parse import urlsplit

from pydantic import BaseModel

from ._base import STRICT, FamilyCheck, StrTuple, Subject, exact_str
from ._hosts import HostError, canonical_ip, normalise_host

_SCHEME_CHARS = string.ascii_lowercase + string.digits + "+.-"
MAX_PORT = 65535


def _port_ok(port: str) -> bool:
    return 0 < len(port) <= 5 and port.isascii() and port.isdigit() and int(port) <= MAX_PORT


class DomainSpec(BaseModel):
    """``domain: {allow: [...], deny: [...], schemes: [...]}``."""

    model_config = STRICT

    allow: StrTuple | None = None
    deny: StrTuple = ()
    schemes: StrTuple = ("https", "http")


class HostPatterns:
    """Compiled host patterns: exact names (and IPs) plus strict-subdomain suffixes."""

    __slots__ = ("exact", "suffixes")

    def __init__(self, exact: frozenset[str], suffixes: tuple[str, ...]) -> None:
        self.exact = exact
        self.suffixes = suffixes

    def matches(self, host: str) -> bool:
        return host in self.exact or host.endswith(self.suffixes)


def compile_host_patterns(patterns: tuple[str, ...], where: str, *, allow_ip: bool) -> HostPatterns:
    """Compile ``example.com`` / ``*.example.org`` / IP patterns, or raise ``ValueError``."""
    exact: set[str] = set()
    suffixes: list[str] = []
    for i, pattern in enumerate(patterns):
        label = f"{where}[{i}] {pattern!r}"
        if pattern.startswith("*."):
            base = pattern[2:]
            if "*" in base:
                raise ValueError(f"{label}: '*' is only allowed as the whole first label ('*.example.org')")
            try:
                host = normalise_host(base, allow_ip=False)
            except HostError as exc:
                raise ValueError(f"{label}: {exc}") from exc
            suffixes.append("." + host)
            continue
        if "*" in pattern:
            raise ValueError(
                f"{label}: '*' is only allowed as the whole first label ('*.example.org'); "
                "a catch-all pattern is never accepted"
            )
        if allow_ip:
            ip = canonical_ip(pattern[1:-1] if pattern.startswith("[") and pattern.endswith("]") else pattern)
            if ip is not None:
                exact.add(ip)
                continue
        try:
            exact.add(normalise_host(pattern, allow_ip=allow_ip))
        except HostError as exc:
            raise ValueError(f"{label}: {exc}") from exc
    return HostPatterns(frozenset(exact), tuple(suffixes))


def host_of(text: str, schemes: frozenset[str]) -> str:
    """The normalised host of a URL or bare hostname, or raise :class:`HostError` saying why not."""
    # isprintable() is False for every control, format (zero-width, BOM) and separator character but ' '.
    if not text.isprintable() or " " in text or "\\" in text:
        raise HostError("contains whitespace, a control or invisible character, or a backslash")
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in schemes:
            raise HostError(f"its scheme is not one of {sorted(schemes)}")
        netloc = parts.netloc
        if "@" in netloc:
            raise HostError("URLs with userinfo ('user@host') are refused")
        if netloc.startswith("["):
            end = netloc.find("]")
            if end < 0:
                raise HostError("malformed IPv6 literal")
            host, rest = netloc[: end + 1], netloc[end + 1 :]
        else:
            host, colon, port = netloc.partition(":")
            rest = colon + port
        if rest and (not rest.startswith(":") or not _port_ok(rest[1:])):
            raise HostError("malformed port")
        return normalise_host(host, allow_ip=True)
    if ":" in text and not text.startswith("["):
        raise HostError("not a URL ('scheme://host') or a bare hostname")
    return normalise_host(text, allow_ip=True)


class DomainCheck(FamilyCheck):
    __slots__ = ("_allow", "_arg", "_deny", "_schemes", "_show")

    family = "domain"

    def __init__(self, spec: DomainSpec, subject: Subject) -> None:
        if spec.allow is not None and not spec.allow:
            raise ValueError(
                "domain.allow is an empty list, which would allow nothing (omit it to allow every host not denied)"
            )
        if spec.allow is None and not spec.deny:
            raise ValueError("domain: give an 'allow' list (or at least a 'deny' list); it constrains nothing")
        if not spec.schemes:
            raise ValueError("domain.schemes is empty: no URL could ever pass")
        for i, scheme in enumerate(spec.schemes):
            if not scheme or scheme[0] not in string.ascii_lowercase or scheme.strip(_SCHEME_CHARS):
                raise ValueError(f"domain.schemes[{i}] {scheme!r} is not a lowercase URL scheme")
        self._allow = None if spec.allow is None else compile_host_patterns(spec.allow, "domain.allow", allow_ip=True)
        self._deny = compile_host_patterns(spec.deny, "domain.deny", allow_ip=True)
        self._schemes = frozenset(spec.schemes)
        self._arg = subject.arg
        self._show = subject.show

    def check(self, value: object) -> str | None:
        text = exact_str(value)
        if text is None:
            return f"argument {self._arg!r}: {self._show(value)} is not a string (a URL or hostname is required)"
        try:
            host = host_of(text, self._schemes)
        except HostError as exc:
            return f"argument {self._arg!r}: {self._show(value)} is refused: {exc}"
        except ValueError:
            return f"argument {self._arg!r}: {self._show(value)} is not a parseable URL"
        if self._deny.matches(host):
            return f"argument {self._arg!r}: host of {self._show(value)} is denied"
        if self._allow is not None and not self._allow.matches(host):
            return f"argument {self._arg!r}: host of {self._show(value)} is not in the allowed domains"
        return None
