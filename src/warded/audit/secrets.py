"""Record secrets in the audit log as salted hashes, never in plaintext.

A record is ``{"$secret": "sha256-salted", "salt": <32 hex>, "digest": <64 hex>}`` with
``digest = sha256(salt || canonical_json(value))``. It lets an investigator confirm "was this the value?"
without the log revealing it. A salted hash of a low-entropy value (a PIN, a short password) can still be
brute-forced by whoever reads the log; redact such values instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from warded.audit.canonical import canonical_json
from warded.errors import AuditError

__all__ = ["SECRET_MARKER", "SECRET_SCHEME", "hash_secret", "is_secret_record", "matches_secret"]

SECRET_MARKER = "$secret"  # noqa: S105 - a field name, not a password
SECRET_SCHEME = "sha256-salted"  # noqa: S105
_SALT_BYTES = 16


def hash_secret(value: object) -> dict[str, str]:
    """A salted-hash record of ``value`` (any canonical-JSON value) for storing in an audit body."""
    salt = os.urandom(_SALT_BYTES)
    return {
        SECRET_MARKER: SECRET_SCHEME,
        "salt": salt.hex(),
        "digest": _digest(salt, value),
    }


def is_secret_record(obj: object) -> bool:
    """Whether ``obj`` looks like a record made by :func:`hash_secret`."""
    return isinstance(obj, Mapping) and obj.get(SECRET_MARKER) == SECRET_SCHEME


def matches_secret(record: Mapping[str, object], value: object) -> bool:
    """Whether ``record`` was made from ``value`` (constant-time). Raise AuditError if it is malformed."""
    if not is_secret_record(record):
        raise AuditError(f"not a secret record (expected {SECRET_MARKER!r}: {SECRET_SCHEME!r})")
    salt_hex, digest = record.get("salt"), record.get("digest")
    if not isinstance(salt_hex, str) or not isinstance(digest, str) or len(digest) != 64:
        raise AuditError("malformed secret record: needs hex 'salt' and a 64-hex-char 'digest'")
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError as exc:
        raise AuditError("malformed secret record: 'salt' is not hex") from exc
    return hmac.compare_digest(_digest(salt, value).encode("ascii"), digest.encode("ascii", "replace"))


def _digest(salt: bytes, value: object) -> str:
    return hashlib.sha256(salt + canonical_json(value)).hexdigest()
