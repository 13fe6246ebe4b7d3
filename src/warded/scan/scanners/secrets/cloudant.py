"""``secret.cloudant_credential``: IBM Cloudant passwords and API keys, in a ``https://user:pass@host
.cloudant.com`` URL or assigned to a Cloudant key name (64 hex digits, or a 24-letter API key), the forms
detect-secrets' ``CloudantDetector`` reads."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.secrets._assign import ASSIGN
from warded.scan.scanners.secrets._base import Detector, Hit
from warded.scan.scanners.secrets._values import password_value_ok, placeholder_token, shannon_entropy


def _cloudant_url(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    if not password_value_ok(p.text[start:end]):
        return None
    return detector.hit(start, end)


def _cloudant_key(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    value = p.text[start:end]
    if placeholder_token(value) or shannon_entropy(value) < 3.0:
        return None
    return detector.hit(start, end)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="cloudant_url",
        rule="secret.cloudant_credential",
        pattern=r"(?i)\bhttps?://[A-Za-z0-9_\-]+:([^\s:/?#@\"'<>]+)@[A-Za-z0-9_\-]+\.cloudant(?:nosqldb)?\.(?:com|appdomain\.cloud)",
        score=0.95,
        message="Cloudant credentials in a URL",
        validate=_cloudant_url,
    ),
    Detector(
        id="cloudant_key",
        rule="secret.cloudant_credential",
        pattern=(
            r"(?i)\b(?:cloudant|cl|clou)[_\-.]?(?:api)?[_\-.]?(?:key|pwd|pw|password|pass|token)"
            + ASSIGN
            + r"((?-i:[0-9a-f]{64}|[a-z]{24}))(?:[^0-9A-Za-z]|$)"
        ),
        score=0.85,
        message="Cloudant password or API key",
        validate=_cloudant_key,
    ),
)
