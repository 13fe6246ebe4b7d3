"""The ``secrets`` scanner: credentials in text, with exact spans in the original text.

Three kinds of evidence, strongest first:

1. **Token formats** with a fixed, distinctive shape: AWS access key ids, GCP API keys and service-account
   private keys, Google OAuth client secrets and tokens, Azure storage keys, SAS signatures and client
   secrets, GitHub, GitLab, Slack (tokens and webhooks), Stripe, OpenAI, Anthropic, Hugging Face, Twilio,
   SendGrid, npm and PyPI tokens, PEM private keys (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP), and
   JWTs (three base64url parts whose header decodes to a JSON object with ``"alg"``).
2. **Connection strings** carrying a password: ``scheme://user:pass@host`` URLs (databases, queues, caches
   and any other scheme), JDBC ``password=`` parameters, and ADO/ODBC ``Server=...;Password=...`` strings.
   The span is the password alone, so a redacted URL still says where it pointed.
3. **Key-like context**: a value assigned to a name such as ``api_key``, ``client_secret``, ``token`` or
   ``password`` (``=``, ``:``, ``:=``, ``=>``, quoted or not), ``Authorization: Bearer/Basic ...`` headers,
   and an AWS secret access key next to its key id. Such a value counts only if it looks random: Shannon
   entropy over its characters, compared with what a uniformly random string of the same length and
   alphabet (hex or base64) would reach. A fixed threshold (detect-secrets uses 3.0 for hex and 4.5 for
   base64) cannot work for short values, whose entropy is capped by ``log2(length)``, so the bar here is a
   fraction of the expected random entropy for that length; values must also mix letters and digits.
   Passwords are judged by composition instead (letters plus digits or symbols, not an identifier).
   Placeholders (``<your-key>``, ``${API_KEY}``, ``xxxx``, ``changeme``), references
   (``os.environ[...]``, ``settings.API_KEY``) and monotone runs (``abcdef123456``) never count.
   Names are read as words, whatever their spelling (``apiKeyId``, ``API_KEY_ID``, ``api-key-id``), and
   names of identifiers (``..._id``, ``...Id``, ``tenantID``) hold no secret: a UUID under them is an id.

Placeholders are not credentials in any form: a token-format match whose variable part is filler
(``ghp_xxxx...``, ``AKIAXXXXXXXXXXXXXXXX``, ``sk_live_0000...``), a few characters repeated, a run such
as ``1234567890`` or ``abcdef...``, or a placeholder word (``YOUR...HERE``, ``example``) is not reported
(:func:`placeholder_token`). Each test is one a random token fails with negligible probability (a filler
run of 6, fewer distinct characters than a fifth of a 12+ character part, ...), so real tokens stay found.

Rule ids are ``secret.<kind>``; see :data:`RULES`. A finding's ``detail`` holds the kind and a keyed
fingerprint (HMAC-SHA256 under ``fingerprint_key``, random per scanner unless configured), never the value
nor a plain hash of it: a plain hash of a password could be reversed by trying candidates. The suggested
response is ``DENY`` for tool-call arguments (a credential leaving through a tool) and ``REDACT`` for
every other source, where the text can be passed on with the secret masked; the policy decides.

All matching is RE2 (linear time) over the UTF-8 text: one literal prefilter picks the few patterns that
can match, then each runs once. Python validation touches only bounded candidates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import math
import os
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from warded.scan.scanners._re2text import PatternBank, Prepared, compile_one
from warded.scan.types import Category, Finding, Response, ScanInput, Source

# name -> (rule id, score, message). Patterns put the secret in group 1 where the match is wider.
_TOKEN_RULES: dict[str, tuple[str, float, str]] = {
    "aws_access_key_id": ("secret.aws_access_key_id", 0.85, "AWS access key id"),
    "aws_secret_access_key": ("secret.aws_secret_access_key", 0.9, "AWS secret access key"),
    "aws_session_token": ("secret.aws_session_token", 0.85, "AWS session token"),
    "gcp_api_key": ("secret.gcp_api_key", 0.9, "Google Cloud API key"),
    "google_oauth_client_secret": ("secret.google_oauth", 0.95, "Google OAuth client secret"),
    "google_oauth_token": ("secret.google_oauth", 0.85, "Google OAuth access or refresh token"),
    "azure_storage_key": ("secret.azure_storage_key", 0.95, "Azure storage account key"),
    "azure_sas": ("secret.azure_sas_token", 0.9, "Azure shared access signature"),
    "azure_sas_reversed": ("secret.azure_sas_token", 0.9, "Azure shared access signature"),
    "azure_client_secret": ("secret.azure_client_secret", 0.85, "Azure AD client secret"),
    "github_token": ("secret.github_token", 0.97, "GitHub token"),
    "github_pat": ("secret.github_token", 0.97, "GitHub fine-grained personal access token"),
    "gitlab_token": ("secret.gitlab_token", 0.95, "GitLab token"),
    "gitlab_runner": ("secret.gitlab_token", 0.95, "GitLab runner registration token"),
    "slack_token": ("secret.slack_token", 0.95, "Slack token"),
    "slack_app_token": ("secret.slack_token", 0.95, "Slack app-level token"),
    "slack_webhook": ("secret.slack_webhook", 0.9, "Slack incoming webhook URL"),
    "stripe_key": ("secret.stripe_key", 0.95, "Stripe secret or restricted key"),
    "stripe_webhook": ("secret.stripe_key", 0.9, "Stripe webhook signing secret"),
    "openai_key": ("secret.openai_key", 0.97, "OpenAI API key"),
    "openai_project_key": ("secret.openai_key", 0.95, "OpenAI API key"),
    "openai_legacy_key": ("secret.openai_key", 0.85, "OpenAI-style API key"),
    "anthropic_key": ("secret.anthropic_key", 0.97, "Anthropic API key"),
    "huggingface_token": ("secret.huggingface_token", 0.9, "Hugging Face access token"),
    "twilio_api_key": ("secret.twilio_key", 0.8, "Twilio API key SID"),
    "twilio_auth_token": ("secret.twilio_key", 0.85, "Twilio auth token"),
    "sendgrid_key": ("secret.sendgrid_key", 0.97, "SendGrid API key"),
    "npm_token": ("secret.npm_token", 0.95, "npm access token"),
    "npm_authtoken": ("secret.npm_token", 0.85, "npm registry auth token"),
    "pypi_token": ("secret.pypi_token", 0.97, "PyPI upload token"),
    "private_key": ("secret.private_key", 0.99, "private key"),
    "private_key_header": ("secret.private_key", 0.9, "private key (truncated block)"),
    "jwt": ("secret.jwt", 0.85, "JSON Web Token"),
    "url_credentials": ("secret.connection_string", 0.9, "password in a connection URL"),
    "jdbc_password": ("secret.connection_string", 0.9, "password in a JDBC URL"),
    "odbc_password": ("secret.connection_string", 0.85, "password in a connection string"),
    "odbc_password_first": ("secret.connection_string", 0.85, "password in a connection string"),
    "assignment": ("secret.high_entropy", 0.75, "high-entropy value assigned to a secret-like name"),
    "bearer": ("secret.bearer_token", 0.8, "bearer token in an Authorization header"),
    "basic_auth": ("secret.basic_auth", 0.85, "credentials in a Basic Authorization header"),
}

#: Rule ids this scanner can report.
RULES: tuple[str, ...] = tuple(
    sorted(
        {rule for rule, _, _ in _TOKEN_RULES.values()}
        | {"secret.password", "secret.gcp_service_account", "secret.url_credentials"}
    )
)

_DB_SCHEMES = frozenset(
    {
        "postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis", "rediss", "amqp",
        "amqps", "mssql", "sqlserver", "oracle", "clickhouse", "cockroachdb", "couchdb", "neo4j", "neo4j+s",
        "bolt", "nats", "kafka", "snowflake", "cassandra", "memcached", "elasticsearch", "influxdb",
        "postgresql+psycopg2", "postgresql+asyncpg", "mysql+pymysql", "db2", "sqlite", "ldap", "ldaps",
    }
)  # fmt: skip

_KEYWORDS = (
    r"api[_\-.]?key|apikey|api[_\-.]?secret|secret|token|passw(?:or)?d|passwd|pwd|private[_\-.]?key|"
    r"access[_\-.]?key|client[_\-.]?secret|auth[_\-.]?key|credentials?|signing[_\-.]?key|encryption[_\-.]?key|"
    r"session[_\-.]?key|app[_\-.]?key|master[_\-.]?key|webhook[_\-.]?secret|x-api-key"
)

_PATTERNS: dict[str, str] = {
    "aws_access_key_id": r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
    "aws_secret_access_key": (
        r"(?i)\baws_?(?:secret_?access_?key|secret_?key|secret)[\"']?\s*(?::=|=>|=|:)\s*[\"']?"
        r"([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"
    ),
    "aws_session_token": r"(?i)\baws_?session_?token[\"']?\s*(?::=|=>|=|:)\s*[\"']?([A-Za-z0-9/+=]{100,})",
    "gcp_api_key": r"\b(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|$)",
    "google_oauth_client_secret": r"\b(GOCSPX-[A-Za-z0-9_\-]{28})(?:[^A-Za-z0-9_\-]|$)",
    "google_oauth_token": r"\b(ya29\.[0-9A-Za-z_\-]{20,}|1//0[0-9A-Za-z_\-]{30,})",
    "azure_storage_key": r"(?i)\bAccountKey\s*=\s*([A-Za-z0-9+/]{86}==)",
    "azure_sas": r"\b(?:sv|se|sp|sr|ss|srt|spr|st|skoid)=[^\s\"'<>]*?[?&;]sig=([A-Za-z0-9%+/]{20,}(?:%3[Dd]|=){0,2})",
    "azure_sas_reversed": r"[?&;]sig=([A-Za-z0-9%+/]{20,}(?:%3[Dd]|=){0,2})&[^\s\"'<>]*?\bsv=\d{4}-\d{2}-\d{2}",
    "azure_client_secret": (
        r"(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)"
    ),
    "github_token": r"\b(gh[pousr]_[A-Za-z0-9]{36,251})\b",
    "github_pat": r"\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
    "gitlab_token": (
        r"\b(gl(?:pat|dt|rt|ptt|soat|cbt|imt|ft|oas|agent)-[0-9A-Za-z_\-]{20,64}(?:\.[0-9a-z]{2}\.[0-9a-z]{9})?)"
        r"(?:[^0-9A-Za-z_\-.]|$)"
    ),
    "gitlab_runner": r"\b(GR1348941[0-9A-Za-z_\-]{20,})",
    "slack_token": r"\b(xox[abposer]-(?:[0-9]+-)+[0-9A-Za-z\-]{6,})",
    "slack_app_token": r"\b(xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]{32,})",
    "slack_webhook": r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_]+/[A-Za-z0-9_]+/[A-Za-z0-9_]{16,})",
    "stripe_key": r"\b((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,247})\b",
    "stripe_webhook": r"\b(whsec_[A-Za-z0-9+/=]{32,})",
    "openai_key": r"\b(sk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_\-]{10,}T3BlbkFJ[A-Za-z0-9_\-]{10,})",
    "openai_project_key": r"\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,})",
    "openai_legacy_key": r"\b(sk-[A-Za-z0-9]{48})\b",
    "anthropic_key": r"\b(sk-ant-(?:api|admin|oat|sid)\d{2}-[A-Za-z0-9_\-]{32,})",
    "huggingface_token": r"\b(hf_[A-Za-z0-9]{34,40})\b",
    "twilio_api_key": r"\b(SK[0-9a-f]{32})\b",
    "twilio_auth_token": (
        r"(?i)\btwilio[a-z_ \-]{0,20}?(?:auth)?[_ \-]?token[\"']?\s*(?::=|=>|=|:)\s*[\"']?([0-9a-f]{32})\b"
    ),
    "sendgrid_key": r"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})(?:[^A-Za-z0-9_\-]|$)",
    "npm_token": r"\b(npm_[A-Za-z0-9]{36})\b",
    "npm_authtoken": r":_authToken\s*=\s*[\"']?([A-Za-z0-9_\-.=+/]{16,})",
    "pypi_token": r"\b(pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,})",
    "private_key": (
        r"-----BEGIN ([A-Z0-9]+ )?(?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----(?s:.)*?"
        r"-----END (?:[A-Z0-9]+ )?(?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----"
    ),
    "private_key_header": (
        r"-----BEGIN ([A-Z0-9]+ )?(?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----"
        r"(?:(?:Proc-Type|DEK-Info): [A-Za-z0-9,\-]*(?:\r?\n|\\n))*(?:[A-Za-z0-9+/=\r\n]|\\[nr])*"
    ),
    "jwt": r"\b(eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*)",
    "url_credentials": (r"(?i)\b([a-z][a-z0-9+.\-]{1,30})://([^\s:/?#@\"'<>\[\]]*):([^\s:/?#@\"'<>]+)@[^\s/?#@\"'<>]"),
    "jdbc_password": r"(?i)\bjdbc:[a-z0-9]+:[^\s\"'<>]*?[;?&:](?:password|pwd)=([^;&\s\"'<>]+)",
    "odbc_password": (
        r"(?i)\b(?:server|data source|host|hostname|addr|address|dsn|driver|uid|user id|username|"
        r"initial catalog|database)\s*=[^;\r\n]*;[^\r\n\"]*?\b(?:password|pwd)\s*=\s*([^;\r\n\"']+)"
    ),
    "odbc_password_first": (
        r"(?i)(?:^|[;\s\"'])(?:password|pwd)\s*=\s*([^;\r\n\"']+);[^\r\n\"]*?"
        r"\b(?:server|data source|host|hostname|dsn|driver|uid|user id|username|initial catalog|database)\s*="
    ),
    "assignment": (
        r"(?i)((?:[a-z0-9_.\-]*(?:" + _KEYWORDS + r")[a-z0-9_.\-]*))[\"'\]]?[ \t]*(?::=|=>|=|:)[ \t]*"
        r"(?:[\"'`]|[br][\"'])?([^\s\"'`,;&<>(){}\[\]]{6,512})"
    ),
    "bearer": r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer|token)\s+([A-Za-z0-9_\-.~+/]{8,}=*)",
    "basic_auth": r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?basic\s+([A-Za-z0-9+/]{8,}=*)",
}

_BANK = PatternBank(_PATTERNS)

# Overlap priority: token formats first, generic context last.
_GENERIC = frozenset({"assignment", "bearer", "basic_auth"})
_CONNECTION = frozenset({"url_credentials", "jdbc_password", "odbc_password", "odbc_password_first"})

# a 40-character AWS secret near a key id, and its surroundings
_AWS_SECRET_NEAR = compile_one(r"(?:^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)")
_AWS_WINDOW = 400

_PLACEHOLDER_WORDS = (
    "example",
    "sample",
    "dummy",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "your_",
    "your-",
    "yourapi",
    "yourtoken",
    "yoursecret",
    "xxxx",
    "****",
    "....",
    "redacted",
    "insert",
    "replace",
    "todo",
    "fixme",
    "secret_here",
    "key_here",
    "token_here",
    "notreal",
    "not_real",
    "fake",
    "<",
    ">",
    "${",
    "{{",
    "%(",
    "#{",
    "$(",
)
_PLACEHOLDER_PASSWORDS = frozenset(
    {"password", "pass", "passwd", "pwd", "secret", "changeme", "admin", "root", "user", "username", "test",
     "none", "null", "nil", "true", "false", "required", "optional", "string", "str", "hidden", "redacted",
     "anonymous", "anoncvs", "guest"}
)  # fmt: skip
_REFERENCE_PREFIXES = (
    "os.environ",
    "os.getenv",
    "env.",
    "env:",
    "process.env",
    "settings.",
    "config.",
    "cfg.",
    "self.",
    "this.",
    "secrets.",
    "vars.",
    "params.",
    "args.",
    "kwargs",
    "request.",
    "req.",
    "ctx.",
    "context.",
    "props.",
    "getenv",
    "environ",
    "vault:",
    "arn:",
    "ssm:",
    "file:",
    "http://",
    "https://",
)

#: Words a random token does not contain (a literal password may, so these apply to tokens only).
_WORDS_NOT_IN_TOKENS = ("password", "passwd", "secret", "token", "apikey", "api_key", "api-key", "example")

_HEX = frozenset("0123456789abcdefABCDEF")
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")


def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character (the plug-in estimate over its own symbols)."""
    n = len(value)
    if n == 0:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    return -sum(c / n * math.log2(c / n) for c in counts.values())


