"""AWS credentials: access key ids, secret access keys (assigned to their name, or a random 40-character
run close to a key id), session tokens, and Amazon Bedrock API keys (long-term ``ABSK...``,
short-term ``bedrock-api-key-...``)."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared, compile_one
from warded.scan.scanners.secrets._base import Detector, Hit
from warded.scan.scanners.secrets._values import placeholder_token, random_looking

# a 40-character AWS secret near a key id, and its surroundings
_AWS_SECRET_NEAR = compile_one(r"(?:^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)")
_AWS_WINDOW = 400


def _key_id(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    value = p.text[start:end]
    if value.endswith("EXAMPLE") or placeholder_token(value[4:]):
        return None  # AWS's documented example key id, or a stand-in such as AKIAXXXXXXXXXXXXXXXX
    return detector.hit(start, end)


def _secret_near(p: Prepared, m: Any) -> list[Hit]:
    """A 40-character base64 run close to an access key id is its secret key (if it looks random)."""
    b_start, b_end = m.span(1)
    lo, hi = max(0, b_start - _AWS_WINDOW), min(len(p.data), b_end + _AWS_WINDOW)
    out: list[Hit] = []
    for near in _AWS_SECRET_NEAR.finditer(p.data, lo, hi):
        start, end = p.span(near, 1)
        value = p.text[start:end]
        if random_looking(value) and any(ch.isupper() for ch in value) and any(ch.islower() for ch in value):
            out.append(AWS_SECRET_ACCESS_KEY.hit(start, end, score=0.85))
    return out


AWS_SECRET_ACCESS_KEY = Detector(
    id="aws_secret_access_key",
    rule="secret.aws_secret_access_key",
    pattern=(
        r"(?i)\baws_?(?:secret_?access_?key|secret_?key|secret)[\"']?\s*(?::=|=>|=|:)\s*[\"']?"
        r"([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"
    ),
    score=0.9,
    message="AWS secret access key",
)

AWS_ACCESS_KEY_ID = Detector(
    id="aws_access_key_id",
    rule="secret.aws_access_key_id",
    pattern=r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
    score=0.85,
    message="AWS access key id",
    validate=_key_id,
    nearby=_secret_near,
)

AWS_SESSION_TOKEN = Detector(
    id="aws_session_token",
    rule="secret.aws_session_token",
    pattern=r"(?i)\baws_?session_?token[\"']?\s*(?::=|=>|=|:)\s*[\"']?([A-Za-z0-9/+=]{100,})",
    score=0.85,
    message="AWS session token",
)

AWS_BEDROCK_API_KEY = Detector(
    id="aws_bedrock_api_key",
    rule="secret.aws_bedrock_api_key",
    pattern=r"\b(ABSK[A-Za-z0-9+/]{109,269}={0,2})(?:[^A-Za-z0-9+/=]|$)",
    score=0.9,
    message="Amazon Bedrock long-term API key",
)

AWS_BEDROCK_SHORT_TERM_KEY = Detector(
    id="aws_bedrock_short_term_key",
    rule="secret.aws_bedrock_api_key",
    pattern=r"\b(bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%_\-]{20,})",
    score=0.9,
    message="Amazon Bedrock short-term API key",
)

DETECTORS: tuple[Detector, ...] = (
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN,
    AWS_BEDROCK_API_KEY,
    AWS_BEDROCK_SHORT_TERM_KEY,
)
