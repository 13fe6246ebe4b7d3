"""Ed25519 keys for signing audit checkpoints: generate, load, identify, sign."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from warded.audit.chain import Checkpoint, checkpoint_message
from warded.errors import KeyFileError

__all__ = [
    "Signer",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "load_public_keys",
    "public_key_path",
]

StrPath = str | os.PathLike[str]


def public_key_path(private_path: StrPath) -> Path:
    """Where :func:`generate_keypair` puts the public key: ``<private_path>.pub``."""
    return Path(os.fspath(private_path) + ".pub")


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex chars of sha256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(private_path: StrPath) -> str:
    """Create a new key: PEM private key at ``private_path`` (mode 0600) and PEM public key at ``.pub``.

    Refuses to overwrite either file. Returns the new key's id.
    """
    private = Path(private_path)
    public = public_key_path(private_path)
    for path in (private, public):
        if path.exists() or path.is_symlink():
            raise KeyFileError(f"refusing to overwrite existing key file {path}")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private, private_pem, 0o600)
    try:
        _write_new(public, public_pem, 0o644)
    except KeyFileError:
        private.unlink()
        raise
    return key_id(key.public_key())


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    except FileExistsError as exc:
        raise KeyFileError(f"refusing to overwrite existing key file {path}") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask may have removed bits; make the mode exact
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise KeyFileError(f"cannot write key file {path}: {exc.strerror}") from exc


def _read(path: StrPath, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"{what} file not found: {path}") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} file {path}: {exc.strerror}") from exc


def load_private_key(path: StrPath) -> Ed25519PrivateKey:
    """Load an unencrypted PEM Ed25519 private key; KeyFileError if missing, malformed or not Ed25519."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # encrypted key, no password given
        raise KeyFileError(f"private key {path} is encrypted; warded needs an unencrypted key file") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(path: StrPath) -> Ed25519PublicKey:
    """Load a PEM Ed25519 public key; raise KeyFileError if missing, malformed or not Ed25519."""
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def load_public_keys(paths: Iterable[StrPath]) -> dict[str, Ed25519PublicKey]:
    """Load several public keys into the ``{key_id: key}`` mapping that verification takes."""
    return {key_id(key): key for key in map(load_public_key, paths)}


class Signer:
    """Holds a private key and signs checkpoints with it. Its repr never shows key material."""

    __slots__ = ("_key", "_key_id", "_public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyFileError(f"Signer needs an Ed25519 private key, got {type(private_key).__name__}")
        self._key = private_key
        self._public_key = private_key.public_key()
        self._key_id = key_id(self._public_key)

    @classmethod
    def from_file(cls, path: StrPath) -> Signer:
        """A signer for the PEM private key at ``path``."""
        return cls(load_private_key(path))

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        """Raw Ed25519 signature over ``message``."""
        return self._key.sign(message)

    def sign_checkpoint(self, seq: int, head_hash: str, ts: float) -> Checkpoint:
        """A checkpoint over the chain head ``(seq, head_hash)``, signed by this key."""
        signature = self._key.sign(checkpoint_message(seq, head_hash, ts, self._key_id))
        return Checkpoint(seq=seq, head_hash=head_hash, ts=ts, key_id=self._key_id, signature_hex=signature.hex())

    def __repr__(self) -> str:
        return f"Signer(key_id={self._key_id!r})"
