"""The ``secrets`` scanner, one row per credential format.

Every credential here is FAKE and assembled at run time (prefixes split, bodies drawn from a seeded PRNG),
so this file holds nothing that a repository secret scanner would flag.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import string

import pytest

from warded.scan.registry import load_scanner
from warded.scan.scanners.secrets import (
    DETECTORS,
    RULES,
    SecretsScanner,
    Tier,
    artifactory,
    cloudant,
    discord,
    expected_random_entropy,
    ibm,
    is_sequential,
    mailchimp,
    password_like,
    random_looking,
    shannon_entropy,
    softlayer,
    square,
    telegram,
)
from warded.scan.types import Category, Normalised, Response, ScanInput, Source, View

#: Detectors whose rows are in test_secret_families.py (one table per file, both checked for coverage).
FAMILY_IDS = frozenset(
    d.id for m in (artifactory, cloudant, discord, ibm, mailchimp, softlayer, square, telegram) for d in m.DETECTORS
) | {"aws_bedrock_api_key", "aws_bedrock_short_term_key", "huggingface_org_token", "quoted_password", "env_password"}
FAMILY_RULES = frozenset(d.rule for d in DETECTORS if d.id in FAMILY_IDS) - {
    "secret.huggingface_token",
    "secret.password",
}

SCANNER = SecretsScanner()
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
UPPER32 = string.ascii_uppercase + "234567"


def fake(n: int, chars: str = ALNUM, seed: int = 0) -> str:
    """``n`` characters from ``chars``, deterministic per arguments. Where ``chars`` mixes letters and
    digits, so does the result (a rare all-letter draw is redrawn, at most a few times)."""
    rng = random.Random(f"{n}-{chars}-{seed}")
    mixed = any(c.isdigit() for c in chars) and any(c.isalpha() for c in chars)
    for _ in range(100):
        out = "".join(rng.choice(chars) for _ in range(n))
        if n < 8 or not mixed or (any(c.isdigit() for c in out) and any(c.isalpha() for c in out)):
            return out
    raise AssertionError("could not draw a mixed sample")


def b64url_json(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def item(text: str, source: Source = Source.TOOL_OUTPUT) -> ScanInput:
    return ScanInput(text, source, Normalised(text, (View("raw", text), View("normalised", text))))


def found(text: str, scanner: SecretsScanner = SCANNER) -> list[tuple[str, str]]:
    return [(f.rule_id, text[f.span[0] : f.span[1]]) for f in scanner.find(text) if f.span is not None]


def pem(kind: str, lines: int = 6, newline: str = "\n") -> str:
    body = newline.join(fake(64, B64, seed=i) for i in range(lines))
    label = f"{kind} PRIVATE KEY".strip()
    return f"-----BEGIN {label}-----{newline}{body}{newline}-----END {label}-----"


# Each row: id -> (text, rule id, the exact value its span must cover)
Row = tuple[str, str, str]


def _rows() -> dict[str, Row]:
    aws_id = "AK" + "IA" + fake(16, UPPER32)
    aws_secret = fake(40, B64, seed=1)
    gh = "gh" + "p_" + fake(36)
    gh_oauth = "gh" + "o_" + fake(36, seed=2)
    gh_server = "gh" + "s_" + fake(36, seed=3)
    gh_pat = "github" + "_pat_" + fake(22) + "_" + fake(59)
    glpat = "gl" + "pat-" + fake(20, ALNUM + "_-")
    gl_runner = "GR" + "1348941" + fake(20, seed=13)
    slack = "xo" + "xb-" + fake(11, string.digits) + "-" + fake(12, string.digits) + "-" + fake(24)
    slack_user = "xo" + "xp-" + "-".join(fake(12, string.digits, seed=i) for i in range(3)) + "-" + fake(32, HEX)
    hook = "https://hooks.slack.com/services/T" + fake(10, string.ascii_uppercase + string.digits) + "/B"
    hook += fake(10, string.ascii_uppercase + string.digits, seed=1) + "/" + fake(24)
    slack_app = "xa" + "pp-1-" + fake(11, string.ascii_uppercase + string.digits) + "-" + fake(13, string.digits)
    slack_app += "-" + fake(64, HEX, seed=14)
    stripe = "sk" + "_live_" + fake(24)
    stripe_rk = "rk" + "_live_" + fake(99)
    stripe_hook = "wh" + "sec_" + fake(32, seed=15)
    openai = "sk-" + "proj-" + fake(20) + "T3Blbk" + "FJ" + fake(20, seed=1)
    openai_project = "sk-" + "proj-" + fake(48, seed=16)
    openai_legacy = "sk-" + fake(48)
    anthropic = "sk-" + "ant-api03-" + fake(93, ALNUM + "_-") + "AA"
    hf = "h" + "f_" + fake(34, string.ascii_letters)
    twilio = "S" + "K" + fake(32, HEX)
    twilio_token = fake(32, HEX, seed=4)
    sendgrid = "S" + "G." + fake(22, ALNUM + "_-") + "." + fake(43, ALNUM + "_-")
    npm = "np" + "m_" + fake(36)
    npm_rc = fake(36, seed=5)
    pypi = "py" + "pi-AgEIcHlwaS5vcmc" + fake(120, ALNUM + "_-")
    gcp_key = "AI" + "za" + fake(35, ALNUM + "_-")
    google_secret = "GOC" + "SPX-" + fake(28, ALNUM + "_-")
    google_token = "ya" + "29." + fake(60, ALNUM + "_-")
    azure_key = fake(86, B64) + "=="
    sas_sig = fake(43, B64) + "%3D"
    azure_client = fake(3) + "8Q~" + fake(34, ALNUM + "_~.-")
    jwt = ".".join(
        [b64url_json({"alg": "HS256", "typ": "JWT"}), b64url_json({"sub": "u-1", "iat": 1}), fake(43, ALNUM + "_-")]
    )
    pg_pw = fake(18)
    redis_pw = fake(24)
    mongo_pw = fake(16, seed=6)
    jdbc_pw = fake(14, seed=7)
    odbc_pw = fake(14, seed=8)
    entropy_value = fake(32, seed=9)
    hex_value = fake(40, HEX, seed=10)
    bearer = fake(40, ALNUM + "-_.", seed=11)
    basic = base64.b64encode(b"alice:" + fake(14, seed=12).encode()).decode()
    rsa = pem("RSA")
    ec = pem("EC")
    openssh = pem("OPENSSH")
    pkcs8 = pem("")
    encrypted = pem("ENCRYPTED")
    pgp = pem("PGP").replace("PRIVATE KEY-----", "PRIVATE KEY BLOCK-----")
    truncated = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(fake(64, B64, seed=i) for i in range(3))
    gsa_key = pem("", newline="\\n")
    gsa = json.dumps({"type": "service_account", "project_id": "demo"})[:-1] + f', "private_key": "{gsa_key}\\n"}}'
    return {
        "aws_access_key_id": (f"AWS_ACCESS_KEY_ID={aws_id}", "secret.aws_access_key_id", aws_id),
        "aws_secret_in_context": (
            f"aws_secret_access_key = {aws_secret}\n",
            "secret.aws_secret_access_key",
            aws_secret,
        ),
        "aws_secret_near_key_id": (
            f"creds {aws_id} / {aws_secret} (rotated)",
            "secret.aws_secret_access_key",
            aws_secret,
        ),
        "gcp_api_key": (f"https://maps.googleapis.com/maps/api/js?key={gcp_key}&v=3", "secret.gcp_api_key", gcp_key),
        "gcp_service_account": (gsa, "secret.gcp_service_account", gsa_key),
        "google_oauth_client_secret": (f'"client_secret": "{google_secret}"', "secret.google_oauth", google_secret),
        "google_oauth_token": (f"access token {google_token} expires", "secret.google_oauth", google_token),
        "azure_storage_key": (
            f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={azure_key};EndpointSuffix=core.windows.net",
            "secret.azure_storage_key",
            azure_key,
        ),
        "azure_sas": (
            "https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&ss=b&srt=o&sp=r"
            f"&se=2025-01-01T00:00:00Z&sig={sas_sig}",
            "secret.azure_sas_token",
            sas_sig,
        ),
        "azure_sas_sig_first": (
            f"https://acct.blob.core.windows.net/c/f.txt?sig={sas_sig}&se=2025-01-01T00:00:00Z&sp=r&sv=2022-11-02",
            "secret.azure_sas_token",
            sas_sig,
        ),
        "azure_client_secret": (f"AZURE_CLIENT_SECRET='{azure_client}'", "secret.azure_client_secret", azure_client),
        "github_pat_classic": (f"use token {gh} for the API", "secret.github_token", gh),
        "github_oauth": (f"Authorization: token {gh_oauth}", "secret.github_token", gh_oauth),
        "github_server": (f"GITHUB_TOKEN={gh_server}", "secret.github_token", gh_server),
        "github_fine_grained": (f"pat: {gh_pat}", "secret.github_token", gh_pat),
        "gitlab": (f"git clone https://oauth2:{glpat}@gitlab.com/g/p.git", "secret.gitlab_token", glpat),
        "gitlab_runner": (f"runner registration {gl_runner}", "secret.gitlab_token", gl_runner),
        "slack_bot": (f"SLACK_BOT_TOKEN={slack}", "secret.slack_token", slack),
        "slack_user": (f"token {slack_user}", "secret.slack_token", slack_user),
        "slack_app": (f"SLACK_APP_TOKEN={slack_app}", "secret.slack_token", slack_app),
        "slack_webhook": (f"curl -X POST {hook} -d @msg.json", "secret.slack_webhook", hook),
        "stripe_secret": (f"stripe.api_key = '{stripe}'", "secret.stripe_key", stripe),
        "stripe_restricted": (f"{stripe_rk}", "secret.stripe_key", stripe_rk),
        "stripe_webhook": (f"endpoint secret {stripe_hook}", "secret.stripe_key", stripe_hook),
        "openai": (f"OPENAI_API_KEY={openai}", "secret.openai_key", openai),
        "openai_project": (f"OPENAI_API_KEY={openai_project}", "secret.openai_key", openai_project),
        "openai_legacy": (f"key: {openai_legacy}", "secret.openai_key", openai_legacy),
        "anthropic": (f"x-api-key: {anthropic}", "secret.anthropic_key", anthropic),
        "huggingface": (f"HF_TOKEN={hf}", "secret.huggingface_token", hf),
        "twilio_api_key": (f"TWILIO_API_KEY={twilio}", "secret.twilio_key", twilio),
        "twilio_auth_token": (f"TWILIO_AUTH_TOKEN={twilio_token}", "secret.twilio_key", twilio_token),
        "sendgrid": (f"SENDGRID_API_KEY={sendgrid}", "secret.sendgrid_key", sendgrid),
        "npm_token": (f"npm token {npm}", "secret.npm_token", npm),
        "npmrc": (f"//registry.npmjs.org/:_authToken={npm_rc}", "secret.npm_token", npm_rc),
        "pypi": (f"password = {pypi}", "secret.pypi_token", pypi),
        "pem_rsa": (f"key:\n{rsa}\nthanks", "secret.private_key", rsa),
        "pem_ec": (ec, "secret.private_key", ec),
        "pem_openssh": (f"```\n{openssh}\n```", "secret.private_key", openssh),
        "pem_pkcs8": (pkcs8, "secret.private_key", pkcs8),
        "pem_encrypted": (encrypted, "secret.private_key", encrypted),
        "pgp_private_block": (pgp, "secret.private_key", pgp),
        "pem_truncated": (f"oops {truncated}", "secret.private_key", truncated),
        "jwt": (f"cookie session={jwt}; Path=/", "secret.jwt", jwt),
        "jwt_in_bearer": (f"Authorization: Bearer {jwt}", "secret.jwt", jwt),
        "postgres_url": (
            f"DATABASE_URL=postgres://app:{pg_pw}@db.internal:5432/app",
            "secret.connection_string",
            pg_pw,
        ),
        "redis_url_no_user": (f"redis://:{redis_pw}@cache:6379/0", "secret.connection_string", redis_pw),
        "mongodb_srv": (
            f"mongodb+srv://svc:{mongo_pw}@cluster0.example.net/db?retryWrites=true",
            "secret.connection_string",
            mongo_pw,
        ),
        "jdbc": (
            f"jdbc:mysql://db:3306/app?user=app&password={jdbc_pw}&useSSL=true",
            "secret.connection_string",
            jdbc_pw,
        ),
        "odbc": (
            f"Server=tcp:x.database.windows.net,1433;Database=app;User ID=app;Password={odbc_pw};Encrypt=true",
            "secret.connection_string",
            odbc_pw,
        ),
        "odbc_password_first": (
            f"Pwd={odbc_pw};Driver={{ODBC Driver 18}};Server=db;Uid=app;",
            "secret.connection_string",
            odbc_pw,
        ),
        "https_credentials": (f"https://deploy:{pg_pw}@ci.example.com/hook", "secret.url_credentials", pg_pw),
        "entropy_assignment": (f'api_key = "{entropy_value}"', "secret.high_entropy", entropy_value),
        "entropy_yaml_hex": (f"SECRET: {hex_value}\n", "secret.high_entropy", hex_value),
        "entropy_json": (f'{{"client_secret": "{entropy_value}"}}', "secret.high_entropy", entropy_value),
        "bearer": (f"curl -H 'Authorization: Bearer {bearer}' https://api", "secret.bearer_token", bearer),
        "basic": (f"Authorization: Basic {basic}", "secret.basic_auth", basic),
        "password_assignment": ('db_password = "Summer2024!x"', "secret.password", "Summer2024!x"),
    }


ROWS = _rows()


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_format_is_found_with_its_exact_span(name: str) -> None:
    text, rule, value = ROWS[name]
    assert (rule, value) in found(text)


def test_every_rule_has_a_row() -> None:
    covered = {rule for _, rule, _ in ROWS.values()}
    assert covered == set(RULES) - {"secret.aws_session_token"} - FAMILY_RULES


def test_every_detector_is_declared_once_and_has_a_row() -> None:
    ids = [detector.id for detector in DETECTORS]
    assert len(ids) == len(set(ids))
    for detector in DETECTORS:
        assert detector.rule.startswith("secret.") and detector.pattern and callable(detector.validate)
        assert isinstance(detector.tier, Tier) and 0 < detector.score <= 1 and detector.message
    assert tuple(sorted({rule for detector in DETECTORS for rule in detector.rules})) == RULES
    assert SecretsScanner().rules == frozenset(RULES)
    kinds = {f.detail["kind"] for text, _, _ in ROWS.values() for f in SCANNER.find(text)}
    assert set(ids) - kinds - FAMILY_IDS == {"aws_session_token"}  # test_aws_session_token_in_context


def test_aws_session_token_in_context() -> None:
    token = fake(180, B64, seed=20)
    assert found(f"aws_session_token = {token}") == [("secret.aws_session_token", token)]


def _negatives() -> dict[str, str]:
    png = base64.b64encode(bytes(random.Random(1).randrange(256) for _ in range(600))).decode()
    return {
        "uuids": "ids 123e4567-e89b-12d3-a456-426614174000 and 7f9c2ba4-e88f-11ee-9a4b-0242ac120002",
        "git_shas": "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 (parent 3b18e512dba79e4c8300dd08aeb37f8e728b8dad)",
        "base64_image": f'<img src="data:image/png;base64,{png}">',
        "npm_lock_integrity": f'"integrity": "sha512-{fake(86, B64, seed=30)}=="',
        "poetry_lock_hash": f'{{file = "x.whl", hash = "sha256:{hashlib.sha256(b"x").hexdigest()}"}}',
        "docker_digest": f"image: ghcr.io/acme/web@sha256:{hashlib.sha256(b'y').hexdigest()}",
        "code_identifiers": (
            "token = request.headers.get('X-Token')\nmax_tokens = 4096\napi_key = os.environ['API_KEY']\n"
            "password = get_password()\nsecret_key = settings.SECRET_KEY\nconst apiKey = process.env.API_KEY;\n"
            "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')\npassword_hint: str = ''\n"
            "access_token_url = 'https://oauth2.googleapis.com/token'\n"
        ),
        "placeholders": (
            'api_key: "<your-api-key>"\nAPI_KEY=${OPENAI_API_KEY}\npassword: changeme\ntoken: xxxxxxxxxxxxxxxx\n'
            "secret: {{ .Values.secret }}\nAuthorization: Bearer $TOKEN\nAuthorization: Bearer <token>\n"
            "SECRET_KEY=your-secret-key-here\n"
        ),
        "sequential": "api_key = 'abcdefghijklmnopqrstuvwxyz012345'\ntoken = '0123456789abcdef0123456789abcdef'",
        "docs_connection_strings": (
            "postgres://user:password@localhost/db and mysql://root:${MYSQL_PASSWORD}@db/app "
            "and redis://:<password>@host:6379"
        ),
        "aws_documented_example": "AWS_ACCESS_KEY_ID=AK" + "IAIOSFODNN7EXAMPLE",
        "not_json_jwt_header": "eyJub3QganNvbg.eyJzdWIiOiAxfQ.abcdefghijklmnop",
        "jwt_without_alg": b64url_json({"typ": "JWT"}) + "." + b64url_json({"sub": 1}) + "." + fake(20),
        "prose": (
            "The secret to good bread is time. Password: Required for all staff. Tokens: 3 remaining. "
            "Use sk-learn, task-12345678 and the scikit-learn docs; xoxo from the team!"
        ),
        "pem_public_key": "-----BEGIN PUBLIC KEY-----\n" + fake(64, B64) + "\n-----END PUBLIC KEY-----",
        "pem_header_mention": "look for lines like -----BEGIN RSA PRIVATE KEY----- in your repo",
        "short_hex_in_context": "token: deadbeef",
        "css_and_colors": "color: #1a2b3c; --secret-color: #ff00ff; font: 12px/1.5 Inter",
        "doc_url_userinfo": "new URL('https://abc:xyz@example.com') and cvs://:pserver:anoncvs@sources.example.org",
        "paths_in_pwd": '{"PWD": "/home/dev/project", "OLDPWD": "/tmp"}\n%sudo ALL=(root) NOPASSWD: /bin/systemctl',
        "code_expressions": "password = base64.b16encode(os.urandom(16))\ntoken = jwt.encode(payload, key)",
        "query_string_params": "?oauth_token_secret=secret%3Dpassword&oauth_token=lock%26key",
    }


NEGATIVES = _negatives()


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_negatives_do_not_fire(name: str) -> None:
    assert found(NEGATIVES[name]) == []


def test_detail_never_holds_the_value_and_fingerprints_are_keyed() -> None:
    text, _, value = ROWS["github_pat_classic"]
    [finding] = SCANNER.find(text)
    flat = json.dumps(finding.to_json())
    assert value not in flat
    assert value[4:20] not in flat
    assert hashlib.sha256(value.encode()).hexdigest()[:16] not in flat
    fingerprint = finding.detail["fingerprint"]
    assert fingerprint.startswith("hmac-sha256:")
    key = b"k" * 32
    first = SecretsScanner(fingerprint_key=key).find(text)[0].detail["fingerprint"]
    again = SecretsScanner(fingerprint_key=key).find("again: " + value)[0].detail["fingerprint"]
    other = SecretsScanner(fingerprint_key=b"o" * 32).find(text)[0].detail["fingerprint"]
    assert first == again != other
    with pytest.raises(ValueError, match="16 bytes"):
        SecretsScanner(fingerprint_key=b"short")
    # a key from YAML configuration arrives as text
    assert SecretsScanner(fingerprint_key="k" * 32).find(text)[0].detail["fingerprint"] == first
    assert "k" * 32 not in repr(SecretsScanner(fingerprint_key=key))


@pytest.mark.parametrize(
    ("source", "suggested"),
    [
        (Source.ARGUMENT, Response.DENY),
        (Source.TOOL_OUTPUT, Response.REDACT),
        (Source.MODEL_OUTPUT, Response.REDACT),
        (Source.USER, Response.REDACT),
    ],
)
def test_suggestion_depends_on_source(source: Source, suggested: Response) -> None:
    text, _, _ = ROWS["stripe_secret"]
    [finding] = SCANNER.scan(item(text, source))
    assert finding.suggested is suggested
    assert finding.category is Category.SECRET
    assert finding.layer == "raw"
    deny_all = SecretsScanner(deny_sources=list(Source))
    assert deny_all.scan(item(text, source))[0].suggested is Response.DENY


def test_rules_can_be_selected() -> None:
    text = ROWS["github_pat_classic"][0] + " " + ROWS["jwt"][0]
    only = SecretsScanner(rules=["secret.jwt"])
    assert [rule for rule, _ in found(text, only)] == ["secret.jwt"]
    with pytest.raises(ValueError, match="unknown secret rule"):
        SecretsScanner(rules=["secret.nope"])
    # a disabled specific rule does not hide what an enabled generic rule finds in the same place
    gh = ROWS["github_pat_classic"][2]
    generic = SecretsScanner(rules=["secret.high_entropy"])
    assert found(f'api_key = "{gh}"', generic) == [("secret.high_entropy", gh)]


def test_specific_format_wins_over_generic_context() -> None:
    # a GitHub token assigned to api_key is one finding, the specific one
    gh = ROWS["github_pat_classic"][2]
    assert found(f'api_key = "{gh}"') == [("secret.github_token", gh)]
    jwt = ROWS["jwt"][2]
    assert found(f"Authorization: Bearer {jwt}") == [("secret.jwt", jwt)]


def test_spans_are_exact_after_non_ascii_text() -> None:
    _, _, value = ROWS["slack_bot"]
    text = f"Grüße 😀 — 𝔘𝔫𝔦 token {value} ✓"
    assert found(text) == [("secret.slack_token", value)]
    assert found("x\ud800 " + value) == [("secret.slack_token", value)]


def test_several_secrets_are_all_found_sorted() -> None:
    names = ["github_pat_classic", "postgres_url", "pem_rsa", "entropy_assignment", "slack_webhook"]
    text = "\n".join(ROWS[n][0] for n in names)
    got = found(text)
    assert [(ROWS[n][1], ROWS[n][2]) for n in names] == got


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN RSA PRIVATE KEY-----" * 2000,
        "api_key=" * 5000,
        "eyJhbGciOi.eyJhbGciOi." * 2000,
        "postgres://u:p@h " * 2000,
        "a" * 50_000 + "@",
        ("x" * 30 + "=") * 2000,
    ],
    ids=["begin", "assign", "jwt", "urls", "run", "eq"],
)
def test_regex_bait_completes(text: str) -> None:
    # RE2 never backtracks; these complete in linear time (measured by the benchmark, not asserted here)
    assert isinstance(SCANNER.find(text), list)


# --- entropy helpers ----------------------------------------------------------------------------------


def test_shannon_entropy_reference_values() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abab") == pytest.approx(1.0)
    assert shannon_entropy("0123456789abcdef") == pytest.approx(4.0)


def test_expected_random_entropy_is_below_the_cap_and_grows_with_length() -> None:
    values = [expected_random_entropy(n, 64) for n in (8, 16, 32, 64, 128)]
    assert values == sorted(values)
    for n, v in zip((8, 16, 32, 64, 128), values, strict=True):
        assert v < min(math.log2(n), 6.0)
    # matches a direct simulation within a small tolerance
    rng = random.Random(3)
    sims = [shannon_entropy("".join(rng.choice(B64[:64]) for _ in range(32))) for _ in range(400)]
    assert expected_random_entropy(32, 64) == pytest.approx(sum(sims) / len(sims), abs=0.03)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (fake(32), True),
        (fake(40, HEX), True),
        (fake(20, ALNUM + "-_"), True),
        ("correcthorsebatterystaple", False),
        ("ThisIsMyApiKeyForTesting", False),
        ("abcdefghijklmnopqrstu", False),
        ("1234567890123456789", False),
        ("short1A", False),
        ("${SECRET_VALUE_FROM_ENV}", False),
    ],
)
def test_random_looking(value: str, expected: bool) -> None:
    assert random_looking(value) is expected


def test_password_and_sequence_helpers() -> None:
    assert password_like("Summer2024!")
    assert not password_like("required")
    assert not password_like("get_password")
    assert not password_like("12345678")
    assert is_sequential("abcdefgh") and is_sequential("98765432")
    assert not is_sequential(fake(16))


def test_registered_entry_point_builds_with_options() -> None:
    scanner = load_scanner("secrets", {"fingerprint_key": "x" * 32, "deny_sources": ["argument", "model_output"]})
    assert isinstance(scanner, SecretsScanner)
    text = ROWS["npm_token"][0]
    assert [f.suggested for f in scanner.scan(item(text, Source.MODEL_OUTPUT))] == [Response.DENY]
