"""Discord credentials: ``secret.discord_token`` (bot and user tokens, three base64url parts whose first part
decodes to the numeric id of the account, and webhook URLs with their token)."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.secrets._base import Detector, Hit
from warded.scan.scanners.secrets._values import b64decode, placeholder_token


def _discord(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    token = p.text[start:end]
    raw = b64decode(token.split(".", 1)[0])
    if raw is None or not raw.isdigit() or not 15 <= len(raw) <= 20:
        return None  # the first part of a real token is the account's snowflake id, in base64
    if placeholder_token(token):
        return None
    return detector.hit(start, end)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="discord_token",
        rule="secret.discord_token",
        pattern=r"(?:^|[^A-Za-z0-9_\-.])([MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})\b",
        score=0.95,
        message="Discord bot or user token",
        validate=_discord,
    ),
    Detector(
        id="discord_webhook",
        rule="secret.discord_token",
        pattern=r"\bhttps?://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{15,20}/([A-Za-z0-9_\-]{60,72})",
        score=0.9,
        message="Discord webhook URL",
    ),
)
