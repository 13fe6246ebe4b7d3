"""Host-name mutations shared by the e-mail and domain families."""

from __future__ import annotations

#: Latin letters and a Cyrillic or Greek look-alike each.
HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445", "i": "\u0456"}


def lookalike(host: str) -> str:
    for latin, other in HOMOGLYPHS.items():
        if latin in host:
            return host.replace(latin, other, 1)
    return host + "\u0430"


def punycode(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def variants(host: str) -> list[str]:
    """Spellings of ``host`` and hosts next to it, the plain one first."""
    fake = lookalike(host)
    return [
        host,
        host + ".",
        "sub." + host,
        host.upper(),
        "evil.test",
        host + ".evil.test",
        "evil-" + host,
        fake,
        punycode(fake),
        host.replace(".", "\u3002"),
        host + "\u200b",
        "xn--" + host,
    ]