@lru_cache(maxsize=2048)
def expected_random_entropy(length: int, alphabet: int) -> float:
    """The expected plug-in Shannon entropy of a uniformly random string of ``length`` symbols drawn from
    ``alphabet`` symbols: ``log2(n) - (k/n) * E[c log2 c]`` with ``c ~ Binomial(n, 1/k)``. Short strings
    fall well below ``log2(k)``; this is the yardstick a candidate value is compared with."""
    if length < 2:
        return 0.0
    n, k = length, alphabet
    p = 1.0 / k
    expect = 0.0
    # P(c) by the recurrence P(c+1) = P(c) * (n-c)/(c+1) * p/(1-p), in log space for stability
    log_pc = n * math.log1p(-p)
    ratio = math.log(p) - math.log1p(-p)
    for c in range(1, n + 1):
        log_pc += math.log(n - c + 1) - math.log(c) + ratio
        if log_pc < -50:
            if c > n * p:
                break
            continue
        expect += math.exp(log_pc) * c * math.log2(c)
    return math.log2(n) - k * expect / n


def is_sequential(value: str) -> bool:
    """Runs like ``abcdefgh``, ``12345678`` or ``ABCDEF0123456789``: at least 70 % of neighbouring
    characters are consecutive code points."""
    if len(value) < 4:
        return False
    steps = sum(1 for a, b in itertools.pairwise(value) if ord(b) - ord(a) in (1, -1, 0))
    return steps >= 0.7 * (len(value) - 1)


