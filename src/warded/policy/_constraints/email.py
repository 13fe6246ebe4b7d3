"""The ``email`` family: the argument is one e-mail address that must be allowed.

Accepted forms: ``local@domain`` and ``Display Name <local@domain>``, nothing else. The parser is strict
on purpose (``email.utils.parseaddr`` is lenient and has had bypasses): refused are several addresses in
one string (``a@x.com, b@y.com``), whitespace, CR/LF or control characters inside the address, quotes,
comments and brackets (``"a@x"@y``, ``a@x(comment)``, ``[1.2.3.4]`` literals), ``@`` in the display name,
non-ASCII local parts, and leading or trailing spaces. The domain is lowercased and IDNA-normalised (see
:mod:`._hosts`); the local part is compared lowercased.

Patterns: an exact address ``bob@partner.org``, ``*@domain`` (that domain only) and ``*@*.domain`` (strict
subdomains only). ``deny`` beats ``allow`` and also matches sub-addressed forms: denying
``ceo@example.com`` denies ``ceo+anything@example.com``, which most mail servers deliver to the same box.
"""

from __future__ import annotations

import unicodedata

import re2
from pydantic import BaseModel

from ._base import STRICT, FamilyCheck, StrTuple, Subject, exact_str
from ._hosts import HostError, normalise_host

_OPTS = re2.Options()
_OPTS.log_errors = False

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
# The domain is checked properly by normalise_host; here only exclude what can never be in one.
_DOMAIN = r"[^\s@<>()\[\]\\,;:\"'`]+"
_BARE = re2.compile(rf"({_LOCAL})@({_DOMAIN})", _OPTS)
_NAMED = re2.compile(rf"([^<>]*?) ?<({_LOCAL})@({_DOMAIN})>", _OPTS)
# What may never appear in a display name (checked after NFKC, so full-width look-alikes count too).
_NAME_SPECIALS = frozenset('<>@,;:"()[]\\')
_FORBIDDEN = re2.compile(r"[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}\x{feff}]", _OPTS)

MAX_LOCAL = 64
MAX_ADDRESS = 254


class EmailSpec(BaseModel):
    """``email: {allow: [...], deny: [...]}``."""

    model_config = STRICT

    allow: StrTuple | None = None
    deny: StrTuple = ()


class AddressError(ValueError):
    """The text is not one acceptable e-mail address; the message says why."""


def parse_address(text: str) -> tuple[str, str]:
    """``(local, domain)`` of one address, local lowercased and domain normalised, or raise AddressError."""
    if _FORBIDDEN.search(text) is not None:
        raise AddressError("it contains a control character or line break")
    if text != text.strip():
        raise AddressError("it has leading or trailing whitespace")
    match = _BARE.fullmatch(text)
    if match is not None:
        local, domain = match.group(1), match.group(2)
    else:
        match = _NAMED.fullmatch(text)
        if match is None:
            if "@" not in text:
                raise AddressError("it is not an e-mail address (no '@')")
            raise AddressError("it is not exactly one plain address ('local@domain' or 'Name <local@domain>')")
        name, local, domain = match.group(1), match.group(2), match.group(3)
        if set(unicodedata.normalize("NFKC", name)) & _NAME_SPECIALS:
            raise AddressError("its display name contains quotes, brackets, '@', ',' or ';'")
    if len(local) > MAX_LOCAL or len(local) + 1 + len(domain) > MAX_ADDRESS:
        raise AddressError("it is too long for an e-mail address")
    try:
        host = normalise_host(domain, allow_ip=False)
    except HostError as exc:
        raise AddressError(f"its domain is unusable: {exc}") from exc
    if "." not in host:
        raise AddressError("its domain has no dot")
    return local.lower(), host


class _Patterns:
    __slots__ = ("addresses", "domains", "suffixes")

    def __init__(self, patterns: tuple[str, ...], where: str) -> None:
        addresses: set[str] = set()
        domains: set[str] = set()
        suffixes: list[str] = []
        for i, pattern in enumerate(patterns):
            label = f"{where}[{i}] {pattern!r}"
            try:
                if pattern.startswith("*@*."):
                    suffixes.append("." + normalise_host(pattern[4:], allow_ip=False))
                elif pattern.startswith("*@"):
                    domains.add(normalise_host(pattern[2:], allow_ip=False))
                else:
                    if "*" in pattern or _BARE.fullmatch(pattern) is None:
                        raise AddressError("it is not a plain address nor a supported wildcard")
                    local, host = parse_address(pattern)
                    addresses.add(f"{local}@{host}")
            except (HostError, AddressError) as exc:
                raise ValueError(f"{label}: {exc}; patterns are 'user@domain', '*@domain' or '*@*.domain'") from exc
        self.addresses = frozenset(addresses)
        self.domains = frozenset(domains)
        self.suffixes = tuple(suffixes)

    def matches(self, local: str, host: str) -> bool:
        return f"{local}@{host}" in self.addresses or host in self.domains or host.endswith(self.suffixes)


class EmailCheck(FamilyCheck):
    __slots__ = ("_allow", "_arg", "_deny", "_show")

    family = "email"

    def __init__(self, spec: EmailSpec, subject: Subject) -> None:
        if spec.allow is not None and not spec.allow:
            raise ValueError(
                "email.allow is an empty list, which would allow nothing (omit it to allow every address not denied)"
            )
        if spec.allow is None and not spec.deny:
            raise ValueError("email: give an 'allow' list (or at least a 'deny' list); it constrains nothing")
        self._allow = None if spec.allow is None else _Patterns(spec.allow, "email.allow")
        self._deny = _Patterns(spec.deny, "email.deny")
        self._arg = subject.arg
        self._show = subject.show

    def check(self, value: object) -> str | None:
        text = exact_str(value)
        if text is None:
            return f"argument {self._arg!r}: {self._show(value)} is not a string (an e-mail address is required)"
        try:
            local, host = parse_address(text)
        except AddressError as exc:
            return f"argument {self._arg!r}: {self._show(value)} is refused: {exc}"
        base = local.split("+", 1)[0]
        if self._deny.matches(local, host) or (base != local and self._deny.matches(base, host)):
            return f"argument {self._arg!r}: address {self._show(value)} is denied"
        if self._allow is not None and not self._allow.matches(local, host):
            return f"argument {self._arg!r}: address {self._show(value)} is not in the allowed addresses"
        return None
