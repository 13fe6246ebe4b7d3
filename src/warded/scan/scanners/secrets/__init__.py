"""The ``secrets`` scanner: credentials in text, with exact spans in the original text.

Each credential format is one :class:`~warded.scan.scanners.secrets._base.Detector` row holding its permanent
name, rule id, RE2 pattern, score, message, overlap tier and validator. Three kinds of evidence, strongest
first (the tiers):

1. **Token formats** with a fixed, distinctive shape (``aws``, ``cloud``, ``tokens``, ``private_keys``,
   ``jwt`` and one module per further vendor): AWS access key ids and Amazon Bedrock API keys, GCP API keys
   and service-account private keys, Google OAuth client secrets and tokens, Azure storage keys, SAS
   signatures and client secrets, GitHub, GitLab, Slack (tokens and ``http``/``https`` webhooks), Stripe,
   OpenAI, Anthropic, Hugging Face (user and ``api_org_`` tokens), Twilio, SendGrid, npm and PyPI tokens,
   SoftLayer API keys (``softlayer``), Telegram bot tokens (``telegram``), IBM Cloud IAM keys and COS HMAC
   secrets (``ibm``), Artifactory API and reference tokens (``artifactory``), Mailchimp keys
   (``mailchimp``), Discord tokens and webhooks (``discord``), Square OAuth secrets and access tokens
   (``square``), Cloudant passwords and API keys (``cloudant``), PEM private
   keys (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP), and JWTs (three base64url parts whose header
   decodes to a JSON object with ``"alg"``).
2. **Connection strings** carrying a password (``connection_strings``): ``scheme://user:pass@host`` URLs
   (databases, queues, caches and any other scheme), JDBC ``password=`` parameters, and ADO/ODBC
   ``Server=...;Password=...`` strings. The span is the password alone, so a redacted URL still says where
   it pointed.
3. **Key-like context** (``keywords``): a value assigned to a name such as ``api_key``, ``client_secret``,
   ``token`` or ``password`` (``=``, ``:``, ``:=``, ``=>``, quoted or not), ``Authorization: Bearer/Basic
   ...`` headers, and an AWS secret access key next to its key id. Such a value counts only if it looks
   random: Shannon entropy over its characters, compared with what a uniformly random string of the same
   length and alphabet (hex or base64) would reach. A fixed threshold (detect-secrets uses 3.0 for hex and
   4.5 for base64) cannot work for short values, whose entropy is capped by ``log2(length)``, so the bar
   here is a fraction of the expected random entropy for that length; values must also mix letters and
   digits. Passwords are judged by composition instead (letters plus digits or symbols, not an
   identifier). Placeholders (``<your-key>``, ``${API_KEY}``, ``xxxx``, ``changeme``), references
   (``os.environ[...]``, ``settings.API_KEY``) and monotone runs (``abcdef123456``) never count. Names are
   read as words, whatever their spelling (``apiKeyId``, ``API_KEY_ID``, ``api-key-id``), and names of
   identifiers (``..._id``, ``...Id``, ``tenantID``) hold no secret: a UUID under them is an id.

Placeholders are not credentials in any form: a token-format match whose variable part is filler
(``ghp_xxxx...``, ``AKIAXXXXXXXXXXXXXXXX``, ``sk_live_0000...``), a few characters repeated, a run such
as ``1234567890`` or ``abcdef...``, or a placeholder word (``YOUR...HERE``, ``example``) is not reported
(:func:`~warded.scan.scanners.secrets._values.placeholder_token`). Each test is one a random token fails with
negligible probability (a filler run of 6, fewer distinct characters than a fifth of a 12+ character part,
...), so real tokens stay found.

Rule ids are ``secret.<kind>``; see :data:`RULES`. A finding's ``detail`` holds the kind and a keyed
fingerprint (HMAC-SHA256 under ``fingerprint_key``, random per scanner unless configured), never the value
nor a plain hash of it: a plain hash of a password could be reversed by trying candidates. The suggested
response is ``DENY`` for tool-call arguments (a credential leaving through a tool) and ``REDACT`` for
every other source, where the text can be passed on with the secret masked; the policy decides.

All matching is RE2 (linear time) over the UTF-8 text: one literal prefilter picks the few patterns that
can match, then each runs once. Python validation touches only bounded candidates.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from bisect import bisect_left
from collections.abc import Iterable
from typing import ClassVar

from warded.scan.scanners._re2text import PatternBank, Prepared
from warded.scan.scanners.secrets import (
    artifactory,
    aws,
    cloud,
    cloudant,
    connection_strings,
    discord,
    ibm,
    jwt,
    keywords,
    mailchimp,
    private_keys,
    softlayer,
    square,
    telegram,
    tokens,
)
from warded.scan.scanners.secrets._base import Detector, Hit, Tier, Variant
from warded.scan.scanners.secrets._values import (
    expected_random_entropy,
    is_sequential,
    looks_placeholder,
    password_like,
    password_value_ok,
    placeholder_token,
    random_looking,
    shannon_entropy,
)
from warded.scan.scanners.secrets.keywords import key_words
from warded.scan.types import Category, Finding, Response, ScanInput, Source

__all__ = [
    "DETECTORS",
    "RULES",
    "Detector",
    "SecretsScanner",
    "Tier",
    "Variant",
    "expected_random_entropy",
    "is_sequential",
    "key_words",
    "looks_placeholder",
    "password_like",
    "password_value_ok",
    "placeholder_token",
    "random_looking",
    "shannon_entropy",
]

#: Every detector, in the order their patterns are tried.
DETECTORS: tuple[Detector, ...] = (
    *aws.DETECTORS,
    *cloud.DETECTORS,
    *tokens.DETECTORS,
    *softlayer.DETECTORS,
    *telegram.DETECTORS,
    *ibm.DETECTORS,
    *artifactory.DETECTORS,
    *mailchimp.DETECTORS,
    *discord.DETECTORS,
    *square.DETECTORS,
    *cloudant.DETECTORS,
    *private_keys.DETECTORS,
    *jwt.DETECTORS,
    *connection_strings.DETECTORS,
    *keywords.DETECTORS,
)

#: Rule ids this scanner can report.
RULES: tuple[str, ...] = tuple(sorted({rule for detector in DETECTORS for rule in detector.rules}))

_BY_ID: dict[str, Detector] = {detector.id: detector for detector in DETECTORS}
_BANK = PatternBank({detector.id: detector.pattern for detector in DETECTORS})


class SecretsScanner:
    """Finds credentials in the raw text. Pure and thread-safe: all state is read-only after ``__init__``.

    ``fingerprint_key``: HMAC key for the ``fingerprint`` in each finding's detail; give a fixed key (from
    configuration, kept secret) to correlate the same credential across processes. ``rules``: the rule
    ids to report (default all of :data:`RULES`). ``deny_sources``: sources for which a finding suggests
    ``DENY``; the rest suggest ``REDACT``.
    """

    id: ClassVar[str] = "secrets"
    category: ClassVar[Category] = Category.SECRET
    #: A failed secrets scan cannot say what to mask: the text must not pass.
    on_error: ClassVar[Response] = Response.DENY
    budget_ms: ClassVar[float] = 250.0

    def __init__(
        self,
        *,
        fingerprint_key: bytes | str | None = None,
        rules: Iterable[str] | None = None,
        deny_sources: Iterable[Source | str] = (Source.ARGUMENT,),
    ) -> None:
        if isinstance(fingerprint_key, str):
            fingerprint_key = fingerprint_key.encode("utf-8")
        if fingerprint_key is not None and len(fingerprint_key) < 16:
            raise ValueError("fingerprint_key must be at least 16 bytes")
        self._key = fingerprint_key if fingerprint_key is not None else os.urandom(32)
        enabled = frozenset(RULES if rules is None else rules)
        unknown = enabled - set(RULES)
        if unknown:
            raise ValueError(f"unknown secret rule(s): {', '.join(sorted(unknown))}")
        self.rules = enabled
        self.deny_sources = frozenset(Source(s) for s in deny_sources)

    def __repr__(self) -> str:
        return f"SecretsScanner(rules={len(self.rules)}, fingerprint_key='**********')"

    def warm_up(self) -> None:
        """Patterns are compiled at import; run the prefilter and every kind of handler once so RE2's
        automata and the entropy tables are built before the first caller's text."""
        self.find(
            "api_key = 'Zk3fQ9pLm2Xv8RtY7wNb4HcJ' password=hunter2x9 postgres://app:S3cretPass@db.internal/app "
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl AKIAQ7RZ4WXN2JD5KLMP "
            "ghp_Zk3fQ9pLm2Xv8RtY7wNb4HcJa6TgE1sUoPi0 Server=db;Password=Xy7pQ2zL; Authorization: Basic dXNlcjpwYXNz"
        )

    def scan(self, item: ScanInput) -> list[Finding]:
        suggested = Response.DENY if item.source in self.deny_sources else Response.REDACT
        return self.find(item.text, suggested=suggested)

    def find(self, text: str, *, suggested: Response = Response.REDACT) -> list[Finding]:
        """All secret findings in ``text``, sorted by span, with overlaps resolved."""
        prepared = Prepared(text)
        hits: list[Hit] = []
        extra: list[Hit] = []
        for name in _BANK.candidates(prepared):
            detector = _BY_ID[name]
            validate, nearby = detector.validate, detector.nearby
            for match in _BANK.finditer(name, prepared):
                hit = validate(detector, prepared, match)
                if hit is None:
                    continue
                hits.append(hit)
                if nearby is not None:
                    extra.extend(nearby(prepared, match))
        kept = _resolve([hit for hit in hits + extra if hit.rule in self.rules])
        return [self._finding(prepared.text, hit, suggested) for hit in kept]

    def _finding(self, text: str, hit: Hit, suggested: Response) -> Finding:
        value = text[hit.start : hit.end]
        mac = hmac.new(self._key, value.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:16]
        detail = {"kind": hit.kind, "fingerprint": f"hmac-sha256:{mac}", **hit.detail}
        return Finding(
            hit.rule,
            Category.SECRET,
            hit.score,
            hit.message,
            suggested=suggested,
            span=(hit.start, hit.end),
            layer="raw",
            detail=detail,
        )


def _resolve(hits: list[Hit]) -> list[Hit]:
    """Keep the most specific of overlapping hits: token formats, then connection strings, then context."""
    if len(hits) < 2:
        return hits
    kept: list[Hit] = []
    starts: list[int] = []
    ends: list[int] = []
    for hit in sorted(hits, key=lambda h: (h.tier, h.start, h.start - h.end, -h.score)):
        i = bisect_left(starts, hit.start)
        if i > 0 and ends[i - 1] > hit.start:
            continue
        if i < len(starts) and starts[i] < hit.end:
            continue
        starts.insert(i, hit.start)
        ends.insert(i, hit.end)
        kept.insert(i, hit)
    return kept
