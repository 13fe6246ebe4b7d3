"""The credential families added beside detect-secrets' and gitleaks' plugins: one row per format, with the
exact span each must cover, and look-alikes that must not fire.

Every credential here is FAKE and assembled at run time (prefixes split, bodies drawn from a seeded PRNG),
so this file holds nothing that a repository secret scanner would flag.
"""

from __future__ import annotations

import base64
import random
import string

import pytest

from warded.scan.scanners.secrets import (
    RULES,
    SecretsScanner,
    artifactory,
    cloudant,
    discord,
    ibm,
    mailchimp,
    softlayer,
    square,
    telegram,
)
from warded.scan.scanners.secrets.keywords import quoted_password_ok

SCANNER = SecretsScanner()
ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "_-"
B64 = ALNUM + "+/"

#: Rule ids declared by the family modules this file covers (test_secrets.py covers the others).
FAMILY_RULES = frozenset(
    rule
    for module in (artifactory, cloudant, discord, ibm, mailchimp, softlayer, square, telegram)
    for detector in module.DETECTORS
    for rule in detector.rules
) | {"secret.aws_bedrock_api_key"}


def fake(n: int, chars: str = ALNUM, seed: int = 0) -> str:
    """``n`` characters from ``chars``, deterministic per arguments, mixing letters and digits where the
    alphabet has both (a rare unmixed draw is redrawn)."""
    rng = random.Random(f"fam-{n}-{chars}-{seed}")
    mixed = any(c.isdigit() for c in chars) and any(c.isalpha() for c in chars)
    for _ in range(100):
        out = "".join(rng.choice(chars) for _ in range(n))
        if n < 8 or not mixed or (any(c.isdigit() for c in out) and any(c.isalpha() for c in out)):
            return out
    raise AssertionError("could not draw a mixed sample")


def found(text: str) -> list[tuple[str, str]]:
    return [(f.rule_id, text[f.span[0] : f.span[1]]) for f in SCANNER.find(text) if f.span is not None]


def discord_token(seed: int = 0) -> str:
    user_id = str(random.Random(seed).randrange(10**17, 10**18)).encode()
    first = base64.urlsafe_b64encode(user_id).decode().rstrip("=")
    return first + "." + fake(6, URLSAFE, seed) + "." + fake(27, URLSAFE, seed)


Row = tuple[str, str, str]


