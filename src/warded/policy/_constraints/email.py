"""The ``email`` family: the argument is one e-mail address that must be allowed.

Accepted forms: ``local@domain`` and ``Display Name <local@domain>``, nothing else. The parser is strict
on purpose (``email.utils.parseaddr`` is lenient and has had bypasses): refused are several addresses in
one string (``a@x.com, b@y.com``), whitespace, CR/LF or control characters inside the address, quotes,
comments and brackets (``"a@x"@y``, ``a@x(comment)``, ``[1.2.3.4]`` literals), ``@`` in the display name,
non-ASCII local parts, and leading or trailing spaces. Local parts with RFC 2047 encoded-words (``=?``),
percent-hack or bang-path routing (``%``, ``!``) are refused too: some mail software decodes or relays
them to another domain than the one written after the ``@`` ("Splitting the email atom", 2024). Invisible
characters are refused everywhere. The domain is lowercased and IDNA-normalised (see :mod:`._hosts`); the
local part is compared lowercased.

Patterns: an exact address ``bob@partner.org``, ``*@domain`` (that domain only) and ``*@*.domain`` (strict
subdomains only). ``deny`` beats ``allow`` and also matches sub-addressed forms: denying
``ceo@example.com`` denies ``ceo+anything@example.com``, which most mail servers deliver to the same box.
"""

from __future__ import annotations

import string
import unicodedata

from pydantic import BaseModel

from ._base import STRICT, FamilyCheck, StrTuple, Subject, exact_str
from ._hosts import HostError, normalise_host

# Plain string operations (no regex): linear time, and several times faster than regex calls here.
_ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
# What may never appear in a display name (checked after NFKC, so full-width look-alikes count too).
_NAME_SPECIALS = frozenset('<>@,;:"()[]\\')

MAX_LOCAL = 64
MAX_ADDRESS = 254


class EmailSpec(BaseModel):
    """``email: {allow: [...], deny: [...]}``."""

    model_config = STRICT

    allow: StrTuple | None = None
    deny: StrTuple = ()


class AddressError(ValueError):
    """The text is not one acceptable e-mail address; the message says why."""


def _dot_atom(local: str) -> bool:
    """RFC 5322 dot-atom, ASCII only: no quotes, no comments, no leading, trailing or double dots."""
    return bool(local) and not local.strip(_ATEXT + ".") and local[0] != "." and local[-1] != "." and ".." not in local


def _split(text: str) -> tuple[str | None, str]:
    """``(display name or None, address)`` of the two accepted forms, or raise AddressError."""
    if not text.endswith(">"):
        return None, text
    start = text.find("<")
    if start < 0 or ">" in text[:-1]:
        raise AddressError("it is not exactly one plain address ('local@domain' or 'Name <local@domain>')")
    return text[:start], text[start + 1 : -1]


def parse_address(text: str) -> tuple[str, str]:
    """``(local, domain)`` of one address, local lowercased and domain normalised, or raise AddressError."""
    # isprintable() is False for every control, format (zero-width, BOM) and separator character but ' '.
    if not text.isprintable():
        raise AddressError("it contains a control character, an invisible character or a line break")
    if text != text.strip():
        raise AddressError("it has leading or trailing whitespace")
    name, address = _split(text)
    if name is not None and set(unicodedata.normalize("NFKC", name)) & _NAME_SPECIALS:
        raise AddressError("its display name contains quotes, brackets, '@', ',' or ';'")
    if "@" not in address:
        raise AddressError("it is not an e-mail address (no '@')")
    local, _, domain = address.partition("@")
    if not _dot_atom(local) or not domain or "@" in domain or " " in domain:
        raise AddressError("it is not exactly one plain address ('local@domain' or 'Name <local@domain>')")
    if "=?" in local or "%" in local or "!" in local:
        raise AddressError("its local part uses encoded-word, '%' or '!' routing syntax")
    if len(local) > MAX_LOCAL or len(address) > MAX_ADDRESS:
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
                    if "*" in pattern or pattern.endswith(">"):
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
