"""What a PII detector declares: its permanent rule id, RE2 pattern(s) with their validators, its score,
message and overlap priority, all in one frozen value (the shape of detect-secrets' plugins)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.types import Category, Finding, Response


@dataclass(frozen=True, slots=True)
class Settings:
    """The scanner options a validator may read (see :class:`~warded.scan.scanners.pii.PiiScanner`)."""

    default_region: str
    ignore_private_ips: bool
    ignore_loopback_ips: bool
    #: Regions tried, in order, for a phone number written without ``+`` (``default_region`` first).
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    """A validated match: its span in the original text, a score if it differs from the detector's, and
    the detail to report (never a part of the value)."""

    start: int
    end: int
    score: float | None = None
    detail: Mapping[str, str] = field(default_factory=dict)


#: Judges one RE2 match (byte offsets, see :class:`Prepared`) on the candidate alone: a hit or ``None``.
Validator = Callable[[Prepared, Any, Settings], Hit | None]


@dataclass(frozen=True, slots=True)
class Pattern:
    """One RE2 pattern and the validator of its matches. ``name`` is unique within the scanner (it names
    the pattern in the shared prefilter)."""

    name: str
    regex: str
    validate: Validator


@dataclass(frozen=True, slots=True)
class Detector:
    """One kind of personal data.

    ``id``: the permanent rule id of its findings. ``priority``: where two findings overlap, the lower
    priority wins (the more specific kind). ``rescan``: the patterns find greedy digit runs, so after a
    rejected candidate the search resumes at the next token inside it rather than after it.
    """

    id: str
    message: str
    score: float
    priority: int
    patterns: tuple[Pattern, ...]
    rescan: bool = False
    suggested: Response = Response.REDACT

    def finding(self, hit: Hit) -> Finding:
        return Finding(
            self.id,
            Category.PII,
            self.score if hit.score is None else hit.score,
            self.message,
            suggested=self.suggested,
            span=(hit.start, hit.end),
            layer="raw",
            detail=dict(hit.detail),
        )