def _rows() -> dict[str, Row]:
    softlayer_key = fake(64, LOWER_ALNUM)
    telegram_token = "1234567" + "89:A" + "A" + fake(33, URLSAFE)
    iam = fake(44, URLSAFE, seed=1)
    hmac_secret = fake(48, HEX, seed=2)
    akc = "AK" + "Cp" + fake(69, seed=3)
    ref = "cmV" + "md" + fake(59, seed=4)
    mailchimp_key = fake(32, HEX, seed=5) + "-us" + "21"
    discord_value = discord_token()
    discord_hook = fake(68, URLSAFE, seed=6)
    sq_secret = "sq0" + "csp-" + fake(43, URLSAFE, seed=7)
    sq_token = "sq0" + "atp-" + fake(22, URLSAFE, seed=8)
    sq_eaaa = "EA" + "AA" + fake(60, URLSAFE, seed=9)
    cloudant_pw = fake(64, HEX, seed=10)
    cloudant_api = fake(24, string.ascii_lowercase, seed=11)
    bedrock = "AB" + "SK" + fake(130, B64, seed=12) + "="
    bedrock_short = "bedrock-api-key-" + "YmVkcm9jay5hbWF6b25hd3MuY29t" + fake(80, B64, seed=13)
    hf_org = "api" + "_org_" + fake(34, string.ascii_letters, seed=14)
    hook = "http://hooks.slack.com/services/T" + fake(10, string.ascii_uppercase + string.digits, seed=15)
    hook += "/B" + fake(10, string.ascii_uppercase + string.digits, seed=16) + "/" + fake(24, seed=17)
    return {
        "softlayer_assignment": (f"SOFTLAYER_API_KEY={softlayer_key}", "secret.softlayer_key", softlayer_key),
        "softlayer_sl_key": (f'sl_key: "{softlayer_key}"', "secret.softlayer_key", softlayer_key),
        "softlayer_url": (
            f"https://api.softlayer.com/soap/v3.1/{softlayer_key}/SoftLayer_Account",
            "secret.softlayer_key",
            softlayer_key,
        ),
        "telegram": (f"bot = Bot(token='{telegram_token}')", "secret.telegram_bot_token", telegram_token),
        "telegram_url": (
            f"curl https://api.telegram.org/bot{telegram_token}/getMe",
            "secret.telegram_bot_token",
            telegram_token,
        ),
        "ibm_cloud_iam": (f'IBM_CLOUD_API_KEY="{iam}"', "secret.ibm_cloud_iam_key", iam),
        "ibm_iam_json": (
            f'{{"iam_apikey": "{iam}"}}'.replace("iam_apikey", "iam_api_key"),
            "secret.ibm_cloud_iam_key",
            iam,
        ),
        "ibm_cos_hmac": (
            f'"cos_hmac_keys": {{"access_key_id": "{fake(32, HEX, seed=18)}", "secret_access_key": "{hmac_secret}"}}',
            "secret.ibm_cos_hmac",
            hmac_secret,
        ),
        "artifactory_api_key": (f"X-JFrog-Art-Api: {akc}", "secret.artifactory_token", akc),
        "artifactory_reference": (f"Authorization: Bearer {ref}", "secret.artifactory_token", ref),
        "mailchimp": (f"MAILCHIMP_KEY = {mailchimp_key}", "secret.mailchimp_key", mailchimp_key),
        "discord_bot": (f"client.run('{discord_value}')", "secret.discord_token", discord_value),
        "discord_webhook": (
            f"https://discord.com/api/webhooks/123456789012345678/{discord_hook}",
            "secret.discord_token",
            discord_hook,
        ),
        "square_oauth_secret": (f"SQUARE_SECRET={sq_secret}", "secret.square_token", sq_secret),
        "square_access_token": (f"token {sq_token} here", "secret.square_token", sq_token),
        "square_eaaa": (f'"access_token": "{sq_eaaa}"', "secret.square_token", sq_eaaa),
        "cloudant_url": (
            f"https://acct-bluemix:{cloudant_pw}@acct-bluemix.cloudant.com/db",
            "secret.cloudant_credential",
            cloudant_pw,
        ),
        "cloudant_password": (f"cloudant_password = '{cloudant_pw}'", "secret.cloudant_credential", cloudant_pw),
        "cloudant_api_key": (f"CLOUDANT_API_KEY: {cloudant_api}", "secret.cloudant_credential", cloudant_api),
        "aws_bedrock_long_term": (
            f"AWS_BEARER_TOKEN_BEDROCK={bedrock}",
            "secret.aws_bedrock_api_key",
            bedrock,
        ),
        "aws_bedrock_short_term": (f"key {bedrock_short} end", "secret.aws_bedrock_api_key", bedrock_short),
        "huggingface_org": (f"HF_ORG_TOKEN={hf_org}", "secret.huggingface_token", hf_org),
        "slack_webhook_http": (f"POST {hook}", "secret.slack_webhook", hook),
        "quoted_password_with_spaces": ('password = "my p@ss w0rd!"', "secret.password", "my p@ss w0rd!"),
        "quoted_password_with_symbols": ("db_pwd: 'x!9#Tq&z;7'", "secret.password", "x!9#Tq&z;7"),
        "yaml_password_with_symbols": ('  password: "S3cret pass#1"', "secret.password", "S3cret pass#1"),
        "dotenv_password_with_spaces": ("DB_PASSWORD=my p@ss 12!  \nNEXT=1", "secret.password", "my p@ss 12!"),
        "export_password": ("export SMTP_PASSWORD=Tr0ub4dor&3", "secret.password", "Tr0ub4dor&3"),
        "dotenv_password_then_comment": ("DB_PASSWORD=my p@ss  # rotated", "secret.password", "my p@ss"),
    }


ROWS = _rows()


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_family_is_found_with_its_exact_span(name: str) -> None:
    text, rule, value = ROWS[name]
    assert (rule, value) in found(text)


