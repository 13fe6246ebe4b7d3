"""PII and secrets detection beside their peers, in one run: warded against Presidio and detect-secrets 1.5.0.

PII. Per-entity recall and precision on two sets:

- presidio-research's ``synth_dataset_v2.json`` (1,500 labelled sentences, MIT), read as a file from the
  ``presidio-evaluator`` 0.3.2 source distribution on PyPI (``make bench-scan`` downloads and unpacks it; the
  path comes from ``WARDED_BENCH_PII_DATA`` or ``build/bench-data/synth_dataset_v2.json``);
- Faker text: sentences written for this benchmark, filled by Faker (seeded) from ten locales, with the span
  of every value known.

A gold span counts as found when a prediction of the same entity overlaps it; a prediction counts as
correct when it overlaps a gold span of its entity (anything else is a false positive, for every system
alike). Entities neither side is asked to find (organisations, dates, titles, ages, ZIP codes...) are not
scored. Systems: warded's regex ``pii`` scanner alone; the same with the optional ``pii_ner`` scanner
(spaCy ``en_core_web_sm``); Presidio's ``AnalyzerEngine`` on the same spaCy model (Presidio's default is
``en_core_web_lg``, which no PyPI wheel ships).

Secrets. Per-family recall on credential lines and the false-positive rate on benign lines, warded's
``secrets`` scanner against detect-secrets 1.5.0 with all its plugins and default filters (``scan_line``):

- positives: one line per credential, generated here (seeded) from each vendor's documented format and set
  in one of several carriers (an env file, JSON, YAML, a shell command, Python). gitleaks' own test cases are
  Go source in its repository and ship in no PyPI, npm or Debian package reachable here, and detect-secrets'
  tests are in neither its wheel nor its sdist, so neither set could be used;
- negatives: lines of text files inside installed packages (source code, ``RECORD`` files full of sha256
  digests, certificate bundles, licences), deterministic sample, plus UUIDs and lockfile integrity lines.

A line counts as detected when a system reports anything on it. detect-secrets scans the lines as its CLI
scans a file (one ``.txt`` file, ``scan_file``); warded scans each line as one text. Every figure comes with
the time each system took per text or line, measured in the same run on the same inputs.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import importlib
import importlib.metadata
import json
import os
import random
import string
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warded.scan.scanners.pii import PiiScanner
from warded.scan.scanners.pii.ner import DEFAULT_MODEL, PiiNerScanner, model_installed
from warded.scan.scanners.secrets import SecretsScanner

#: Where ``make bench-scan`` unpacks presidio-research's data set (overridden by ``WARDED_BENCH_PII_DATA``).
DEFAULT_PII_DATA = Path("build/bench-data/synth_dataset_v2.json")

#: SHA-256 of presidio-evaluator 0.3.2's ``data/synth_dataset_v2.json`` (recorded in DATA.md).
SYNTH_SHA256 = "ec08a771ba8135314cafb60752b2295212222ba3a4cd75d73811839c699e0012"

#: Gold labels of the data sets -> the entity scored.
GOLD: Mapping[str, str] = {
    "PERSON": "PERSON",
    "GPE": "LOCATION",
    "LOCATION": "LOCATION",
    "STREET_ADDRESS": "ADDRESS",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP",
}
#: warded rule ids -> the entity scored.
WARDED: Mapping[str, str] = {
    "pii.person": "PERSON",
    "pii.location": "LOCATION",
    "pii.address": "ADDRESS",
    "pii.phone": "PHONE",
    "pii.email": "EMAIL",
    "pii.card": "CARD",
    "pii.iban": "IBAN",
    "pii.national_id.us_ssn": "US_SSN",
    "pii.ip": "IP",
}
#: Presidio entity types -> the entity scored.
PRESIDIO: Mapping[str, str] = {
    "PERSON": "PERSON",
    "LOCATION": "LOCATION",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP",
}

Span = tuple[int, int, str]
Predictor = Callable[[str], list[Span]]


@dataclass(frozen=True, slots=True)
class Sample:
    """A text and its gold spans (start, end, scored entity)."""

    text: str
    spans: tuple[Span, ...]


# -- data ------------------------------------------------------------------------------------------------------


def pii_data_path() -> Path:
    return Path(os.environ.get("WARDED_BENCH_PII_DATA") or DEFAULT_PII_DATA)


def load_synth(path: Path, limit: int | None = None) -> list[Sample]:
    """presidio-research's ``synth_dataset_v2.json``: a list of ``{full_text, spans: [{entity_type,
    start_position, end_position}]}``. Raises ``ValueError`` on anything else (never a partial read)."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of samples")
    out: list[Sample] = []
    for i, row in enumerate(rows[:limit] if limit else rows):
        try:
            text = row["full_text"]
            spans = tuple(
                (int(s["start_position"]), int(s["end_position"]), GOLD[s["entity_type"]])
                for s in row["spans"]
                if s["entity_type"] in GOLD
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: sample {i} is not in the synth_dataset_v2 shape: {exc}") from exc
        if not isinstance(text, str) or any(not 0 <= s < e <= len(text) for s, e, _ in spans):
            raise ValueError(f"{path}: sample {i} has a span outside its text")
        out.append(Sample(text, spans))
    return out


#: Carrier sentences for Faker values, written for this benchmark: {slot} names a Faker provider.
_TEMPLATES = (
    "Please ship it to {name} at {street}, and call {phone} if nobody answers.",
    "{name} moved from {city} to {country} last spring; new mobile {phone}.",
    "Reach {name} at {email} or on {phone}.",
    "Customer {name} paid with card {card}; refund to IBAN {iban}.",
    "Employee record: {name}, SSN {ssn}. Office in {city}.",
    "Login from {ip} by {name} ({email}) flagged at 03:12.",
    "Hi {first}, the courier could not find {street}. Can you confirm by phone ({phone})?",
    "Meeting with {name} in {city} next week, then {name2} joins from {country}.",
    "Tel. {phone} / fax {phone2} -- {name}, {city}",
    "Forward the contract to {name} ({email}); her assistant {name2} is in {city}.",
)
_SLOT_ENTITY = {
    "name": "PERSON",
    "name2": "PERSON",
    "first": "PERSON",
    "city": "LOCATION",
    "country": "LOCATION",
    "street": "ADDRESS",
    "phone": "PHONE",
    "phone2": "PHONE",
    "email": "EMAIL",
    "card": "CARD",
    "iban": "IBAN",
    "ssn": "US_SSN",
    "ip": "IP",
}
_LOCALES = ("en_US", "en_GB", "en_AU", "en_CA", "en_IE", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL")


def faker_samples(n: int = 300, seed: int = 7) -> list[Sample]:
    """``n`` sentences from :data:`_TEMPLATES` filled by Faker in a locale drawn per sentence (addresses
    and SSNs are always en_US: the shapes warded claims). Needs the ``faker`` package (bench extra)."""
    faker_module = importlib.import_module("faker")
    rng = random.Random(seed)
    fakers = {loc: faker_module.Faker(loc) for loc in _LOCALES}
    for i, fk in enumerate(fakers.values()):
        fk.seed_instance(seed * 100 + i)
    us = fakers["en_US"]
    out: list[Sample] = []
    for _ in range(n):
        fk = fakers[rng.choice(_LOCALES)]
        values = {
            "name": fk.name(),
            "name2": fk.name(),
            "first": fk.first_name(),
            "city": fk.city(),
            "country": fk.country(),
            "street": us.address().replace("\n", ", "),
            "phone": fk.phone_number(),
            "phone2": fk.phone_number(),
            "email": fk.email(),
            "card": us.credit_card_number(),
            "iban": fk.iban(),
            "ssn": us.ssn(),
            "ip": fk.ipv4_public(),
        }
        template = rng.choice(_TEMPLATES)
        text, spans = _fill(template, values)
        out.append(Sample(text, tuple(spans)))
    return out


def _fill(template: str, values: Mapping[str, str]) -> tuple[str, list[Span]]:
    parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    rest = template
    while "{" in rest:
        before, _, after = rest.partition("{")
        slot, _, rest = after.partition("}")
        parts.append(before)
        pos += len(before)
        value = values[slot]
        spans.append((pos, pos + len(value), _SLOT_ENTITY[slot]))
        parts.append(value)
        pos += len(value)
    parts.append(rest)
    return "".join(parts), spans


# -- PII systems -----------------------------------------------------------------------------------------------


def warded_predictor(*, ner: bool) -> Predictor:
    pii = PiiScanner()
    pii.warm_up()
    names = PiiNerScanner() if ner else None
    if names is not None:
        names.warm_up()

    def predict(text: str) -> list[Span]:
        found = pii.find(text) + (names.find(text) if names is not None else [])
        return [(f.span[0], f.span[1], WARDED[f.rule_id]) for f in found if f.span and f.rule_id in WARDED]

    return predict


def presidio_predictor(model: str = DEFAULT_MODEL) -> Predictor:
    """Presidio's ``AnalyzerEngine`` with every default recognizer, on the spaCy model ``model`` (loaded from
    the installed package: Presidio is given the model name, so it downloads nothing)."""
    # Presidio's e-mail recognizer calls tldextract, whose default extractor fetches the public-suffix list
    # from the network on first use; give it one that reads only the snapshot bundled in its wheel.
    tldextract: Any = importlib.import_module("tldextract.tldextract")
    tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    analyzer = importlib.import_module("presidio_analyzer")
    nlp_engine = importlib.import_module("presidio_analyzer.nlp_engine")
    provider = nlp_engine.NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    )
    engine = analyzer.AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    engine.analyze("warm up with Ana Lopez in Lisbon, +1 415 555 0134", language="en")

    def predict(text: str) -> list[Span]:
        results = engine.analyze(text, language="en")
        return [(r.start, r.end, PRESIDIO[r.entity_type]) for r in results if r.entity_type in PRESIDIO]

    return predict


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score_pii(samples: Sequence[Sample], predict: Predictor) -> dict[str, Any]:
    """Per-entity recall and precision of ``predict`` on ``samples`` (overlap matching), and its time."""
    gold_n: dict[str, int] = {}
    gold_hit: dict[str, int] = {}
    pred_n: dict[str, int] = {}
    pred_ok: dict[str, int] = {}
    elapsed = 0.0
    for sample in samples:
        started = time.perf_counter()
        predicted = predict(sample.text)
        elapsed += time.perf_counter() - started
        for start, end, entity in sample.spans:
            gold_n[entity] = gold_n.get(entity, 0) + 1
            if any(e == entity and _overlaps((s, x), (start, end)) for s, x, e in predicted):
                gold_hit[entity] = gold_hit.get(entity, 0) + 1
        for start, end, entity in predicted:
            pred_n[entity] = pred_n.get(entity, 0) + 1
            if any(e == entity and _overlaps((s, x), (start, end)) for s, x, e in sample.spans):
                pred_ok[entity] = pred_ok.get(entity, 0) + 1
    entities: dict[str, Any] = {}
    for entity in sorted(set(gold_n) | set(pred_n)):
        support, predictions = gold_n.get(entity, 0), pred_n.get(entity, 0)
        entities[entity] = {
            "support": support,
            "recall": round(gold_hit.get(entity, 0) / support, 4) if support else None,
            "predictions": predictions,
            "precision": round(pred_ok.get(entity, 0) / predictions, 4) if predictions else None,
        }
    return {
        "texts": len(samples),
        "entities": entities,
        "ms_per_text": round(elapsed * 1000 / max(1, len(samples)), 3),
    }


# -- secrets ---------------------------------------------------------------------------------------------------

_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "_-"
_HEX = "0123456789abcdef"
_B64 = _ALNUM + "+/"


def _draw(rng: random.Random, n: int, chars: str = _ALNUM) -> str:
    return "".join(rng.choice(chars) for _ in range(n))


def _discord(rng: random.Random) -> str:
    user_id = str(rng.randrange(10**17, 10**19)).encode()
    return (
        base64.urlsafe_b64encode(user_id).decode().rstrip("=")
        + "."
        + _draw(rng, 6, _URLSAFE)
        + "."
        # the third part: 27 characters for older tokens, 38 for newer ones
        + _draw(rng, rng.choice((27, 38)), _URLSAFE)
    )


_UPPER_DIGITS = string.ascii_uppercase + string.digits


def _slack_token(r: random.Random) -> str:
    return f"xoxb-{_draw(r, 11, string.digits)}-{_draw(r, 13, string.digits)}-{_draw(r, 24)}"


def _slack_webhook(r: random.Random) -> str:
    scheme = r.choice(("http", "https"))
    team, bot = _draw(r, 10, _UPPER_DIGITS), _draw(r, 10, _UPPER_DIGITS)
    return f"{scheme}://hooks.slack.com/services/T{team}/B{bot}/{_draw(r, 24)}"


def _jwt(r: random.Random) -> str:
    claims = json.dumps({"sub": _draw(r, 8), "iat": r.randrange(1_600_000_000, 1_800_000_000)}).encode()
    payload = base64.urlsafe_b64encode(claims).decode().rstrip("=")
    return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + payload + "." + _draw(r, 43, _URLSAFE)


def _square(r: random.Random) -> str:
    forms = ("sq0atp-" + _draw(r, 22, _URLSAFE), "EAAA" + _draw(r, 60, _URLSAFE), "sq0csp-" + _draw(r, 43, _URLSAFE))
    return r.choice(forms)


def _pem(r: random.Random) -> str:
    return "-----BEGIN RSA PRIVATE KEY-----\\n" + _draw(r, 64, _B64) + "\\n-----END RSA PRIVATE KEY-----"


def _password(r: random.Random) -> str:
    return r.choice(("my p@ss ", "Tr0ub4dor&", "s3cret;")) + _draw(r, 4, string.digits + "!#%&")


#: family -> (env-style name, value generator). Formats from each vendor's documentation and the rule sets of
#: detect-secrets and gitleaks; values drawn at random, so nothing here is a real credential.
_FAMILIES: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID", lambda r: "AKIA" + _draw(r, 16, string.ascii_uppercase + "234567")),
    "aws_bedrock_api_key": ("AWS_BEARER_TOKEN_BEDROCK", lambda r: "ABSK" + _draw(r, 132, _B64)),
    "github_token": ("GITHUB_TOKEN", lambda r: "ghp_" + _draw(r, 36)),
    "gitlab_token": ("GITLAB_TOKEN", lambda r: "glpat-" + _draw(r, 20, _URLSAFE)),
    "slack_token": ("SLACK_BOT_TOKEN", _slack_token),
    "slack_webhook": ("SLACK_WEBHOOK", _slack_webhook),
    "stripe_key": ("STRIPE_SECRET_KEY", lambda r: "sk_live_" + _draw(r, 24)),
    "openai_key": ("OPENAI_API_KEY", lambda r: "sk-proj-" + _draw(r, 20) + "T3BlbkFJ" + _draw(r, 20)),
    "huggingface_token": ("HF_TOKEN", lambda r: "hf_" + _draw(r, 34, string.ascii_letters)),
    "huggingface_org_token": ("HF_ORG_TOKEN", lambda r: "api_org_" + _draw(r, 34, string.ascii_letters)),
    "sendgrid_key": ("SENDGRID_API_KEY", lambda r: "SG." + _draw(r, 22, _URLSAFE) + "." + _draw(r, 43, _URLSAFE)),
    "npm_token": ("NPM_TOKEN", lambda r: "npm_" + _draw(r, 36)),
    "pypi_token": ("PYPI_TOKEN", lambda r: "pypi-AgEIcHlwaS5vcmc" + _draw(r, 70, _URLSAFE)),
    "jwt": ("SESSION", _jwt),
    "twilio_key": ("TWILIO_API_KEY", lambda r: "SK" + _draw(r, 32, _HEX)),
    "softlayer_key": ("SOFTLAYER_API_KEY", lambda r: _draw(r, 64, string.ascii_lowercase + string.digits)),
    "telegram_bot_token": ("TELEGRAM_BOT_TOKEN", lambda r: f"{r.randrange(10**8, 10**10)}:AA{_draw(r, 33, _URLSAFE)}"),
    "ibm_cloud_iam_key": ("IBM_CLOUD_API_KEY", lambda r: _draw(r, 44, _URLSAFE)),
    "ibm_cos_hmac": ("COS_SECRET_ACCESS_KEY", lambda r: _draw(r, 48, _HEX)),
    "artifactory_token": ("ARTIFACTORY_API_KEY", lambda r: "AKCp" + _draw(r, 69)),
    "mailchimp_key": ("MAILCHIMP_API_KEY", lambda r: _draw(r, 32, _HEX) + f"-us{r.randrange(1, 21)}"),
    "discord_token": ("DISCORD_BOT_TOKEN", _discord),
    "square_token": ("SQUARE_ACCESS_TOKEN", _square),
    "cloudant_credential": ("CLOUDANT_PASSWORD", lambda r: _draw(r, 64, _HEX)),
    "private_key": ("PRIVATE_KEY", _pem),
    "connection_string": ("DATABASE_URL", lambda r: f"postgres://app:{_draw(r, 16)}@db.internal:5432/app"),
    "password_with_spaces_or_symbols": ("DB_PASSWORD", _password),
}

