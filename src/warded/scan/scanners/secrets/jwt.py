"""JSON Web Tokens: three base64url parts whose header decodes to a JSON object with a string ``"alg"``.
An unsigned token (empty third part) scores lower and says ``alg: none``."""

from __future__ import annotations

import json
from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.secrets._base import Detector, Hit
from warded.scan.scanners.secrets._values import b64decode


def _jwt(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    token = p.text[start:end]
    header_part, _payload, signature = token.split(".", 2)
    if len(header_part) > 2048:
        return None
    raw = b64decode(header_part)
    if raw is None:
        return None
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return None
    if not signature:
        return detector.hit(start, end, score=0.7, detail={"alg": "none"})
    return detector.hit(start, end)


JWT = Detector(
    id="jwt",
    rule="secret.jwt",
    pattern=r"\b(eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*)",
    score=0.85,
    message="JSON Web Token",
    validate=_jwt,
)

DETECTORS: tuple[Detector, ...] = (JWT,)
