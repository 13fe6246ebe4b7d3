"""OSV export (validated against the vendored OSV schema) and the signed feed that carries it.

A feed file is ``{"warded_feed": 1, "payload": <base64 of the OSV JSON>, "signatures": [{"keyid", "sig"}]}``;
each signature is Ed25519 over ``b"warded-incident-feed/v1\\n" + payload bytes`` by a key of the approvals'
key set (``warded keygen``). The bytes signed are the bytes imported: no canonicalisation to get wrong.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warded import __version__
from warded.audit.keys import Signer
from warded.errors import WardedError
from warded.incident.model import Incident
from warded.jsonio import loads

DOMAIN = b"warded-incident-feed/v1\n"
#: A feed larger than this is refused unread.
MAX_FEED_BYTES = 4 << 20


class FeedError(WardedError):
    """A feed that is unsigned, signed by no trusted key, tampered with, or not a valid OSV record."""


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def osv_schema() -> dict[str, Any]:
    text = resources.files("warded.incident").joinpath("schemas/osv-schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def validate_osv(record: Mapping[str, Any]) -> None:
    """Raise ``FeedError`` unless ``record`` is valid against the OSV schema."""
    import jsonschema  # noqa: PLC0415

    validator = jsonschema.Draft202012Validator(osv_schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        raise FeedError(f"not a valid OSV record at {where}: {errors[0].message}")


def to_osv(incident: Incident) -> dict[str, Any]:
    """The record in the OSV schema; warded's own fields under ``database_specific.warded``."""
    warded = incident.model_dump(mode="json", exclude={"id", "title", "details", "created", "updated"})
    for event in warded["timeline"]:
        event["ts"] = _rfc3339(event["ts"])
    if warded.get("evidence") and warded["evidence"].get("checkpoint"):
        warded["evidence"]["checkpoint"]["ts"] = _rfc3339(warded["evidence"]["checkpoint"]["ts"])
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": incident.id,
        "modified": _rfc3339(incident.updated),
        "published": _rfc3339(incident.created),
        "summary": incident.title,
        "details": incident.details or incident.title,
        "database_specific": {"warded": warded, "exported_by": f"warded {__version__}"},
    }
    fixes = [i for i in incident.indicators if i.kind == "bypass_pattern" and i.fixed_in]
    if fixes:
        record["affected"] = [
            {
                "package": {"ecosystem": "PyPI", "name": "warded", "purl": "pkg:pypi/warded"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixes[0].fixed_in}]}],
            }
        ]
    validate_osv(record)
    return record


def _time(text: object) -> float:
    if not isinstance(text, str):
        raise FeedError("a timestamp in the feed is not a string")
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        raise FeedError(f"timestamp {text!r} is not RFC 3339 (YYYY-MM-DDTHH:MM:SSZ)") from None


def from_osv(record: Mapping[str, Any], signer: str) -> Incident:
    """An imported OSV record back to an incident (its indicators are what becomes controls)."""
    validate_osv(record)
    spec = record.get("database_specific", {}).get("warded")
    if not isinstance(spec, Mapping):
        raise FeedError(f"OSV record {record.get('id')!r} carries no database_specific.warded section")
    data = dict(spec)
    data["timeline"] = [{**e, "ts": _time(e.get("ts"))} for e in data.get("timeline", []) if isinstance(e, Mapping)]
    evidence = data.get("evidence")
    if isinstance(evidence, Mapping) and isinstance(evidence.get("checkpoint"), Mapping):
        data["evidence"] = {
            **evidence,
            "checkpoint": {**evidence["checkpoint"], "ts": _time(evidence["checkpoint"]["ts"])},
        }
    data.update(
        id=record["id"],
        title=record.get("summary") or record["id"],
        details=record.get("details", ""),
        created=_time(record.get("published", record["modified"])),
        updated=_time(record["modified"]),
        signer=signer,
    )
    try:
        return Incident.model_validate(data)
    except ValueError as exc:
        raise FeedError(f"OSV record {record.get('id')!r}: its warded section is malformed: {exc}") from None


def sign_feed(record: Mapping[str, Any], signers: Sequence[Signer]) -> dict[str, Any]:
    if not signers:
        raise FeedError("a feed needs at least one signing key")
    payload = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return {
        "warded_feed": 1,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {"keyid": s.key_id, "sig": base64.b64encode(s.sign(DOMAIN + payload)).decode("ascii")} for s in signers
        ],
    }


def open_feed(raw: bytes, trusted: Mapping[str, Ed25519PublicKey]) -> tuple[dict[str, Any], str]:
    """Verify a feed; returns (the OSV record, the key id that vouched for it). Raises ``FeedError``."""
    if len(raw) > MAX_FEED_BYTES:
        raise FeedError(f"the feed is larger than {MAX_FEED_BYTES} bytes")
    try:
        feed = loads(raw)
    except ValueError as exc:
        raise FeedError(f"the feed is not valid JSON: {exc}") from None
    if not isinstance(feed, Mapping) or feed.get("warded_feed") != 1:
        raise FeedError('not a warded incident feed (no "warded_feed": 1): unsigned records are refused')
    signatures = feed.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise FeedError("the feed is unsigned")
    try:
        payload = base64.b64decode(str(feed.get("payload", "")), validate=True)
    except (binascii.Error, ValueError):
        raise FeedError("the feed's payload is not base64") from None
    vouched: str | None = None
    for entry in signatures:
        if not isinstance(entry, Mapping):
            continue
        key = trusted.get(str(entry.get("keyid")))
        if key is None:
            continue
        try:
            key.verify(base64.b64decode(str(entry.get("sig", "")), validate=True), DOMAIN + payload)
        except (InvalidSignature, binascii.Error, ValueError):
            raise FeedError(f"the signature of trusted key {entry.get('keyid')} does not verify: tampered") from None
        vouched = str(entry.get("keyid"))
    if vouched is None:
        ids = ", ".join(str(e.get("keyid")) for e in signatures if isinstance(e, Mapping))
        raise FeedError(f"the feed is signed by no trusted key (signed by: {ids or 'nothing readable'})")
    try:
        record = loads(payload)
    except ValueError as exc:
        raise FeedError(f"the signed payload is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise FeedError("the signed payload is not an OSV record")
    return record, vouched
