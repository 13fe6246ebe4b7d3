"""Secrets and PII scanners: stand-ins are not secrets, ids are not keys, and trailing punctuation ends
an SSN (issue 8, item 17). Next to each stand-in row, real-shaped (random) tokens must still be found.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest

from warded.scan.normalise import normalise
from warded.scan.scanners.pii import PiiScanner
from warded.scan.scanners.secrets import SecretsScanner
from warded.scan.types import ScanInput, Source

SECRETS = SecretsScanner()
PII = PiiScanner()
UUID = "3f2a9c4e-8b1d-4e7a-9c3f-2b8d6e1a4f70"

B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"


def _random(alphabet: str, n: int, rng: random.Random) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


#: format -> (rule id, generator of a real-shaped token)
REAL: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "github": ("secret.github_token", lambda r: "ghp_" + _random(B62, 36, r)),
    "slack": (
        "secret.slack_token",
        lambda r: f"xoxb-{r.randrange(10**11, 10**12)}-{r.randrange(10**12, 10**13)}-{_random(B62, 24, r)}",
    ),
    "stripe": ("secret.stripe_key", lambda r: "sk_live_" + _random(B62, 24, r)),
    "aws": ("secret.aws_access_key_id", lambda r: "AKIA" + _random(B32, 16, r)),
    "huggingface": ("secret.huggingface_token", lambda r: "hf_" + _random(B62, 34, r)),
    "gitlab": ("secret.gitlab_token", lambda r: "glpat-" + _random(B62, 20, r)),
    "npm": ("secret.npm_token", lambda r: "npm_" + _random(B62, 36, r)),
    "twilio": ("secret.twilio_key", lambda r: "SK" + _random(HEX, 32, r)),
}


def secret_rules(text: str) -> list[str]:
    return [f.rule_id for f in SECRETS.find(text)]


def pii_rules(text: str) -> list[str]:
    return [f.rule_id for f in PII.scan(ScanInput(text, Source.USER, normalise(text)))]


# -- placeholders -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("ghp_" + "x" * 36, id="github-x-filler"),
        pytest.param("token: ghp_" + "X" * 36, id="github-X-filler-assigned"),
        pytest.param("ghp_" + "0" * 36, id="github-zero-filler"),
        pytest.param("ghp_yourPersonalAccessTokenGoesHere12345", id="github-your-token-goes-here"),
        pytest.param("ghp_1234567890abcdefghijklmnopqrstuvwxyz", id="github-sequential"),
        pytest.param("ghp_" + "abc123" * 6, id="github-repeated-pattern"),
        pytest.param("xoxp-0000000000-0000000000-0000000000-" + "x" * 32, id="slack-zeros-and-x"),
        pytest.param("xoxb-1234567890-1234567890123-abcdefghijklmnopqrstuvwx", id="slack-counting"),
        pytest.param("sk_live_" + "X" * 24, id="stripe-X-filler"),
        pytest.param("sk_live_" + "0" * 25, id="stripe-zero-filler"),
        pytest.param("sk_live_YOURSECRETKEYHERE12345678", id="stripe-your-secret-key-here"),
        pytest.param("sk_test_EXAMPLEKEY1234567890abcd", id="stripe-example"),
        pytest.param("AKIAXXXXXXXXXXXXXXXX", id="aws-X-filler"),
        pytest.param("AKIAAAAAAAAAAAAAAAAA", id="aws-one-letter"),
        pytest.param("hf_" + "x" * 34, id="huggingface-x-filler"),
        pytest.param("glpat-" + "x" * 20, id="gitlab-x-filler"),
        pytest.param("npm_" + "X" * 36, id="npm-X-filler"),
        pytest.param("SK" + "0" * 32, id="twilio-zeros"),
        pytest.param("SK" + "ab" * 16, id="twilio-two-characters"),
    ],
)
def test_placeholder_token_is_not_a_secret(text: str) -> None:
    assert secret_rules(text) == []


@pytest.mark.parametrize("fmt", sorted(REAL))
def test_real_shaped_tokens_are_still_secrets(fmt: str) -> None:
    rule, make = REAL[fmt]
    rng = random.Random(f"warded-{fmt}")
    missed = [t for t in (make(rng) for _ in range(300)) if secret_rules(f"key: {t} ok") != [rule]]
    assert missed == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        pytest.param("ghp_Zk3fQ9pLm2Xv8RtY7wNb4HcJa6TgE1sUoPi0", "secret.github_token", id="github-next-to-x-filler"),
        pytest.param(
            "xoxb-2649182736-4817263549182-Zk3fQ9pLm2Xv8RtY7wNb4HcJ", "secret.slack_token", id="slack-next-to-zeros"
        ),
        pytest.param("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "secret.stripe_key", id="stripe-next-to-X-filler"),
        pytest.param("AKIAQ7RZ4WXN2JD5KLMP", "secret.aws_access_key_id", id="aws-next-to-X-filler"),
        pytest.param("hf_Zk3fQ9pLm2Xv8RtY7wNb4HcJa6TgE1sUoP", "secret.huggingface_token", id="hf-next-to-x-filler"),
        pytest.param("SK3e9000000234282383cb49cab499b3f4", "secret.twilio_key", id="twilio-with-a-run-of-zeros"),
    ],
)
def test_real_token_next_to_each_placeholder_is_found(text: str, rule: str) -> None:
    assert secret_rules(text) == [rule]


# -- identifiers are not keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"apiKeyId: {UUID}", id="camel-api-key-id"),
        pytest.param(f"secretId: {UUID}", id="camel-secret-id"),
        pytest.param(f"tokenId={UUID}", id="camel-token-id"),
        pytest.param(f"sessionTokenId: {UUID}", id="camel-session-token-id"),
        pytest.param(f"SecretKeyID={UUID}", id="pascal-acronym-id"),
        pytest.param(f"AuthTokenId: {UUID}", id="pascal-auth-token-id"),
        pytest.param(f"credentialId: {UUID}", id="camel-credential-id"),
        pytest.param(f"x-request-token-id: {UUID}", id="header-dashed-id"),
        pytest.param(f'{{"clientSecretId": "{UUID}"}}', id="json-camel-id"),
        pytest.param("AccessKeyId: 3f2a9c4e8b1d4e7a9c3f2b8d6e1a4f70", id="pascal-access-key-id-hex"),
        pytest.param(f"PasswordId: {UUID}", id="pascal-password-id"),
        pytest.param("passwordHint: Xy7pQ2zLm9", id="camel-password-hint"),
    ],
)
def test_identifier_named_key_is_not_a_secret(text: str) -> None:
    assert secret_rules(text) == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # A UUID is a real credential format (Heroku API keys, session tokens): under a secret's name it counts.
        pytest.param(f"api_key={UUID}", "secret.high_entropy", id="uuid-as-api-key"),
        pytest.param(f"client_secret: {UUID}", "secret.high_entropy", id="uuid-as-client-secret"),
        pytest.param("apiKey: Zk3fQ9pLm2Xv8RtY7wNb4HcJ", "secret.high_entropy", id="camel-api-key"),
        pytest.param("ClientSecret = 'Zk3fQ9pLm2Xv8RtY7wNb4HcJ'", "secret.high_entropy", id="pascal-client-secret"),
        pytest.param("DB_PASSWORD=Xy7pQ2zLm9", "secret.password", id="upper-password"),
        pytest.param("dbPassword: Xy7pQ2zLm9", "secret.password", id="camel-password"),
    ],
)
def test_secret_named_key_is_still_a_secret(text: str, rule: str) -> None:
    assert secret_rules(text) == [rule]


# -- trailing punctuation ends an SSN -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("my ssn is 536-22-8741.", id="full-stop"),
        pytest.param("ssn 536 22 8741.", id="spaced-full-stop"),
        pytest.param("SSN on file: 536-22-8741. Thanks", id="full-stop-mid-text"),
        pytest.param("ssn 536-22-8741-", id="trailing-dash"),
        pytest.param("ssn: 536-22-8741...", id="ellipsis"),
        pytest.param(".536-22-8741 is my ssn", id="leading-full-stop"),
    ],
)
def test_ssn_followed_by_punctuation_is_found(text: str) -> None:
    assert pii_rules(text) == ["pii.national_id.us_ssn"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("ref 536-22-8741.5", id="decimal-continues"),
        pytest.param("v1.536-22-8741", id="dotted-version-before"),
        pytest.param("scan-536-22-8741.pdf", id="file-name"),
        pytest.param("part 7-536-22-8741", id="longer-dashed-number"),
        # The SSA voided 078-05-1120 (the Woolworth wallet-card number): a sample, not anyone's SSN.
        pytest.param("my ssn is 078-05-1120.", id="voided-sample-number"),
    ],
)
def test_ssn_glued_into_a_larger_token_is_not_found(text: str) -> None:
    assert "pii.national_id.us_ssn" not in pii_rules(text)
