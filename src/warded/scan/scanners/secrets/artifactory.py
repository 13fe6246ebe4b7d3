"""``secret.artifactory_token``: JFrog Artifactory API keys (``AKCp`` and 69 alphanumerics) and reference
tokens (``cmVmd``, base64 of ``ref``, and 59 alphanumerics)."""

from __future__ import annotations

from warded.scan.scanners.secrets._base import Detector

DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="artifactory_api_key",
        rule="secret.artifactory_token",
        pattern=r"\b(AKCp[A-Za-z0-9]{69})\b",
        score=0.9,
        message="Artifactory API key",
    ),
    Detector(
        id="artifactory_reference_token",
        rule="secret.artifactory_token",
        pattern=r"\b(cmVmd[A-Za-z0-9]{59})\b",
        score=0.85,
        message="Artifactory reference token",
    ),
)
