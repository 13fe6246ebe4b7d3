"""What a secrets detector declares: the permanent name of a credential format, the rule id it reports, its
RE2 pattern, score, message, overlap tier and validator, all in one frozen value (the shape of
detect-secrets' plugins). Formats are declared as rows; several rows may report one rule id
(``github_token`` and ``github_pat`` are both ``secret.github_token``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.secrets._values import placeholder_token


class Tier(IntEnum):
    """Where hits overlap, the lower tier wins: a token format is more specific than a connection string,
    which is more specific than a value judged by the name it is assigned to."""

    TOKEN = 0
    CONNECTION = 1
    CONTEXT = 2


@dataclass(frozen=True, slots=True)
class Hit:
    """A raw match before it becomes a :class:`~warded.scan.types.Finding` (the value is read only to
    fingerprint it). ``kind`` is reported in the finding's detail."""

    rule: str
    start: int
    end: int
    score: float
    message: str
    kind: str
    tier: Tier
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Variant:
    """Another rule a detector's validator may report for some of its matches (a private key inside a GCP
    service-account file is ``secret.gcp_service_account``). ``kind``: reported instead of the detector's."""

    rule: str
    score: float
    message: str
    kind: str | None = None


#: Judges one RE2 match (byte offsets, see :class:`Prepared`) of ``detector``'s pattern: a hit or ``None``.
Validator = Callable[["Detector", Prepared, Any], Hit | None]
#: Looks around an accepted match for more hits (they rank after the matches of every pattern).
Nearby = Callable[[Prepared, Any], list[Hit]]


def token(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    """The default validator: the secret is group 1 (or the whole match) and must not be a placeholder."""
    group = 1 if m.re.groups >= 1 and m.span(1) != (-1, -1) else 0
    start, end = p.span(m, group)
    if start >= end or placeholder_token(p.text[start:end]):
        return None
    return detector.hit(start, end)


@dataclass(frozen=True, slots=True)
class Detector:
    """One credential format.

    ``id``: the permanent name of the format (the finding's ``detail["kind"]``, unique). ``rule``: the rule
    id of its findings. ``pattern``: RE2, with the secret in group 1 where the match is wider. ``validate``:
    judges each match (default :func:`token`). ``variants``: the other rules ``validate`` may report.
    ``nearby``: run after each accepted match to find a companion secret (an AWS secret key near its id).
    """

    id: str
    rule: str
    pattern: str
    score: float
    message: str
    tier: Tier = Tier.TOKEN
    validate: Validator = token
    variants: tuple[Variant, ...] = ()
    nearby: Nearby | None = None

    @property
    def rules(self) -> tuple[str, ...]:
        """Every rule id this detector can report."""
        return (self.rule, *(variant.rule for variant in self.variants))

    def hit(self, start: int, end: int, *, score: float | None = None, detail: Mapping[str, str] | None = None) -> Hit:
        score = self.score if score is None else score
        return Hit(self.rule, start, end, score, self.message, self.id, self.tier, dict(detail or {}))

    def variant_hit(self, variant: Variant, start: int, end: int, detail: Mapping[str, str] | None = None) -> Hit:
        kind = self.id if variant.kind is None else variant.kind
        return Hit(variant.rule, start, end, variant.score, variant.message, kind, self.tier, dict(detail or {}))