_CARRIERS: tuple[Callable[[str, str], str], ...] = (
    lambda name, value: f"{name}={value}",
    lambda name, value: f'  "{name.lower()}": "{value}",',
    lambda name, value: f"{name.lower()}: '{value}'",
    lambda name, value: f'export {name}="{value}"',
    lambda name, value: f'{name.lower()} = "{value}"  # set by deploy',
)


def secret_cases(per_family: int = 20, seed: int = 3) -> dict[str, list[str]]:
    """``per_family`` credential lines for each family, each value in one of the carriers."""
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    for family, (name, make) in _FAMILIES.items():
        out[family] = [_CARRIERS[i % len(_CARRIERS)](name, make(rng)) for i in range(per_family)]
    return out


#: Installed distributions whose text files give the benign lines (code, digests, certificates, licences).
_BENIGN_DISTS = (
    "faker", "pydantic", "pydantic_core", "starlette", "httpx", "httpcore", "sqlglot", "mcp", "certifi",
    "idna", "PyYAML", "uvicorn", "jsonschema", "referencing", "cryptography", "redis", "psycopg", "anyio",
    "phonenumbers", "numpy",
)  # fmt: skip
_TEXT_SUFFIXES = (".py", ".pyi", ".txt", ".pem", ".json", ".toml", ".cfg", ".md", ".rst", "RECORD", "METADATA")


