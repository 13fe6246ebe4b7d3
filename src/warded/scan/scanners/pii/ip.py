"""``pii.ip``: IPv4 and IPv6 addresses, validated by ``ipaddress``.

Loopback, unspecified, multicast and reserved addresses are ignored by default (``ignore_loopback_ips``),
private ones on request (``ignore_private_ips``). Skipped as not-a-host: CIDR ranges (``10.0.0.0/8``), dotted
runs after ``version``/``release``/``v``, single-digit quads (``2.5.4.7``, an OID) unless an IP word (``ip``,
``host``, ``server``...) precedes them, and quads among other bare numbers (SVG path data).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from warded.scan.scanners._re2text import Prepared, compile_one, word_char
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings

_IP_WORD = compile_one(r"\b(?:ip|ips|ipv4|address|addr|host|hosts|server|client|peer|from|src|dst|gateway|dns)\b")
_VERSION_WORD = compile_one(r"(?:version|release|ver\.?|build|rev|oid|objectidentifier|object_identifier)\W{0,3}$")


def _numeric_neighbour(text: str, start: int, end: int) -> bool:
    """True if the token just before or after ``text[start:end]`` is a number that is not a dotted quad."""
    before = text[max(0, start - 16) : start].split()
    after = text[end : end + 16].split()
    for raw in (before[-1] if before else "", after[0] if after else ""):
        token = raw.strip(",;")
        numeric = bool(token) and any(ch.isdigit() for ch in token) and all(ch.isdigit() or ch in ".-" for ch in token)
        quad = token.count(".") == 3 and all(part.isdigit() for part in token.split("."))
        if numeric and not quad:
            return True
    return False


def _is_cidr(text: str, end: int) -> bool:
    return end + 1 < len(text) and text[end] == "/" and text[end + 1].isdigit()


def _ipv4(p: Prepared, m: Any, settings: Settings) -> Hit | None:
    start, end = p.span(m)
    text = p.text
    if start > 0 and (word_char(text[start - 1]) or text[start - 1] in ".vV"):
        return None  # part of a longer dotted run, or a version such as v1.2.3.4
    if _VERSION_WORD.search(text[max(0, start - 20) : start].lower()):
        return None  # "version 1.2.3.4", "release: 10.0.0.1", 'ObjectIdentifier("1.3.101.112")'
    if end < len(text) and text[end] in ".-" and end + 1 < len(text) and text[end + 1].isalnum():
        return None
    if _is_cidr(text, end):
        return None  # a network, not a host
    cand = text[start:end]
    if all(len(octet) == 1 for octet in cand.split(".")) and not _IP_WORD.search(
        text[max(0, start - 24) : start].lower()
    ):
        return None  # "2.5.4.7" is far more often an OID or a version than a host
    if _numeric_neighbour(text, start, end):
        return None  # "2.83-2.12 3.51.98.32 2.03.5": coordinates in SVG path data or a table of numbers
    return _address(cand, start, end, settings)


def _ipv6(p: Prepared, m: Any, settings: Settings) -> Hit | None:
    start, end = p.span(m)
    text = p.text
    cand = text[start:end]
    while cand.endswith((".", ":")) and not cand.endswith("::"):
        cand = cand[:-1]  # sentence punctuation, not part of the address
        end -= 1
    zone = ""
    if "%" in cand:
        cand, zone = cand.split("%", 1)
        if not zone:
            return None
    if cand.count(":") < 2 or ("::" not in cand and cand.count(":") != 7 and "." not in cand):
        return None
    if start > 0 and (word_char(text[start - 1]) or text[start - 1] in ".:"):
        return None
    if end < len(text) and (word_char(text[end]) or text[end] == ":"):
        return None
    if _is_cidr(text, end):
        return None
    return _address(cand, start, end, settings)


def _address(cand: str, start: int, end: int, settings: Settings) -> Hit | None:
    try:
        address = ipaddress.ip_address(cand)
    except ValueError:
        return None
    if settings.ignore_loopback_ips and (
        address.is_loopback
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or (address.version == 4 and cand.startswith("0."))  # 0.0.0.0/8: "this network", never a host
    ):
        return None
    if settings.ignore_private_ips and (address.is_private or address.is_link_local):
        return None
    scope = "global" if address.is_global else "private" if address.is_private else "special"
    return Hit(start, end, detail={"version": str(address.version), "scope": scope})


IP = Detector(
    id="pii.ip",
    message="IP address",
    score=0.6,
    priority=6,
    patterns=(
        Pattern("ipv4", r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", _ipv4),
        Pattern("ipv6", r"(?i)[0-9a-f:]*::?[0-9a-f]{0,4}:[0-9a-f:.]*(?:%[0-9a-z]{1,16})?", _ipv6),
    ),
)
