"""Normal forms for comparing values and texts the way their consumer reads them.

A value is the same value however it is dressed: an IBAN in groups of four or with dashes, a phone
number with brackets, an e-mail address spelled out ("name at domain dot com", ``name[at]domain(dot)com``),
a link defanged as ``hxxp://evil[.]top``, a word in Unicode look-alikes, extra whitespace. This module
turns every such form into one canonical form, so that a value is recognised (as untrusted, or as
justified) whatever disguise the model or an attacker puts on it.

Everything here is pure and runs RE2 (linear time) over untrusted text.
"""

from __future__ import annotations

import functools

import re2
from publicsuffixlist import PublicSuffixList
from schwifty import registry as _iban_registry
from schwifty.exceptions import InvalidCountryCode

from warded.scan.text import fold

_OPTIONS = re2.Options()
_OPTIONS.max_mem = 32 << 20

# "[at]", "(at)", "{at}", "<at>", "[@]", " at " between an address's parts; the same for "dot" and ".".
_OPEN, _CLOSE = r"[\[\(\{<]", r"[\]\)\}>]"
_AT_BRACKETED = re2.compile(rf"(?i)\s*{_OPEN}\s*(?:at|@)\s*{_CLOSE}\s*", _OPTIONS)
_DOT_BRACKETED = re2.compile(rf"(?i)\s*{_OPEN}\s*(?:dot|\.)\s*{_CLOSE}\s*", _OPTIONS)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
# "name at domain dot com" / "name AT domain.com": the local part, " at ", then labels joined by " dot " or ".".
_AT_WORD = re2.compile(
    rf"(?i)\b([A-Za-z0-9._%+\-]+)\s+at\s+({_LABEL}(?:(?:\s+dot\s+|\s*\.\s*){_LABEL})+)\b",
    _OPTIONS,
)
_DOT_WORD = re2.compile(rf"(?i)\b({_LABEL})\s+dot\s+({_LABEL})\b", _OPTIONS)
_SPACED_AT = re2.compile(r"([A-Za-z0-9._%+\-])(?:\s+@\s*|\s*@\s+)([A-Za-z0-9])", _OPTIONS)
_DEFANGED_SCHEME = re2.compile(r"(?i)\bh(?:xx|\*\*|XX)p(s?)(?:\[:\]|:)//", _OPTIONS)
_SPACE_DOT = re2.compile(r"\s*\.\s*", _OPTIONS)
_AT_DOMAIN_SPACED = re2.compile(
    rf"@({_LABEL}(?:\.{_LABEL})*(?:\s+\.\s*|\s*\.\s+){_LABEL}(?:\s*\.\s*{_LABEL})*)\b", _OPTIONS
)
# Any sign of an obfuscated form; a text without one is returned as it is, without the rewriting passes.
_MARKER = re2.compile(
    r"(?i)[\[\(\{<]|\s@|@\s|\sat\s|\sdot\s|hxxp|h\*\*p|@[a-z0-9.\-]*\s+\.|@[a-z0-9.\-]*\.\s+[a-z]", _OPTIONS
)
_SPACE_DOT_WORD = re2.compile(r"(?i)\s+dot\s+", _OPTIONS)


def deobfuscate(text: str) -> str:
    """``text`` with spelled-out and defanged addresses put back together: ``name at domain dot com`` and
    ``name[at]domain(dot)com`` become ``name@domain.com``, ``hxxps://evil[.]top`` becomes
    ``https://evil.top``. Only forms that end in a real public suffix count (checked by the caller when it
    extracts domains), so ordinary prose is left to mean what it says."""
    if _MARKER.search(text) is None:
        return text
    out = _DEFANGED_SCHEME.sub(r"http\1://", text)
    out = _AT_BRACKETED.sub("@", out)
    out = _DOT_BRACKETED.sub(".", out)
    out = _SPACED_AT.sub(r"\1@\2", out)

    def at_word(match: re2._Match[str]) -> str:
        domain = _SPACE_DOT.sub(".", _SPACE_DOT_WORD.sub(".", match.group(2)))
        return f"{match.group(1)}@{domain}"

    out = _AT_WORD.sub(at_word, out)
    out = _AT_DOMAIN_SPACED.sub(lambda m: "@" + _SPACE_DOT.sub(".", m.group(1)), out)
    # "evil dot top" (a link spelled out): labels joined by " dot ", repeated until none is left.
    for _ in range(8):
        joined = _DOT_WORD.sub(r"\1.\2", out)
        if joined == out:
            break
        out = joined
    return str(out)


# -- domains: the public suffix list ----------------------------------------------------------------


@functools.cache
def _psl() -> PublicSuffixList:
    # The snapshot bundled with the package (its ICANN section: the suffixes anyone can register under);
    # nothing is fetched.
    return PublicSuffixList(only_icann=True)


@functools.lru_cache(maxsize=16_384)
def registrable(domain: str) -> str | None:
    """The registrable part of ``domain`` (``mail.evil.top`` → ``evil.top``) if it ends in a suffix of the
    public suffix list and has a label of its own before it; ``None`` otherwise (``notes.txt``, ``co.uk``)."""
    name = domain.strip().rstrip(".").lower()
    if not name or "." not in name or len(name) > 253:
        return None
    try:
        found = _psl().privatesuffix(name, accept_unknown=False)
    except (ValueError, UnicodeError):
        return None
    return found if isinstance(found, str) else None


# -- IBANs: the registry's lengths ------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def iban_length(country: str) -> int | None:
    """The length of an IBAN of ``country`` (two letters) in the IBAN registry that schwifty ships, or
    ``None`` for a country without IBANs."""
    try:
        return int(_iban_registry.get_iban_spec(country.upper()).iban_length)
    except (InvalidCountryCode, KeyError, ValueError):
        return None


def compact_account(text: str) -> str:
    """An account number, IBAN or phone number as its letters and digits, upper case: ``DE89 3704-0044``
    and ``de8937040044`` are one account."""
    return "".join(ch for ch in fold(text) if ch.isalnum()).upper()


# -- free text ----------------------------------------------------------------------------------------


def canonical_text(text: str) -> str:
    """Text as compared for "was this copied from there?": look-alikes folded, case folded, addresses put
    back together, punctuation other than what values are made of dropped, whitespace collapsed."""
    out = _squash(fold(deobfuscate(fold(text))))
    # Dropping punctuation can bring an address's parts next to each other ("a@<ESC>b" -> "a@ b"), which
    # deobfuscation then joins: repeat to a fixed point, so canonical text is canonical (each round only
    # joins or drops characters; the bound is a backstop).
    for _ in range(16):
        again = _squash(fold(deobfuscate(out)))
        if again == out:
            break
        out = again
    return out


def _squash(text: str) -> str:
    kept = "".join(ch if ch.isalnum() or ch in "@.:/-_+%" else " " for ch in text)
    return " ".join(kept.split())
