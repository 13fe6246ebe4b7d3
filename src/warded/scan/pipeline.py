"""The scanner chain: normalise once, run every scanner, map each finding to the policy's response.

A scanner that raises or overruns its time budget yields a ``scanner_error`` finding carrying the
scanner's declared on-error response: a failure is never silence. Text over ``max_chars`` is scanned
up to the limit and also yields a ``scan.too_large`` finding that denies: what was not read cannot
be vouched for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from warded.scan.normalise import normalise
from warded.scan.types import (
    SEVERITY,
    Category,
    Finding,
    Normalised,
    Response,
    ScanInput,
    Scanner,
    ScanVerdict,
    Source,
    View,
)

R = Response
SUGGESTED = "suggested"  # in a response table: take the scanner's own suggestion for that finding
Rule = Response | str
S = SUGGESTED
#: What a finding means, per category and per source, unless the policy says otherwise. ``suggested``
#: defers to the finding's own suggestion, for categories whose findings differ widely in weight (a
#: ``javascript:`` link versus a link to an unlisted domain).
DEFAULT_RESPONSES: Mapping[Category, Mapping[Source, Rule]] = {
    Category.PROMPT_INJECTION: {
        Source.USER: R.LABEL, Source.TOOL_OUTPUT: R.REQUIRE_APPROVAL,
        Source.MODEL_OUTPUT: R.LABEL, Source.ARGUMENT: R.DENY,
    },
    Category.JAILBREAK: {
        Source.USER: R.DENY, Source.TOOL_OUTPUT: R.REQUIRE_APPROVAL,
        Source.MODEL_OUTPUT: R.LABEL, Source.ARGUMENT: R.DENY,
    },
    Category.HIDDEN_TEXT: {
        Source.USER: S, Source.TOOL_OUTPUT: S, Source.MODEL_OUTPUT: R.DENY, Source.ARGUMENT: R.DENY,
    },
    Category.ENCODED: {
        Source.USER: S, Source.TOOL_OUTPUT: S, Source.MODEL_OUTPUT: S, Source.ARGUMENT: S,
    },
    Category.PII: {
        Source.USER: R.LABEL, Source.TOOL_OUTPUT: R.LABEL, Source.MODEL_OUTPUT: R.REDACT, Source.ARGUMENT: R.LABEL,
    },
    Category.SECRET: {
        Source.USER: R.REDACT, Source.TOOL_OUTPUT: R.REDACT,
        Source.MODEL_OUTPUT: R.DENY, Source.ARGUMENT: R.DENY,
    },
    Category.EXFILTRATION: {
        Source.USER: R.LABEL, Source.TOOL_OUTPUT: S, Source.MODEL_OUTPUT: S, Source.ARGUMENT: S,
    },
    Category.OUTPUT: {
        Source.USER: R.DENY, Source.TOOL_OUTPUT: R.DENY, Source.MODEL_OUTPUT: R.DENY, Source.ARGUMENT: R.DENY,
    },
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Applied:
    """A finding and the response the policy gives it for this source."""

    finding: Finding
    response: Response

    def to_json(self) -> dict[str, object]:
        return {**self.finding.to_json(), "response": self.response.value}


@dataclass(frozen=True, slots=True)
class ScanResult:
    source: Source
    applied: tuple[Applied, ...] = ()
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    @property
    def response(self) -> Response | None:
        """The most severe response among the findings, or ``None`` if nothing was found."""
        if not self.applied:
            return None
        return max((a.response for a in self.applied), key=SEVERITY.__getitem__)

    @property
    def verdict(self) -> ScanVerdict:
        response = self.response
        if response is None:
            return ScanVerdict.ALLOW
        return ScanVerdict.BLOCK if response is Response.DENY else ScanVerdict.FLAG

    @property
    def score(self) -> float:
        return max((a.finding.score for a in self.applied), default=0.0)

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "findings": [a.to_json() for a in self.applied],
        }


Normaliser = Callable[[str], Normalised]


def _plain(text: str) -> Normalised:
    return Normalised(text, (View("raw", text), View("normalised", text.casefold())))


class ScanPipeline:
    """Runs a fixed list of scanners over one text at a time. Thread-safe if the scanners are."""

    def __init__(
        self,
        scanners: Sequence[Scanner],
        *,
        responses: Mapping[Category, Mapping[Source, Rule]] | None = None,
        max_chars: int = 1_000_000,
        normaliser: Normaliser | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be positive")
        self.scanners = tuple(scanners)
        merged: dict[Category, dict[Source, Rule]] = {cat: dict(bs) for cat, bs in DEFAULT_RESPONSES.items()}
        for cat, by_source in (responses or {}).items():
            merged.setdefault(cat, {}).update(by_source)
        self.responses: Mapping[Category, Mapping[Source, Rule]] = merged
        self.max_chars = max_chars
        self._normalise = normaliser or normalise
        self._timer = timer

    def warm_up(self) -> ScanPipeline:
        """Run every scanner once so lazily loaded models load now, not inside a caller's time budget."""
        self.scan("warded start-up check", Source.USER)
        return self

    def respond(self, finding: Finding, source: Source) -> Response:
        if finding.category is Category.SCANNER_ERROR:
            return finding.suggested  # the scanner's declared on-error response; policy cannot soften it
        by_source = self.responses.get(finding.category)
        if by_source is None or source not in by_source:
            return Response.REQUIRE_APPROVAL  # an unknown category is not waved through
        rule = by_source[source]
        if rule == SUGGESTED:
            return finding.suggested
        return Response(rule)

    def scan(self, text: str, source: Source, *, tool: str | None = None) -> ScanResult:
        """Scan one text. Never raises: failures become findings that deny or ask for approval."""
        found: list[Finding] = []
        timings: dict[str, float] = {}
        if not isinstance(text, str):
            found.append(_error("scan.not_text", f"cannot scan a {type(text).__name__}", Response.DENY))
            return self._result(found, source, timings)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            found.append(_error("scan.invalid_utf8", "text is not valid UTF-8", Response.DENY))
            text = text.encode("utf-8", "replace").decode("utf-8")
        if len(text) > self.max_chars:
            found.append(
                _error(
                    "scan.too_large",
                    f"text of {len(text)} characters exceeds the scan limit of {self.max_chars}; "
                    "only the beginning was scanned",
                    Response.DENY,
                )
            )
            text = text[: self.max_chars]
        started = self._timer()
        try:
            normalised = self._normalise(text)
        except Exception as exc:
            found.append(_error("scan.normalise.error", f"normalisation failed: {type(exc).__name__}", Response.DENY))
            normalised = _plain(text)
        timings["normalise"] = (self._timer() - started) * 1000
        item = ScanInput(text, source, normalised, tool)
        for scanner in self.scanners:
            started = self._timer()
            try:
                found.extend(scanner.scan(item))
            except Exception as exc:
                found.append(
                    _error(
                        f"{scanner.id}.error",
                        f"scanner {scanner.id!r} failed ({type(exc).__name__}); applying its on-error response",
                        scanner.on_error,
                    )
                )
            elapsed = (self._timer() - started) * 1000
            timings[scanner.id] = elapsed
            if elapsed > scanner.budget_ms:
                found.append(
                    _error(
                        f"{scanner.id}.timeout",
                        f"scanner {scanner.id!r} took {elapsed:.1f} ms, over its {scanner.budget_ms:g} ms budget",
                        scanner.on_error,
                    )
                )
        return self._result(found, source, timings)

    def _result(self, found: list[Finding], source: Source, timings: dict[str, float]) -> ScanResult:
        applied = tuple(Applied(f, self.respond(f, source)) for f in found)
        return ScanResult(source, applied, timings)


def _error(rule_id: str, message: str, response: Response) -> Finding:
    return Finding(rule_id, Category.SCANNER_ERROR, 1.0, message, suggested=response)
