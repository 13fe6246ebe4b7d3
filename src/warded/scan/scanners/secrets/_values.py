"""How a candidate value is judged, whatever detector found it: entropy against a random string of the same
length and alphabet, placeholders and references that are no credential, and plausible literal passwords."""

from __future__ import annotations

import base64
import binascii
import itertools
import math
from functools import lru_cache

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


def identifier_like(value: str) -> bool:
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
    if identifier_like(value) or is_sequential(value) or value.startswith(("/", "~", "./", "../", "\\")):
        return False  # a name or a path (``PWD=/home/me``), not a literal password
    has_alpha = any(ch.isalpha() for ch in value)
    has_other = any(not ch.isalpha() for ch in value)
    if not (has_alpha and has_other):
        return False
    return not value.replace(".", "").replace("_", "").isdigit()


def b64decode(part: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def password_value_ok(value: str) -> bool:
    """A password in a connection string counts unless it is short (``abc:xyz`` in documentation), a
    placeholder or a template reference."""
    if len(value) < 4 or looks_placeholder(value):
        return False
    return value.lower() not in _PLACEHOLDER_PASSWORDS
