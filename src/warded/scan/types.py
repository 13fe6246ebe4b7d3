"""Value types of the content guard: findings, categories, sources, and the scanner contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable


class Category(StrEnum):
    PROMPT_INJECTION = "prompt_injection"
    JAILBREAK = "jailbreak"
    HIDDEN_TEXT = "hidden_text"  # zero-width, bidi controls, Unicode tag characters
    ENCODED = "encoded"  # text hidden behind base64/hex/URL-encoding/ROT13/leetspeak
    PII = "pii"
    SECRET = "secret"  # noqa: S105 - a category name, not a password
    EXFILTRATION = "exfiltration"
    OUTPUT = "output"  # an output validator refused structured output or a domain value
    SCANNER_ERROR = "scanner_error"  # a scanner failed or ran out of time: its on-error response applies


class Source(StrEnum):
    """Where a text came from; policy can treat the same finding differently per source."""

    USER = "user"
    TOOL_OUTPUT = "tool_output"
    MODEL_OUTPUT = "model_output"
    ARGUMENT = "argument"


class Response(StrEnum):
    """What a finding asks for. Ordered by severity: DENY > REQUIRE_APPROVAL > REDACT > LABEL."""

    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"
    REDACT = "redact"
    LABEL = "label"


SEVERITY = {Response.LABEL: 0, Response.REDACT: 1, Response.REQUIRE_APPROVAL: 2, Response.DENY: 3}


class ScanVerdict(StrEnum):
    """A scan's overall outcome (``warded scan`` exits 0, 1, 3); not the gateway's ``Verdict``."""

    ALLOW = "allow"  # nothing found
    FLAG = "flag"  # found something that does not deny (label, redact, approval)
    BLOCK = "block"  # found something that denies


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a scanner found. ``rule_id`` is stable (e.g. ``pii.iban``, ``injection.rule.ignore_previous``).

    ``span`` is ``(start, end)`` in the *original* text when the scanner can map it back (always for
    PII and secrets, which redaction needs), else ``None``. ``layer`` names the view the match was in:
    ``raw``, ``normalised``, or a decoding chain such as ``base64>url``. ``suggested`` is the scanner's
    own suggestion; the policy decides what actually happens. ``detail`` never holds a secret value.
    """

    rule_id: str
    category: Category
    score: float
    message: str
    suggested: Response = Response.LABEL
    span: tuple[int, int] | None = None
    layer: str = "raw"
    detail: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "category": self.category.value,
            "score": round(self.score, 4),
            "message": self.message,
            "suggested": self.suggested.value,
            "span": list(self.span) if self.span is not None else None,
            "layer": self.layer,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class View:
    """One way of reading a text: ``layer`` is ``raw``, ``normalised``, ``json_unescaped``, or a decoding
    chain such as ``base64`` or ``base64>rot13``; ``span`` locates the encoded run in the original text
    when known."""

    layer: str
    text: str
    span: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Normalised:
    """The result of normalisation (``warded.scan.normalise.normalise``).

    ``views`` always starts with ``raw`` (the original) and ``normalised`` (NFKC, confusables folded,
    invisible characters removed); decoded layers follow. ``findings`` are what normalisation itself
    found: hidden characters, encoded runs, limits hit.
    """

    original: str
    views: tuple[View, ...]
    findings: tuple[Finding, ...] = ()

    @property
    def folded(self) -> str:
        return self.views[1].text if len(self.views) > 1 else self.original


@dataclass(frozen=True, slots=True)
class ScanInput:
    """What every scanner receives: the text, where it came from, and its normalised views."""

    text: str
    source: Source
    normalised: Normalised
    tool: str | None = None


@runtime_checkable
class Scanner(Protocol):
    """A scanner: one module, a permanent ``id``, a category, and a declared on-error response.

    ``scan`` must be pure apart from reading its own precompiled state, bounded in time for bounded
    input, and thread-safe. If it raises or overruns ``budget_ms`` (CPU time of the scanning thread),
    the pipeline records a ``SCANNER_ERROR`` finding with ``on_error`` as its response: never silence.

    A scanner with state to load or build (a model, compiled patterns, lookup tables) also defines
    ``warm_up() -> None``, which does all of it: :meth:`~warded.scan.pipeline.ScanPipeline.warm_up` calls
    it before the pipeline serves, so no caller's budget pays for a load. Every built-in scanner has one;
    for a third-party scanner without it, the pipeline's warm-up scans sample texts instead.
    """

    id: ClassVar[str]
    category: ClassVar[Category]
    on_error: ClassVar[Response]
    budget_ms: ClassVar[float]

    def scan(self, item: ScanInput) -> Sequence[Finding]: ...
