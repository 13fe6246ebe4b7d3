"""``secret.telegram_bot_token``: Telegram Bot API tokens, ``<bot id>:AA<33 characters>`` (the id is 5 to 16
digits; every token the BotFather issues has a 35-character secret part starting ``AA``), alone or in a Bot
API URL (``/bot<token>/getMe``)."""

from __future__ import annotations

from warded.scan.scanners.secrets._assign import AFTER_VALUE
from warded.scan.scanners.secrets._base import Detector

DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="telegram_bot_token",
        rule="secret.telegram_bot_token",
        pattern=r"(?:^|[^0-9A-Za-z_\-:]|/bot)(\d{5,16}:AA[0-9A-Za-z_\-]{33})" + AFTER_VALUE,
        score=0.95,
        message="Telegram bot token",
    ),
)
