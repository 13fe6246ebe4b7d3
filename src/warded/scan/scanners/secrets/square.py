"""``secret.square_token``: Square OAuth secrets (``sq0csp-``), access tokens (``sq0atp-`` and the newer
``EAAA`` form with 60 characters)."""

from __future__ import annotations

from warded.scan.scanners.secrets._assign import AFTER_VALUE
from warded.scan.scanners.secrets._base import Detector

DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="square_oauth_secret",
        rule="secret.square_token",
        pattern=r"\b(sq0csp-[0-9A-Za-z_\-]{43})" + AFTER_VALUE,
        score=0.95,
        message="Square OAuth secret",
    ),
    Detector(
        id="square_access_token",
        rule="secret.square_token",
        pattern=r"\b(sq0atp-[0-9A-Za-z_\-]{22,60}|EAAA[0-9A-Za-z_\-]{60})" + AFTER_VALUE,
        score=0.9,
        message="Square access token",
    ),
)
