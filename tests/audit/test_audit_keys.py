"""Ed25519 key files: generation, loading, ids, signing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warded.audit.chain import GENESIS_HASH, verify_checkpoint
from warded.audit.keys import (
    Signer,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    load_public_keys,
    public_key_path,
)
from warded.errors import KeyFileError, VerificationError


def test_generate_writes_private_0600_and_public(tmp_path: Path) -> None:
    private = tmp_path / "audit.key"
    kid = generate_keypair(private)
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    public = public_key_path(private)
    assert public == tmp_path / "audit.key.pub"
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert key_id(load_public_key(public)) == kid
    assert key_id(load_private_key(private).public_key()) == kid


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    private = tmp_path / "k"
    generate_keypair(private)
    before = private.read_bytes(), public_key_path(private).read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        generate_keypair(private)
    assert (private.read_bytes(), public_key_path(private).read_bytes()) == before


def test_generate_refuses_when_only_public_exists(tmp_path: Path) -> None:
    private = tmp_path / "k"
    public_key_path(private).write_text("keep me")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        generate_keypair(private)
    assert not private.exists()
    assert public_key_path(private).read_text() == "keep me"


def test_generate_into_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot create key file"):
        generate_keypair(tmp_path / "nope" / "k")


def test_key_id_is_16_hex_and_stable() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    kid = key_id(key)
    assert len(kid) == 16
    assert int(kid, 16) >= 0
    assert key_id(key) == kid
    assert key_id(Ed25519PrivateKey.generate().public_key()) != kid


def _ec_private_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ec_public_pem() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _encrypted_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "not found"),
        (b"garbage", "not a PEM private key"),
        (b"", "not a PEM private key"),
        ("ec", "not an Ed25519 private key"),
        ("encrypted", "encrypted"),
        ("public", "not a PEM private key"),
    ],
)
def test_load_private_key_errors(tmp_path: Path, content: object, match: str) -> None:
    path = tmp_path / "k"
    data = {"ec": _ec_private_pem, "encrypted": _encrypted_pem, "public": _ec_public_pem}
    if isinstance(content, str):
        path.write_bytes(data[content]())
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(KeyFileError, match=match):
        load_private_key(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "not found"), (b"garbage", "not a PEM public key"), ("ec", "not an Ed25519 public key")],
)
def test_load_public_key_errors(tmp_path: Path, content: object, match: str) -> None:
    path = tmp_path / "k.pub"
    if content == "ec":
        path.write_bytes(_ec_public_pem())
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(KeyFileError, match=match):
        load_public_key(path)


def test_load_private_key_from_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key(tmp_path)


def test_load_public_keys_maps_ids(tmp_path: Path) -> None:
    ids = [generate_keypair(tmp_path / name) for name in ("a", "b")]
    keys = load_public_keys([tmp_path / "a.pub", tmp_path / "b.pub"])
    assert sorted(keys) == sorted(ids)


def test_signer_signs_verifiable_checkpoints(tmp_path: Path) -> None:
    kid = generate_keypair(tmp_path / "k")
    signer = Signer.from_file(tmp_path / "k")
    assert signer.key_id == kid
    cp = signer.sign_checkpoint(5, GENESIS_HASH, 1.5)
    assert (cp.seq, cp.head_hash, cp.ts, cp.key_id) == (5, GENESIS_HASH, 1.5, kid)
    verify_checkpoint(cp, load_public_keys([tmp_path / "k.pub"]))
    other = Signer(Ed25519PrivateKey.generate())
    with pytest.raises(VerificationError, match="unknown key id"):
        verify_checkpoint(cp, {other.key_id: other.public_key})


def test_signer_repr_hides_key_material(tmp_path: Path) -> None:
    generate_keypair(tmp_path / "k")
    signer = Signer.from_file(tmp_path / "k")
    assert repr(signer) == f"Signer(key_id={signer.key_id!r})"


def test_signer_requires_ed25519_private_key() -> None:
    with pytest.raises(KeyFileError, match="Ed25519 private key"):
        Signer(Ed25519PrivateKey.generate().public_key())  # type: ignore[arg-type]
