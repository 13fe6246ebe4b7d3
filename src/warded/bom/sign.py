"""The BOM's signature: Ed25519 over the exact bytes of the BOM file, kept beside it in ``<bom>.sig``.

A detached signature over the bytes (as sigstore signs an artefact) needs no JSON canonicalisation: any change
to the file, a space included, fails verification. Keys are the ones ``warded keygen`` makes (raw Ed25519
files; ``audit/keys.py``). The signature file is JSON::

    {"format": "warded-bom-signature/1", "alg": "Ed25519", "key_id": "...", "sha256": "...", "signature": "<base64>"}
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature

from warded.audit.keys import Signer, key_id, load_public_key
from warded.bom.generate import validate_bom
from warded.bom.manifest import BomError
from warded.errors import WardedError
from warded.jsonio import loads

__all__ = ["FORMAT", "load_signed_bom", "sign_bom", "signature_path"]

FORMAT = "warded-bom-signature/1"
_MAX_BOM = 64 * 1024 * 1024


def signature_path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path) + ".sig"


def _read(path: str, what: str, limit: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise BomError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise BomError(f"{what} {path!r} is larger than {limit} bytes")
    return data


def sign_bom(path: str | os.PathLike[str], private_key: str | os.PathLike[str]) -> str:
    """Sign the BOM file ``path`` with ``private_key``; writes ``<path>.sig`` and returns its path."""
    data = _read(os.fspath(path), "BOM", _MAX_BOM)
    try:
        signer = Signer.from_file(private_key)
    except WardedError as exc:
        raise BomError(f"cannot load the signing key: {exc.diagnostics()}") from exc
    record = {
        "format": FORMAT,
        "alg": "Ed25519",
        "key_id": signer.key_id,
        "sha256": hashlib.sha256(data).hexdigest(),
        "signature": base64.b64encode(signer.sign(data)).decode("ascii"),
    }
    out = signature_path(path)
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, indent=2) + "\n")
    except OSError as exc:
        raise BomError(f"cannot write {out!r}: {exc.strerror or exc}") from exc
    return out


def load_signed_bom(path: str | os.PathLike[str], public_key: str | os.PathLike[str]) -> Mapping[str, Any]:
    """The parsed BOM at ``path``, once its signature verifies against ``public_key`` and it validates as
    CycloneDX 1.6. Raises :class:`BomError` otherwise (missing, forged or stale signature, another key)."""
    file = os.fspath(path)
    data = _read(file, "BOM", _MAX_BOM)
    raw_sig = _read(signature_path(file), "BOM signature", 64 * 1024)
    try:
        sig = loads(raw_sig)
    except WardedError as exc:
        raise BomError(f"the BOM signature {signature_path(file)!r} is not JSON: {exc.diagnostics()}") from exc
    if not isinstance(sig, dict) or sig.get("format") != FORMAT or sig.get("alg") != "Ed25519":
        raise BomError(f"{signature_path(file)!r} is not a warded BOM signature ({FORMAT}, Ed25519)")
    try:
        key = load_public_key(public_key)
    except WardedError as exc:
        raise BomError(f"cannot load the BOM public key: {exc.diagnostics()}") from exc
    if sig.get("key_id") != key_id(key):
        raise BomError(f"the BOM was signed by key {sig.get('key_id')!r}, not by {key_id(key)!r}")
    try:
        signature = base64.b64decode(str(sig.get("signature", "")), validate=True)
        key.verify(signature, data)
    except (ValueError, InvalidSignature) as exc:
        raise BomError(f"the BOM signature does not verify: {file!r} was changed after signing, or forged") from exc
    try:
        text = data.decode("utf-8")
        bom = loads(data)
    except (UnicodeDecodeError, WardedError) as exc:
        raise BomError(f"the BOM {file!r} is not JSON") from exc
    validate_bom(text)
    if not isinstance(bom, dict):
        raise BomError(f"the BOM {file!r} is not a JSON object")
    return bom
