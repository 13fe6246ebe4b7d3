"""Tamper-evident audit log: hash-chained entries, Ed25519-signed checkpoints, verification."""

from __future__ import annotations

from warded.audit.anchor import format_anchor, parse_anchor, parse_anchors
from warded.audit.canonical import canonical_json
from warded.audit.chain import (
    GENESIS_HASH,
    AuditEntry,
    Checkpoint,
    VerifyReport,
    VerifyRules,
    checkpoint_message,
    entry_hash,
    verify_chain,
    verify_checkpoint,
)
from warded.audit.keys import (
    Signer,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    load_public_keys,
)
from warded.audit.log import AuditLog, open_sqlite_log, verify_store
from warded.audit.redact import scrub
from warded.audit.secrets import hash_secret, is_secret_record, matches_secret

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditLog",
    "Checkpoint",
    "Signer",
    "VerifyReport",
    "VerifyRules",
    "canonical_json",
    "checkpoint_message",
    "entry_hash",
    "format_anchor",
    "generate_keypair",
    "hash_secret",
    "is_secret_record",
    "key_id",
    "load_private_key",
    "load_public_key",
    "load_public_keys",
    "matches_secret",
    "open_sqlite_log",
    "parse_anchor",
    "parse_anchors",
    "scrub",
    "verify_chain",
    "verify_checkpoint",
    "verify_store",
]
