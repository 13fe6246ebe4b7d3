"""``secret.softlayer_key``: IBM SoftLayer API keys, 64 lower-case alphanumerics assigned to a SoftLayer key
name (``softlayer_api_key``, ``SL_API_KEY``) or in the path of a SoftLayer SOAP endpoint URL (the two forms
detect-secrets' ``SoftlayerDetector`` reads)."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.secrets._assign import ASSIGN
from warded.scan.scanners.secrets._base import Detector, Hit
from warded.scan.scanners.secrets._values import placeholder_token, random_looking


def _softlayer(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    value = p.text[start:end]
    if placeholder_token(value) or not random_looking(value):
        return None
    return detector.hit(start, end)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="softlayer_api_key",
        rule="secret.softlayer_key",
        pattern=(r"(?i)\b(?:softlayer|sl)[_\-.]?(?:api)?[_\-.]?key" + ASSIGN + r"([a-z0-9]{64})(?:[^a-z0-9]|$)"),
        score=0.9,
        message="SoftLayer API key",
        validate=_softlayer,
    ),
    Detector(
        id="softlayer_api_url",
        rule="secret.softlayer_key",
        pattern=r"(?i)\bhttps?://api\.softlayer\.com/soap/v3(?:\.1)?/([a-z0-9]{64})(?:[^a-z0-9]|$)",
        score=0.9,
        message="SoftLayer API key in an endpoint URL",
        validate=_softlayer,
    ),
)
