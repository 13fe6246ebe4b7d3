"""Key-like context: a value assigned to a name such as ``api_key``, ``client_secret``, ``token`` or
``password`` (``=``, ``:``, ``:=``, ``=>``, quoted or not), and ``Authorization: Bearer/Basic ...`` headers.

Such a value counts only if it looks random (:func:`~warded.scan.scanners.secrets._values.random_looking`);
a value assigned to a password name is judged by composition instead
(:func:`~warded.scan.scanners.secrets._values.password_like`) and reported as ``secret.password``; a quoted
one may hold spaces and any symbol (``password = "my p@ss w0rd!"``, :func:`quoted_password_ok`), and so may
an unquoted one on a dotenv or shell line, which runs to the end of the line (``DB_PASSWORD=my p@ss 12``). Names are
read as words, whatever their spelling (``apiKeyId``, ``API_KEY_ID``, ``api-key-id``), and names of
identifiers (``..._id``, ``...Id``, ``tenantID``) hold no secret: a UUID under them is an id.
"""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.secrets._base import Detector, Hit, Tier, Variant
from warded.scan.scanners.secrets._values import (
    b64decode,
    identifier_like,
    is_sequential,
    looks_placeholder,
    password_like,
    random_looking,
)

_KEYWORDS = (
    r"api[_\-.]?key|apikey|api[_\-.]?secret|secret|token|passw(?:or)?d|passwd|pwd|private[_\-.]?key|"
    r"access[_\-.]?key|client[_\-.]?secret|auth[_\-.]?key|credentials?|signing[_\-.]?key|encryption[_\-.]?key|"
    r"session[_\-.]?key|app[_\-.]?key|master[_\-.]?key|webhook[_\-.]?secret|x-api-key"
)

#: A literal assigned to a password name.
PASSWORD = Variant("secret.password", 0.7, "password assigned in text", kind="password")


