"""Approver keys: the public keys a policy names, loaded into the mapping approval verification takes.

Reading key files only: no approval store, so that compiling a policy does not pull one in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warded.audit.keys import key_id, load_public_key
from warded.errors import KeyFileError

__all__ = ["load_approvers"]

StrPath = str | os.PathLike[str]


def load_approvers(public_keys: Mapping[str, StrPath]) -> dict[str, tuple[str, Ed25519PublicKey]]:
    """``{approver name: public key file}`` to the ``{key_id: (name, key)}`` mapping that verification takes.

    KeyFileError if a file does not hold an Ed25519 public key, or one key is configured under two names.
    """
    out: dict[str, tuple[str, Ed25519PublicKey]] = {}
    for name, path in public_keys.items():
        if not isinstance(name, str) or not name or not name.isprintable():
            raise KeyFileError(f"approver name {name!r:.60} must be a non-empty printable string")
        key = load_public_key(path)
        kid = key_id(key)
        if kid in out:
            raise KeyFileError(f"approver key {kid} is configured twice ({out[kid][0]!r} and {name!r})")
        out[kid] = (name, key)
    return out