def test_every_family_rule_has_a_row_and_is_registered() -> None:
    assert set(RULES) >= FAMILY_RULES
    assert {rule for _, rule, _ in ROWS.values()} >= FAMILY_RULES


def test_every_family_detector_is_exercised() -> None:
    kinds = {f.detail["kind"] for text, _, _ in ROWS.values() for f in SCANNER.find(text)}
    family = {d.id for m in (artifactory, cloudant, discord, ibm, mailchimp, softlayer, square, telegram)
              for d in m.DETECTORS}  # fmt: skip
    assert family | {"aws_bedrock_api_key", "aws_bedrock_short_term_key", "huggingface_org_token"} <= kinds
    assert {"quoted_password", "env_password"} <= kinds


def _negatives() -> dict[str, str]:
    discord_like = base64.urlsafe_b64encode(b"not-an-id-at-all").decode().rstrip("=")
    return {
        "softlayer_placeholder": "SOFTLAYER_API_KEY=" + "x" * 64,
        "softlayer_sequence": "sl_api_key = " + "0123456789abcdef" * 4,
        "telegram_without_aa": "job 123456789:" + fake(35, URLSAFE, seed=30) + " done",
        "telegram_time_like": "at 12:30:45 and 2026-01-01T10:00:00",
        "ibm_placeholder": 'IBM_CLOUD_API_KEY="<your-ibm-cloud-api-key-goes-here-000000000>"',
        "cos_hmac_digest_not_assigned": "sha224 " + fake(56, HEX, seed=31),
        "artifactory_short": "AK" + "Cp" + "short value",
        "mailchimp_non_hex": "id " + "g" * 32 + "-us1",
        "mailchimp_uuid_suffix": "7f9c2ba4e88f11ee9a4b0242ac120002-usage",
        "discord_shape_not_an_id": "M" + discord_like[:23] + "." + fake(6, URLSAFE) + "." + fake(27, URLSAFE),
        "square_placeholder": "sq0" + "csp-" + "X" * 43,
        "cloudant_words": "cloudant_password = 'thisisnotarealkeyatall'",
        "cloudant_uppercase_letters": "CLOUDANT_API_KEY: ABCDEFGHIJKLMNOPQRSTUVWX",
        "bedrock_short": "ABSK" + "abc",
        "hf_org_short": "api" + "_org_" + "abc",
        "slack_hook_no_token": "http://hooks.slack.com/services/",
        "ui_password_messages": (
            'password_error = "Password must be 8 characters"\nlabel = "Password"\n'
            'password_hint: "the name of your first pet"\nplaceholder_password = "Enter password"\n'
            'password = "correct horse battery staple"'
        ),
        "dotenv_messages": "PASSWORD_HINT=Enter your password\nPASSWORD=\nADMIN_PASSWORD=${ADMIN_PASSWORD}\n",
        "sha512_integrity": '"integrity": "sha512-' + fake(86, B64, seed=32) + '=="',
        "uuids_and_digests": (
            "7f9c2ba4-e88f-11ee-9a4b-0242ac120002 sha256:" + fake(64, HEX, seed=33) + " " + fake(40, HEX, seed=34)
        ),
    }


NEGATIVES = _negatives()


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_look_alikes_do_not_fire(name: str) -> None:
    assert found(NEGATIVES[name]) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my p@ss w0rd!", True),
        ("Tr0ub4dor&3", True),
        ("hunter2 x", True),
        ("correct horse battery staple", False),
        ("Password must be 8 characters", False),
        ("Enter your password", False),
        ("a b c d e f g 1", False),
        ("<password>", False),
    ],
)
def test_quoted_password_rules(value: str, expected: bool) -> None:
    assert quoted_password_ok(value) is expected


@pytest.mark.parametrize(
    "text",
    [
        "1234567:AA" * 5000,
        "password = '" + "a " * 20000,
        "https://api.softlayer.com/soap/v3/" * 2000,
        "M" + "A" * 60000,
    ],
    ids=["telegram", "quoted", "softlayer", "discord"],
)
def test_family_regex_bait_completes(text: str) -> None:
    # RE2 never backtracks; linear time is measured by the benchmark, not asserted here
    assert isinstance(SCANNER.find(text), list)