#: Words a stand-in contains (judged case-insensitively). Six letters or more: a shorter word turns up in
#: random base-62 text too often (``dummy`` in about 1 of 10^6 random 36-character tokens).
_TOKEN_PLACEHOLDER_WORDS = (
    "example", "sample", "dummykey", "dummytoken", "dummysecret", "placeholder", "changeme", "replaceme",
    "redacted", "notreal", "fakekey", "faketoken", "yourkey", "yourtoken", "yoursecret", "yourapi",
    "yourgithub", "yourslack", "goeshere", "tokenhere", "keyhere", "secrethere", "insertyour", "insertkey",
    "inserttoken",
)  # fmt: skip
_FILLER = frozenset("xX*#.")  # not "0": hex tokens hold runs of 0 more often
_DIGIT_CYCLES = "01234567890123456789" * 2
_DIGIT_CYCLES_DOWN = _DIGIT_CYCLES[::-1]


def _longest_run(value: str) -> tuple[int, str]:
    best, best_ch, run = 0, "", 0
    for i, ch in enumerate(value):
        run = run + 1 if i and value[i - 1] == ch else 1
        if run > best:
            best, best_ch = run, ch
    return best, best_ch


def placeholder_token(token: str) -> bool:
    """A token-shaped stand-in, not a credential: documentation and templates write ``ghp_xxxx...``,
    ``sk_live_XXXX...``, ``AKIAXXXXXXXXXXXXXXXX``, ``xoxp-0000000000-...``, ``..._YourTokenHere...``.

    Judged on the parts between ``-``, ``_`` and ``.`` (so fixed prefixes such as ``sk_live_`` play no role):
    a run of filler (6 of ``x``, ``*``, ``#``, ``.``) or of 8 of any one character (``0000...``); a part of 6+
    characters drawn from at most two; a part of 12+ characters with fewer distinct characters than a fifth
    of its length (``abc123abc123...``) or mostly consecutive (``abcdef...``, ``ABCDEF0123...``); a
    digits-only part that counts up or down (``1234567890``); or a placeholder word. A random token fails
    any of these with negligible probability (6 ``x`` in a row among 36 random base-62 characters: about 1 in
    10^9; 8 of one character among 34 hex digits: about 1 in 10^8), so the real ones stay found.
    """
    low = token.lower()
    if any(word in low for word in _TOKEN_PLACEHOLDER_WORDS) or ("your" in low and "here" in low):
        return True
    run, ch = _longest_run(token)
    if run >= 8 or (run >= 6 and ch in _FILLER):
        return True
    for part in token.replace("-", "_").replace(".", "_").split("_"):
        n = len(part)
        if n < 6:
            continue
        distinct = len(set(part))
        if distinct <= 2:
            return True
        if part.isdigit():
            if n >= 8 and (part in _DIGIT_CYCLES or part in _DIGIT_CYCLES_DOWN):
                return True
            continue
        if n >= 12 and (distinct < n / 5 or is_sequential(part.lower())):
            return True
    return False