def benign_lines(limit: int = 9000, seed: int = 4, dists: Iterable[str] = _BENIGN_DISTS) -> list[str]:
    """A deterministic sample of ``limit`` distinct non-blank lines from text files of installed packages,
    plus generated UUIDs and lockfile integrity lines (a tenth of the sample)."""
    pool = _package_lines(tuple(dists))
    rng = random.Random(seed)
    generated_n = limit // 10
    lines = rng.sample(pool, min(len(pool), limit - generated_n))
    for i in range(generated_n):
        kind = i % 3
        if kind == 0:
            lines.append(f"id: {uuid.UUID(int=rng.getrandbits(128), version=4)}")
        elif kind == 1:
            digest = base64.b64encode(rng.randbytes(64)).decode()
            lines.append(f'"integrity": "sha512-{digest}",')
        else:
            lines.append(f"    sha256:{rng.randbytes(32).hex()} \\")
    return lines


@functools.lru_cache(maxsize=4)
def _package_lines(dists: tuple[str, ...]) -> list[str]:
    """The distinct lines (8-400 characters, stripped) of the text files of ``dists``, sorted."""
    pool: set[str] = set()
    for name in dists:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or ():
            if not str(file).endswith(_TEXT_SUFFIXES):
                continue
            try:
                text = Path(str(file.locate())).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            pool.update(line.strip() for line in text.splitlines() if 8 <= len(line.strip()) <= 400)
    return sorted(pool)


