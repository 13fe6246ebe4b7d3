"""Normalisation before matching: one text in, every way a model might read it out.

``normalise(text)`` returns ``Normalised`` whose views are:

==========================  ==========================================================================
layer                       what it holds
==========================  ==========================================================================
``raw``                     the text itself (always ``views[0]``)
``normalised``              its matching skeleton (always ``views[1]``): NFKC, Latin look-alikes from
                            Cyrillic, Greek, Armenian, Cherokee and Latin extensions folded to ASCII,
                            generic accents and invisible characters removed, case-folded, whitespace
                            collapsed. An ordinary Cyrillic or Greek word stays readable
``tag_chars``               ASCII spelled in invisible Unicode tag characters ("ASCII smuggling")
``variation_selectors``     bytes carried by a run of variation selectors ("emoji smuggling")
``base64`` ``hex`` ``url``  a decoded run (standard or URL-safe base64, MIME-wrapped included; hex as
``html``                    digits, ``\\x``, ``0x`` or separated pairs; percent-encoding; numeric HTML
                            character references), decoded again while it still decodes
``json_unescaped``          the text with JSON/YAML string escapes resolved: what a model reads in a
                            tool's JSON output
``rot13`` ``leet``          a ROT13 or leetspeak reading, only where it turns non-words into English
                            (or instruction) words, so ordinary text does not sprout views
``a>b``                     a chain: ``base64>hex`` is hex found inside decoded base64; ``normalised>base64``
                            a run found only after invisible characters were removed; ``…>normalised``
                            the skeleton of a decoded layer that is not plain ASCII
==========================  ==========================================================================

``findings`` are what normalisation itself noticed (see ``warded.scan.scanners.hidden`` for the rule ids):
hidden characters, encoded runs, and the bounds below. Spans are offsets in the original text; a layer
decoded from another layer carries the span of the outermost run.

Everything is bounded: decoded text in total is at most ``max_expansion`` times the text read (the folded
view too: NFKC can expand one character 18-fold), nesting at most ``max_depth`` layers, at most
``MAX_VIEWS`` views, at most ``max_chars`` characters read. Hitting a bound is a finding, never a hang or an
exception. Matching over untrusted text uses RE2, or Python's ``re`` only for single-character-class
patterns (linear: a class run cannot backtrack), or plain string methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from warded.errors import InvalidArgument
from warded.scan._normalise.decoders import find_encoded, json_unescape, leet_reading, rot13_runs, suspicious
from warded.scan._normalise.hidden import HiddenReport, scan_hidden
from warded.scan.text import clean_bounded, fold, fold_bounded, has_surrogates, replace_surrogates
from warded.scan.types import Category, Finding, Normalised, Response, View

__all__ = ["MAX_VIEWS", "normalise"]

#: Most views one ``Normalised`` may hold (raw and normalised included).
MAX_VIEWS: Final = 64

_H = Category.HIDDEN_TEXT
_E = Category.ENCODED
_MESSAGES: Final = {
    "base64": "base64-encoded text",
    "hex": "hex-encoded text",
    "url": "percent-encoded text",
    "html": "text spelled in HTML character references",
    "rot13": "ROT13-encoded words",
    "leet": "leetspeak words",
}


_RULE: Final = {"html": "encoded.html_entities"}


def _chain(prefix: str, kind: str) -> str:
    return f"{prefix}>{kind}" if prefix else kind


class _Walker:
    """Collects views and findings while decoding layer by layer, within the budgets."""

    def __init__(self, budget: int, max_depth: int) -> None:
        self.views: list[View] = []
        self.findings: list[Finding] = []
        self.budget = budget
        self.used = 0
        self.max_depth = max_depth
        self.seen: set[str] = set()
        self.memo: dict[str, str | None] = {}  # base64/hex run -> kind initial + decoded text (None: not text)
        self.stopped = False
        self._flagged: set[str] = set()

    def _limit(
        self,
        rule_id: str,
        message: str,
        suggested: Response,
        score: float,
        layer: str,
        *,
        span: tuple[int, int] | None = None,
    ) -> None:
        if rule_id not in self._flagged:
            self._flagged.add(rule_id)
            self.findings.append(Finding(rule_id, _E, score, message, suggested, span, layer))

    def add_view(self, layer: str, text: str, span: tuple[int, int] | None) -> bool:
        """Add a view unless it repeats one already held; False when a bound stops all further decoding."""
        if self.stopped:
            return False
        if text in self.seen:
            return True
        if len(self.views) + 2 >= MAX_VIEWS:  # raw and normalised come first
            self._limit(
                "encoded.view_limit",
                f"more than {MAX_VIEWS} decoded views; the rest was not decoded",
                Response.REQUIRE_APPROVAL,
                0.8,
                layer,
            )
            self.stopped = True
            return False
        if self.used + len(text) > self.budget:
            self._limit(
                "encoded.expansion_limit",
                "decoded text would exceed the expansion budget; the rest was not decoded",
                Response.REQUIRE_APPROVAL,
                0.8,
                layer,
            )
            self.stopped = True
            return False
        self.used += len(text)
        self.seen.add(text)
        self.views.append(View(layer, text, span))
        return True

    def hidden(self, report: HiddenReport, layer: str, span: tuple[int, int] | None, exact: bool) -> list[View]:
        """Findings for a hidden-character report; returns the decoded tag/selector views to explore."""

        def where(counted_span: tuple[int, int]) -> tuple[int, int] | None:
            return counted_span if exact else span

        if report.zero_width.count:
            n = report.zero_width.count
            self.findings.append(
                Finding(
                    "hidden.zero_width",
                    _H,
                    min(1.0, 0.4 + 0.05 * n),
                    f"{n} invisible zero-width character(s)",
                    Response.LABEL,
                    where(report.zero_width.span),
                    layer,
                    {"count": str(n)},
                )
            )
        if report.bidi.count:
            n = report.bidi.count
            self.findings.append(
                Finding(
                    "hidden.bidi",
                    _H,
                    min(1.0, 0.6 + 0.05 * n),
                    f"{n} bidirectional control character(s) that can reorder what a reader sees",
                    Response.LABEL,
                    where(report.bidi.span),
                    layer,
                    {"count": str(n)},
                )
            )
        out: list[View] = []
        if report.tags.count:
            n = report.tags.count
            decoded = " ".join(report.tag_text)
            self.findings.append(
                Finding(
                    "hidden.tag_chars",
                    _H,
                    0.95 if decoded.strip() else 0.7,
                    f"{n} invisible Unicode tag character(s)" + (" spelling hidden ASCII text" if decoded else ""),
                    Response.DENY if decoded.strip() else Response.LABEL,
                    where(report.tags.span),
                    layer,
                    {"count": str(n), "decoded_chars": str(len(decoded))},
                )
            )
            if decoded:
                out.append(View(_chain(_strip_raw(layer), "tag_chars"), decoded, where(report.tags.span)))
        if report.selectors.count:
            n = report.selectors.count
            decoded = " ".join(report.selector_texts)
            self.findings.append(
                Finding(
                    "hidden.variation_selectors",
                    _H,
                    0.9 if decoded else 0.6,
                    f"a run of {n} variation selectors" + (" carrying hidden text" if decoded else ""),
                    Response.DENY if decoded else Response.LABEL,
                    where(report.selectors.span),
                    layer,
                    {"count": str(n)},
                )
            )
            if decoded:
                out.append(
                    View(_chain(_strip_raw(layer), "variation_selectors"), decoded, where(report.selectors.span))
                )
        return out

    def _children(
        self, text: str, prefix: str, span: tuple[int, int] | None, exact: bool
    ) -> Iterator[tuple[str, str, tuple[int, int] | None, str]]:
        """``(kind, layer, span, decoded)`` for every layer found in ``text``, lazily."""
        for item in find_encoded(text, self.memo):
            yield item.kind, _chain(prefix, item.kind), (item.start, item.end) if exact else span, item.text
        unescaped = json_unescape(text)
        if unescaped is not None and unescaped != text:
            yield "json_unescaped", _chain(prefix, "json_unescaped"), None if exact else span, unescaped

    def explore(self, text: str, prefix: str, span: tuple[int, int] | None, exact: bool, depth: int) -> None:
        """Decode every encoded layer found in ``text`` (itself at nesting ``depth``) and recurse."""
        if self.stopped:
            return
        for kind, layer, child_span, decoded in self._children(text, prefix, span, exact):
            if self.stopped:
                return
            if decoded in self.seen:
                continue
            if depth + 1 > self.max_depth:
                self._limit(
                    "encoded.depth_limit",
                    f"encoding nested deeper than {self.max_depth} layers",
                    Response.DENY,
                    0.9,
                    layer,
                    span=child_span,
                )
                return  # nothing at this depth is decoded, ROT13 and leetspeak readings included
            if not self.add_view(layer, decoded, child_span):
                return
            if kind != "json_unescaped":  # escaped JSON is ordinary; it is a view, not a finding
                self.findings.append(
                    Finding(
                        _RULE.get(kind, f"encoded.{kind}"),
                        _E,
                        0.7 if suspicious(decoded) else 0.3,
                        _MESSAGES[kind],
                        Response.LABEL,
                        child_span,
                        layer,
                        {"decoded_chars": str(len(decoded))},
                    )
                )
            self.decoded_text(decoded, layer, child_span, depth + 1)
        if depth + 1 <= self.max_depth:
            self.readings(text, prefix, span, exact)

    def decoded_text(self, text: str, layer: str, span: tuple[int, int] | None, depth: int) -> None:
        """Look inside a freshly decoded view: hidden characters, a folded reading, further layers."""
        if not text.isascii():
            if has_surrogates(text):
                text = replace_surrogates(text)
            for view in self.hidden(scan_hidden(text), layer, span, exact=False):
                if self.add_view(view.layer, view.text, view.span):
                    self.explore(view.text, view.layer, view.span, False, depth + 1)
            folded = fold(text)
            if folded != " ".join(text.casefold().split()):
                self.add_view(_chain(layer, "normalised"), folded, span)
        self.explore(text, layer, span, False, depth)

    def readings(self, text: str, prefix: str, span: tuple[int, int] | None, exact: bool) -> None:
        """ROT13 and leetspeak readings, only where they turn non-words into words."""
        for start, end, decoded in rot13_runs(text):
            where = (start, end) if exact else span
            layer = _chain(prefix, "rot13")
            if self.add_view(layer, decoded, where):
                self.findings.append(
                    Finding(
                        "encoded.rot13",
                        _E,
                        0.7 if suspicious(decoded) else 0.4,
                        _MESSAGES["rot13"],
                        Response.LABEL,
                        where,
                        layer,
                    )
                )
        leet = leet_reading(text)
        if leet is not None:
            start, end, decoded = leet
            where = (start, end) if exact else span
            layer = _chain(prefix, "leet")
            if self.add_view(layer, decoded, where):
                self.findings.append(
                    Finding(
                        "encoded.leet",
                        _E,
                        0.7 if suspicious(decoded) else 0.4,
                        _MESSAGES["leet"],
                        Response.LABEL,
                        where,
                        layer,
                    )
                )


def _strip_raw(layer: str) -> str:
    return "" if layer == "raw" else layer


def normalise(text: str, *, max_chars: int = 1_000_000, max_depth: int = 4, max_expansion: int = 4) -> Normalised:
    """Every way of reading ``text`` that a model might: see the module docstring.

    ``views[0]`` is always ``View("raw", text)`` and ``views[1]`` the folded skeleton. Text beyond
    ``max_chars`` is not read (an ``encoded.size_limit`` finding says so). Never raises for any ``str``.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalise() takes a str, not {type(text).__name__}")
    if max_chars < 1 or max_depth < 0 or max_expansion < 1:
        raise InvalidArgument("max_chars and max_expansion must be positive and max_depth non-negative")
    work = text[:max_chars]
    findings: list[Finding] = []
    if len(text) > max_chars:
        findings.append(
            Finding(
                "encoded.size_limit",
                _E,
                0.8,
                f"text of {len(text)} characters exceeds the normalisation limit of {max_chars}; the rest was not read",
                Response.REQUIRE_APPROVAL,
                (max_chars, len(text)),
                "raw",
            )
        )
    plain = work.isascii()
    if not plain and has_surrogates(work):
        work = replace_surrogates(work)
    budget = max_expansion * len(work)
    folded, cut = fold_bounded(work, budget)  # NFKC can expand a character up to 18-fold (U+FDFA)
    if cut:
        findings.append(
            Finding(
                "encoded.expansion_limit",
                _E,
                0.8,
                "the folded text would exceed the expansion budget; it was cut short",
                Response.REQUIRE_APPROVAL,
                None,
                "normalised",
            )
        )
    walker = _Walker(budget, max_depth)
    walker.seen.update((text, folded))
    if not plain:
        for view in walker.hidden(scan_hidden(work), "raw", None, exact=True):
            if walker.add_view(view.layer, view.text, view.span):
                walker.explore(view.text, view.layer, view.span, False, 1)
    walker.explore(work, "", None, True, 0)
    if not plain:
        cleaned = clean_bounded(work, budget)
        if cleaned != work:
            walker.explore(cleaned, "normalised", None, False, 0)
    views = (View("raw", text), View("normalised", folded), *walker.views)
    return Normalised(text, views, tuple(findings + walker.findings))