def key_words(name: str) -> str:
    """A key name as lower-case words joined by ``_``, however it was spelt: ``apiKeyId``, ``ApiKeyID``,
    ``API_KEY_ID`` and ``api-key-id`` all read ``api_key_id``; ``HTTPToken`` reads ``http_token``. Dots
    are kept (``settings.apiKey`` reads ``settings.api_key``)."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if ch == "-":
            out.append("_")
            continue
        if ch.isupper() and i > 0:
            prev = name[i - 1]
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _not_a_secret_name(key: str) -> bool:
    """Names that contain a keyword but hold no secret: ``max_tokens``, ``token_count``, ``tokenizer``,
    ``secret_name``, ``password_hint``..."""
    tail = key.rsplit(".", 1)[-1]
    for word in (
        "tokenizer",
        "tokens",
        "token_count",
        "token_type",
        "token_url",
        "token_uri",
        "token_endpoint",
        "token_limit",
        "token_id",
        "_name",
        "_hint",
        "_length",
        "_len",
        "_policy",
        "_file",
        "_path",
        "_ref",
        "_arn",
        "_env",
        "_id",
        "_field",
        "_type",
        "_version",
        "_url",
        "_uri",
        "_expires",
        "_expiry",
        "_ttl",
        "_usage",
        "_label",
        "_prompt",
    ):
        if tail.endswith(word) or f"{word}_" in tail:
            return True
    return False


def _is_code_expression(text: str, end: int, value: str) -> bool:
    """``x = base64.b16encode(...)``, ``key = CONFIG["k"]``: a call, subscript or dotted name, not a literal."""
    if end < len(text) and text[end] in "([":
        return True
    parts = value.split(".")
    return len(parts) > 1 and all(part.isidentifier() for part in parts)


def _assignment(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    key = key_words(m.group(1).decode("utf-8", "replace"))
    start, end = p.span(m, 2)
    value = p.text[start:end]
    # trailing sentence punctuation is not part of a value written in prose or YAML
    stripped = value.rstrip(".!?:")
    end -= len(value) - len(stripped)
    value = stripped
    if _not_a_secret_name(key) or _is_code_expression(p.text, end, value):
        return None
    if any(word in key for word in ("passw", "pwd")):
        if not password_like(value):
            return None
        return detector.variant_hit(PASSWORD, start, end)
    if not random_looking(value):
        return None
    return detector.hit(start, end)


#: Words of a user-interface message or a hint, not of a password (``"Password must be 8 characters"``).
_MESSAGE_WORDS = frozenset(
    {"must", "enter", "please", "your", "characters", "invalid", "required", "incorrect", "match", "least",
     "should", "cannot", "the", "is", "are", "was", "not", "for", "and", "with", "new", "confirm", "reset"}
)  # fmt: skip
_SENTENCE_PUNCTUATION = frozenset(" .,!?'")


def quoted_password_ok(value: str) -> bool:
    """A quoted password may hold spaces and any symbol. One with spaces counts only if it is short (at
    most five words), holds a digit or a symbol other than sentence punctuation, and reads as no message."""
    if " " not in value.strip():
        return password_like(value.strip())
    words = value.split()
    if not 2 <= len(words) <= 5 or len(value) > 64 or looks_placeholder(value):
        return False
    if any(word.lower().strip(".,!?:") in _MESSAGE_WORDS for word in words):
        return False
    return any(ch.isdigit() or (not ch.isalpha() and ch not in _SENTENCE_PUNCTUATION) for ch in value)


def _quoted_password(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    key = key_words(m.group(1).decode("utf-8", "replace"))
    group = 2 if m.span(2) != (-1, -1) else 3
    start, end = p.span(m, group)
    value = p.text[start:end]
    if _not_a_secret_name(key) or not quoted_password_ok(value):
        return None
    return detector.hit(start, end)


def _env_password(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    value = p.text[start:end]
    stripped = value.rstrip()
    end -= len(value) - len(stripped)
    if not quoted_password_ok(stripped):
        return None
    return detector.hit(start, end)


def _bearer(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    value = p.text[start:end]
    if len(value) < 16 or looks_placeholder(value) or identifier_like(value) or is_sequential(value):
        return None
    return detector.hit(start, end)


def _basic_auth(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    raw = b64decode(p.text[start:end].replace("+", "-").replace("/", "_"))
    if raw is None or b":" not in raw:
        return None
    _user, _, password = raw.partition(b":")
    if not password:
        return None
    return detector.hit(start, end)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="assignment",
        rule="secret.high_entropy",
        pattern=(
            r"(?i)((?:[a-z0-9_.\-]*(?:" + _KEYWORDS + r")[a-z0-9_.\-]*))[\"'\]]?[ \t]*(?::=|=>|=|:)[ \t]*"
            r"(?:[\"'`]|[br][\"'])?([^\s\"'`,;&<>(){}\[\]]{6,512})"
        ),
        score=0.75,
        message="high-entropy value assigned to a secret-like name",
        tier=Tier.CONTEXT,
        validate=_assignment,
        variants=(PASSWORD,),
    ),
    Detector(
        id="quoted_password",
        rule="secret.password",
        pattern=(
            r"(?i)((?:[a-z0-9_.\-]*(?:passw(?:or)?d|passwd|pwd|passphrase)[a-z0-9_.\-]*))[\"'\]]?[ \t]*"
            r"(?::=|=>|=|:)[ \t]*(?:\"([^\"\r\n]{1,256})\"|'([^'\r\n]{1,256})')"
        ),
        score=0.7,
        message="password assigned in text",
        tier=Tier.CONTEXT,
        validate=_quoted_password,
    ),
    Detector(
        id="env_password",
        rule="secret.password",
        # a dotenv / shell line ``DB_PASSWORD=my p@ss 12``: an unquoted value runs to the end of the line or to
        # a `` #`` comment
        pattern=(
            r"(?m)^[ \t]*(?:export[ \t]+)?[A-Z0-9_]*(?:PASSWORD|PASSWD|PWD|PASSPHRASE)[A-Z0-9_]*="
            r"([^\s\"'#][^\r\n\"'#]{0,255}?)(?:[ \t]+#[^\r\n]*)?$"
        ),
        score=0.7,
        message="password assigned in text",
        tier=Tier.CONTEXT,
        validate=_env_password,
    ),
    Detector(
        id="bearer",
        rule="secret.bearer_token",
        pattern=r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer|token)\s+([A-Za-z0-9_\-.~+/]{8,}=*)",
        score=0.8,
        message="bearer token in an Authorization header",
        tier=Tier.CONTEXT,
        validate=_bearer,
    ),
    Detector(
        id="basic_auth",
        rule="secret.basic_auth",
        pattern=r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?basic\s+([A-Za-z0-9+/]{8,}=*)",
        score=0.85,
        message="credentials in a Basic Authorization header",
        tier=Tier.CONTEXT,
        validate=_basic_auth,
    ),
)