def looks_placeholder(value: str) -> bool:
    low = value.lower()
    if any(word in low for word in _PLACEHOLDER_WORDS):
        return True
    if low.startswith(_REFERENCE_PREFIXES) or low.startswith(("$", "%", "@", "&", "*")):
        return True
    return len(set(low)) <= 2


def _identifier_like(value: str) -> bool:
    """``get_password``, ``settings.API_KEY``, ``myApiKey``: letters, underscores and dots, no digits."""
    return all(ch.isalpha() or ch in "_.-" for ch in value)


def random_looking(value: str) -> bool:
    """True if ``value`` has the entropy and mix of a random token, judged against its own alphabet."""
    n = len(value)
    if n < 16 or is_sequential(value) or looks_placeholder(value):
        return False
    low = value.lower()
    if any(word in low for word in _WORDS_NOT_IN_TOKENS):
        return False  # "secret%3Dpassword", "my-api-token-value": words, not random characters
    if all(ch in _HEX for ch in value):
        if value.isdigit():
            return False
        return shannon_entropy(value) >= 0.85 * expected_random_entropy(n, 16)
    has_digit = any(ch.isdigit() for ch in value)
    has_alpha = any(ch.isalpha() for ch in value)
    if not (has_digit and has_alpha):
        return False
    if not all(ch in _B64_CHARS or ch in ".~" for ch in value):
        # a wider alphabet (printable symbols): judge it as base64-sized at least, with a higher bar
        return shannon_entropy(value) >= 0.85 * expected_random_entropy(n, 64)
    return shannon_entropy(value) >= 0.8 * expected_random_entropy(n, 64)