#: Finds which of a list of lines hold a secret: the indices flagged.
LineDetector = Callable[[Sequence[str]], set[int]]


def warded_secrets() -> LineDetector:
    """warded's ``secrets`` scanner, one call per line (as a gateway sees one text at a time)."""
    scanner = SecretsScanner()
    scanner.warm_up()
    return lambda lines: {i for i, line in enumerate(lines) if scanner.find(line)}


def detect_secrets_peer() -> LineDetector:
    """detect-secrets as its CLI scans a file: the lines written to one ``.txt`` file, scanned by
    ``scan_file`` under its default settings (every plugin it ships, default filters and limits)."""
    settings = importlib.import_module("detect_secrets.settings")
    scan = importlib.import_module("detect_secrets.core.scan")
    plugins = importlib.import_module("detect_secrets.core.plugins.util")
    if not plugins.get_mapping_from_secret_type_to_class():
        raise RuntimeError("detect-secrets has no plugins loaded")

    def detect(lines: Sequence[str]) -> set[int]:
        with tempfile.TemporaryDirectory() as tmp, settings.default_settings():
            path = Path(tmp) / "lines.txt"
            path.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
            return {secret.line_number - 1 for secret in scan.scan_file(str(path))}

    return detect


def score_secrets(cases: Mapping[str, Sequence[str]], negatives: Sequence[str], detect: LineDetector) -> dict[str, Any]:
    """Per-family recall on ``cases``, the FPR on ``negatives``, and the time per line, for ``detect``."""
    positives = [(family, line) for family, lines in cases.items() for line in lines]
    detect([line for _, line in positives[:: max(1, len(positives) // 50)]])  # warm caches, untimed
    started = time.perf_counter()
    hit = detect([line for _, line in positives])
    flagged = detect(negatives)
    elapsed = time.perf_counter() - started
    families: dict[str, Any] = {}
    for family, lines in cases.items():
        indices = [i for i, (f, _) in enumerate(positives) if f == family]
        families[family] = {"positives": len(lines), "recall": round(sum(i in hit for i in indices) / len(lines), 4)}
    return {
        "families": families,
        "recall_all": round(len(hit) / max(1, len(positives)), 4),
        "benign_lines": len(negatives),
        "fpr": round(len(flagged) / max(1, len(negatives)), 4),
        "false_positive_examples": [negatives[i][:120] for i in sorted(flagged)[:5]],
        "us_per_line": round(elapsed * 1e6 / max(1, len(positives) + len(negatives)), 2),
    }


# -- the run ---------------------------------------------------------------------------------------------------


def _peer(build: Callable[[], Any], what: str) -> tuple[Any, str | None]:
    try:
        return build(), None
    except ImportError as exc:
        return None, f"{what} is not installed ({exc}); install the bench extra: pip install 'warded[bench-pii]'"


def run_pii_bench(
    *, synth: Sequence[Sample] | None, faker: Sequence[Sample] | None, peers: bool = True, ner: bool = True
) -> dict[str, Any]:
    """Per-entity figures for each system on each set given (``None``: that set is reported as skipped)."""
    systems: dict[str, Predictor] = {"warded_regex": warded_predictor(ner=False)}
    notes: dict[str, str] = {}
    if not ner:
        notes["warded_regex_ner"] = "not run (ner=False)"
    elif model_installed(DEFAULT_MODEL):
        systems["warded_regex_ner"] = warded_predictor(ner=True)
    else:
        notes["warded_regex_ner"] = f"skipped: {DEFAULT_MODEL} is not installed (pip install 'warded[ner]')"
    if peers:
        presidio, why = _peer(presidio_predictor, "presidio-analyzer")
        if presidio is not None:
            systems["presidio"] = presidio
        else:
            notes["presidio"] = f"skipped: {why}"
    out: dict[str, Any] = {"systems": sorted(systems), "notes": notes}
    for label, samples in (("synth_dataset_v2", synth), ("faker_text", faker)):
        if samples is None:
            out[label] = {"skipped": "data set not available (see the notes of warded.bench.scan_pii)"}
            continue
        out[label] = {name: score_pii(samples, predict) for name, predict in systems.items()}
    return out


def run_secrets_bench(*, per_family: int = 20, benign: int = 9000, peers: bool = True) -> dict[str, Any]:
    cases = secret_cases(per_family)
    negatives = benign_lines(benign)
    out: dict[str, Any] = {"warded": score_secrets(cases, negatives, warded_secrets())}
    if peers:
        peer, why = _peer(detect_secrets_peer, "detect-secrets")
        out["detect_secrets_1_5_0"] = score_secrets(cases, negatives, peer) if peer else {"skipped": why}
    if "us_per_line" in out.get("detect_secrets_1_5_0", {}):
        ratio = out["detect_secrets_1_5_0"]["us_per_line"] / max(1e-9, out["warded"]["us_per_line"])
        out["speed_ratio_detect_secrets_over_warded"] = round(ratio, 1)
    return out


def run_pii_secrets_bench(
    *,
    pii_data: Path | None = None,
    faker_texts: int = 300,
    per_family: int = 20,
    benign: int = 9000,
    synth_limit: int | None = None,
    peers: bool = True,
    ner: bool = True,
) -> dict[str, Any]:
    """The ``pii`` and ``secrets`` sections of ``warded bench scan``."""
    path = pii_data or pii_data_path()
    synth = load_synth(path, synth_limit) if path.is_file() else None
    try:
        faker = faker_samples(faker_texts)
    except ImportError:
        faker = None
    pii = run_pii_bench(synth=synth, faker=faker, peers=peers, ner=ner)
    pii["sample_run"] = bool(synth_limit) or not peers or not ner
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if synth is not None else None
    pii["data"] = {
        "synth_dataset_v2": str(path) if synth is not None else f"missing: {path} (make bench-scan fetches it)",
        "synth_sha256": digest,
        "synth_is_the_recorded_file": digest == SYNTH_SHA256,
        "faker_text": f"{faker_texts} sentences, seed 7" if faker is not None else "missing: pip install faker",
    }
    return {"pii": pii, "secrets": run_secrets_bench(per_family=per_family, benign=benign, peers=peers)}


#: ``warded bench scan --repeats N`` below this runs the PII/secrets section on a small sample, without the
#: peers or the NER model (a smoke run: the CLI test uses it); at or above it, the full evaluation.
FULL_RUN_REPEATS = 100


def pii_secrets_sizes(repeats: int) -> dict[str, Any]:
    """The sizes of the PII/secrets section for a ``warded bench scan --repeats`` value."""
    if repeats >= FULL_RUN_REPEATS:
        return {}
    return {"faker_texts": 20, "per_family": 2, "benign": 300, "synth_limit": 50, "peers": False, "ner": False}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warded.bench.scan_pii", description=__doc__.split("\n")[0])
    parser.add_argument("--pii-data", type=Path, default=None, help="path of synth_dataset_v2.json")
    parser.add_argument("--faker-texts", type=int, default=300)
    parser.add_argument("--per-family", type=int, default=20)
    parser.add_argument("--benign", type=int, default=9000)
    parser.add_argument("--no-peers", action="store_true", help="warded only")
    args = parser.parse_args(argv)
    result = run_pii_secrets_bench(
        pii_data=args.pii_data,
        faker_texts=args.faker_texts,
        per_family=args.per_family,
        benign=args.benign,
        peers=not args.no_peers,
    )
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
