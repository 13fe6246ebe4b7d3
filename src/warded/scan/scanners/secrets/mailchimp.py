"""``secret.mailchimp_key``: Mailchimp API keys, 32 hex digits and the data-centre suffix (``-us21``)."""

from __future__ import annotations

from warded.scan.scanners.secrets._base import Detector

DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="mailchimp_api_key",
        rule="secret.mailchimp_key",
        pattern=r"\b([0-9a-f]{32}-us\d{1,2})\b",
        score=0.9,
        message="Mailchimp API key",
    ),
)
