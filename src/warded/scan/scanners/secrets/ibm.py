"""IBM Cloud credentials: ``secret.ibm_cloud_iam_key`` (a 44-character IAM API key assigned to an IBM, IAM or
cloud key name, the form detect-secrets' ``IbmCloudIamDetector`` reads) and ``secret.ibm_cos_hmac`` (the
48-hex-digit ``secret_access_key`` of a Cloud Object Storage HMAC credential, as the service-credential JSON
``cos_hmac_keys`` writes it)."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.secrets._assign import AFTER_VALUE, ASSIGN
from warded.scan.scanners.secrets._base import Detector, Hit
from warded.scan.scanners.secrets._values import placeholder_token, random_looking


def _random(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    value = p.text[start:end]
    if placeholder_token(value) or not random_looking(value):
        return None
    return detector.hit(start, end)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="ibm_cloud_iam_key",
        rule="secret.ibm_cloud_iam_key",
        pattern=(
            r"(?i)\b[a-z0-9_.\-]*(?:ibm|iam|cloud)[_\-.]?(?:api)[_\-.]?(?:key|pwd|password|pass|token)"
            + ASSIGN
            + r"([A-Za-z0-9_\-]{44})"
            + AFTER_VALUE
        ),
        score=0.9,
        message="IBM Cloud IAM API key",
        validate=_random,
    ),
    Detector(
        id="ibm_cos_hmac_secret",
        rule="secret.ibm_cos_hmac",
        pattern=(r"(?i)\b(?:cos[_\-.]?)?secret[_\-.]?access[_\-.]?key" + ASSIGN + r"([a-f0-9]{48})(?:[^a-f0-9]|$)"),
        score=0.9,
        message="IBM Cloud Object Storage HMAC secret key",
        validate=_random,
    ),
)