def password_like(value: str) -> bool:
    """A plausible literal password: 6+ characters, letters and digits or symbols, not an identifier or a
    placeholder or a reference."""
    if len(value) < 6 or looks_placeholder(value) or value.lower() in _PLACEHOLDER_PASSWORDS:
        return False
    if _identifier_like(value) or is_sequential(value) or value.startswith(("/", "~", "./", "../", "\\")):
        return False  # a name or a path (``PWD=/home/me``), not a literal password
    has_alpha = any(ch.isalpha() for ch in value)
    has_other = any(not ch.isalpha() for ch in value)
    if not (has_alpha and has_other):
        return False
    return not value.replace(".", "").replace("_", "").isdigit()


def _b64decode(part: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


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
        self._handlers: dict[str, Callable[[Prepared, Any, str], _Hit | None]] = {
            name: self._token for name in _PATTERNS
        }
        self._handlers.update(
            {
                "aws_access_key_id": self._aws_key_id,
                "private_key": self._private_key,
                "private_key_header": self._private_key,
                "jwt": self._jwt,
                "url_credentials": self._url_credentials,
                "jdbc_password": self._connection_password,
                "odbc_password": self._connection_password,
                "odbc_password_first": self._connection_password,
                "assignment": self._assignment,
                "bearer": self._bearer,
                "basic_auth": self._basic_auth,
            }
        )

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
        hits: list[_Hit] = []
        extra: list[_Hit] = []
        for name in _BANK.candidates(prepared):
            handler = self._handlers[name]
            for match in _BANK.finditer(name, prepared):
                hit = handler(prepared, match, name)
                if hit is None:
                    continue
                hits.append(hit)
                if name == "aws_access_key_id":
                    extra.extend(self._aws_secret_near(prepared, match))
        kept = _resolve([hit for hit in hits + extra if hit.rule in self.rules])
        return [self._finding(prepared.text, hit, suggested) for hit in kept]

    # -- result building ------------------------------------------------------------------------

    def _finding(self, text: str, hit: _Hit, suggested: Response) -> Finding:
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

    # -- handlers: each takes a match and returns a hit or None --------------------------------------

    def _token(self, p: Prepared, m: Any, name: str) -> _Hit | None:
        group = 1 if m.re.groups >= 1 and m.span(1) != (-1, -1) else 0
        start, end = p.span(m, group)
        if start >= end or placeholder_token(p.text[start:end]):
            return None
        return _Hit.of(name, start, end)

    def _aws_key_id(self, p: Prepared, m: Any, name: str) -> _Hit | None:
        start, end = p.span(m, 1)
        value = p.text[start:end]
        if value.endswith("EXAMPLE") or placeholder_token(value[4:]):
            return None  # AWS's documented example key id, or a stand-in such as AKIAXXXXXXXXXXXXXXXX
        return _Hit.of(name, start, end)

    def _aws_secret_near(self, p: Prepared, m: Any) -> list[_Hit]:
        """A 40-character base64 run close to an access key id is its secret key (if it looks random)."""
        b_start, b_end = m.span(1)
        lo, hi = max(0, b_start - _AWS_WINDOW), min(len(p.data), b_end + _AWS_WINDOW)
        out: list[_Hit] = []
        for near in _AWS_SECRET_NEAR.finditer(p.data, lo, hi):
            start, end = p.span(near, 1)
            value = p.text[start:end]
            if random_looking(value) and any(ch.isupper() for ch in value) and any(ch.islower() for ch in value):
                out.append(_Hit.of("aws_secret_access_key", start, end, score=0.85))
        return out

    def _private_key(self, p: Prepared, m: Any, name: str) -> _Hit | None:
        start, end = p.span(m)
        header = p.text[start : start + 64]
        kind = header[len("-----BEGIN ") :].split("PRIVATE KEY", 1)[0].strip().lower() or "pkcs8"
        before = p.text[max(0, start - 40) : start]
        if '"private_key"' in before and "service_account" in p.text:
            return _Hit("secret.gcp_service_account", start, end, 0.99, "GCP service-account private key", name)
        if not _has_key_material(p.text[start:end]):
            return None  # a bare header or BEGIN/END lines with no key between them (docs, code, regexes)
        return _Hit.of(name, start, end, detail={"key_type": kind.replace(" ", "_")})

    def _jwt(self, p: Prepared, m: Any, name: str) -> _Hit | None:
        start, end = p.span(m, 1)
        token = p.text[start:end]
        header_part, _payload, signature = token.split(".", 2)
        if len(header_part) > 2048:
            return None
        raw = _b64decode(header_part)
        if raw is None:
            return None
        try:
            header = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
            return None
        if not signature:
            return _Hit.of(name, start, end, score=0.7, detail={"alg": "none"})
        return _Hit.of(name, start, end)

    def _url_credentials(self, p: Prepared, m: Any, name: str) -> _Hit | None:
        scheme = m.group(1).decode("utf-8", "replace").lower()
        start, end = p.span(m, 3)
        password = p.text[start:end]
        if not password_value_ok(password):
            return None
        if scheme in _DB_SCHEMES or scheme.startswith("jdbc"):
            return _Hit.of(name, start, end, detail={"scheme": scheme})
        return _Hit("secret.url_credentials", start, end, 0.85, "password in a URL", name, {"scheme": scheme[:32]})

    def _connection_password(self, p: Prepared, m: Any, name: str) -> _Hit | None:
        start, end = p.span(m, 1)
        value = p.text[start:end].rstrip()
        end = start + len(value)
        if not password_value_ok(value):
            return None
        return _Hit.of(name, start, end)

    def _assignment(self, p: Prepared, m: Any, name: str) -> _Hit | None:
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
            return _Hit("secret.password", start, end, 0.7, "password assigned in text", "password")
        if not random_looking(value):
            return None
        return _Hit.of(name, start, end)

    def _bearer(self, p: Prepared, m: Any, name: str) -> _Hit | None:
        start, end = p.span(m, 1)
        value = p.text[start:end]
        if len(value) < 16 or looks_placeholder(value) or _identifier_like(value) or is_sequential(value):
            return None
        return _Hit.of(name, start, end)

    def _basic_auth(self, p: Prepared, m: Any, name: str) -> _Hit | None:
        start, end = p.span(m, 1)
        raw = _b64decode(p.text[start:end].replace("+", "-").replace("/", "_"))
        if raw is None or b":" not in raw:
            return None
        _user, _, password = raw.partition(b":")
        if not password:
            return None
        return _Hit.of(name, start, end)


def _has_key_material(block: str) -> bool:
    """At least 32 base64 characters between the BEGIN line and the END line (or the end of a truncated
    block), making up most of it."""
    header_end = block.find("-----", len("-----BEGIN ")) + 5
    footer = block.find("-----END", header_end)
    body = block[header_end : footer if footer != -1 else len(block)].replace("\\n", "\n").replace("\\r", "")
    body = "".join(line for line in body.splitlines() if ":" not in line)  # Proc-Type / DEK-Info headers
    body = "".join(body.split())
    material = sum(1 for ch in body if ch.isascii() and (ch.isalnum() or ch in "+/="))
    return material >= 32 and material >= 0.9 * len(body)


def _is_code_expression(text: str, end: int, value: str) -> bool:
    """``x = base64.b16encode(...)``, ``key = CONFIG["k"]``: a call, subscript or dotted name, not a literal."""
    if end < len(text) and text[end] in "([":
        return True
    parts = value.split(".")
    return len(parts) > 1 and all(part.isidentifier() for part in parts)


def password_value_ok(value: str) -> bool:
    """A password in a connection string counts unless it is short (``abc:xyz`` in documentation), a
    placeholder or a template reference."""
    if len(value) < 4 or looks_placeholder(value):
        return False
    return value.lower() not in _PLACEHOLDER_PASSWORDS


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


@dataclass(frozen=True, slots=True)
class _Hit:
    """A raw match before it becomes a :class:`Finding` (the value is read only to fingerprint it)."""

    rule: str
    start: int
    end: int
    score: float
    message: str
    kind: str
    detail: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, name: str, start: int, end: int, *, score: float | None = None, detail: Mapping[str, str] | None = None
    ) -> _Hit:
        rule, default_score, message = _TOKEN_RULES[name]
        return cls(rule, start, end, default_score if score is None else score, message, name, dict(detail or {}))

    @property
    def priority(self) -> int:
        if self.kind in _GENERIC or self.kind == "password":
            return 2
        if self.kind in _CONNECTION or self.kind == "private_key_header":
            return 1
        return 0


def _resolve(hits: list[_Hit]) -> list[_Hit]:
    """Keep the most specific of overlapping hits: token formats, then connection strings, then context."""
    if len(hits) < 2:
        return hits
    kept: list[_Hit] = []
    starts: list[int] = []
    ends: list[int] = []
    for hit in sorted(hits, key=lambda h: (h.priority, h.start, h.start - h.end, -h.score)):
        i = bisect_left(starts, hit.start)
        if i > 0 and ends[i - 1] > hit.start:
            continue
        if i < len(starts) and starts[i] < hit.end:
            continue
        starts.insert(i, hit.start)
        ends.insert(i, hit.end)
        kept.insert(i, hit)
    return kept
