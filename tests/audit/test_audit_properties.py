"""Properties of the audit log: every single-byte change, deletion, insertion, reorder or truncation
of the stored log is detected, and verification names the first bad entry."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from warded.audit.canonical import canonical_json
from warded.audit.chain import GENESIS_HASH, entry_hash
from warded.audit.keys import Signer
from warded.audit.log import AuditLog, verify_store
from warded.audit.sqlite import SQLiteAuditStore
from warded.errors import VerificationError

SIGNER = Signer(Ed25519PrivateKey.generate())
KEYS = {SIGNER.key_id: SIGNER.public_key}
N = 12  # entries in the template log; checkpoints at 4, 8 and 12
TEXT_COLUMNS = ("body", "kind", "prev_hash", "hash")
BODIES: list[dict[str, Any]] = [
    {"tool": "fs.read", "args": {"path": "/etc/hosts"}, "decision": "ALLOW"},
    {"amount": 1e16, "price": -0.5, "qty": 3, "ok": True, "none": None},
    {"text": 'ünïcödé ☃ "quoted" back\\slash\nnewline\ttab \u0001'},
    {"nested": {"deep": [[1, [2, {"x": []}]]], "empty": {}}},
    {"big": 2**70, "small": 1e-7, "zero": 0.0, "negzero": -0.0},
    {},
]

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "audit.db"
    clock = iter(float(t) for t in range(1_700_000_000, 1_700_000_100))
    log = AuditLog(SQLiteAuditStore(path), SIGNER, checkpoint_every=4, clock=lambda: next(clock))
    for i in range(N):
        log.append(f"kind-{i % 3}", BODIES[i % len(BODIES)])
    log.close()
    with SQLiteAuditStore(path) as store:
        assert [cp.seq for cp in store.checkpoints()] == [4, 8, 12]
        assert verify_store(store, KEYS).entries == N
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@contextlib.contextmanager
def tampering(template: Path, workdir: Path) -> Iterator[sqlite3.Connection]:
    """A fresh copy of the template, opened with a plain connection as an attacker would."""
    db = workdir / "audit.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, db)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def verify_error(workdir: Path) -> VerificationError | None:
    with SQLiteAuditStore(workdir / "audit.db") as store:
        try:
            verify_store(store, KEYS)
        except VerificationError as exc:
            return exc
    return None


def flip_byte(data: bytes, index: int, value: int) -> bytes:
    index %= len(data)
    assume(data[index] != value)
    return data[:index] + bytes([value]) + data[index + 1 :]


@settings(SETTINGS, max_examples=400)
@given(
    seq=st.integers(1, N),
    column=st.sampled_from((*TEXT_COLUMNS, "ts")),
    index=st.integers(0, 10_000),
    value=st.integers(0, 255),
)
def test_any_single_byte_change_is_detected(
    template: Path, workdir: Path, seq: int, column: str, index: int, value: int
) -> None:
    with tampering(template, workdir) as conn:
        if column == "ts":
            (ts,) = conn.execute("SELECT ts FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
            changed = struct.unpack(">d", flip_byte(struct.pack(">d", ts), index, value))[0]
            conn.execute("UPDATE audit_entries SET ts = ? WHERE seq = ?", (changed, seq))
        else:
            sql = f"SELECT CAST({column} AS BLOB) FROM audit_entries WHERE seq = ?"
            (data,) = conn.execute(sql, (seq,)).fetchone()
            sql = f"UPDATE audit_entries SET {column} = CAST(? AS TEXT) WHERE seq = ?"
            conn.execute(sql, (flip_byte(data, index, value), seq))
    error = verify_error(workdir)
    assert error is not None
    assert error.seq == seq


def test_equivalent_json_rewrite_is_detected(template: Path, workdir: Path) -> None:
    # Regression: "1E+16" parses to the same value as "1e+16"; hashing must cover the stored bytes.
    with tampering(template, workdir) as conn:
        (body,) = conn.execute("SELECT body FROM audit_entries WHERE seq = 2").fetchone()
        assert "1e+16" in body
        conn.execute("UPDATE audit_entries SET body = ? WHERE seq = 2", (body.replace("1e+16", "1E+16"),))
    error = verify_error(workdir)
    assert error is not None
    assert error.seq == 2


@SETTINGS
@given(seq=st.integers(1, N), index=st.integers(0, 7), value=st.integers(0, 255))
def test_single_byte_change_of_seq_is_detected(template: Path, workdir: Path, seq: int, index: int, value: int) -> None:
    new_seq = struct.unpack(">q", flip_byte(struct.pack(">q", seq), index, value))[0]
    assume(not 1 <= new_seq <= N)
    with tampering(template, workdir) as conn:
        conn.execute("UPDATE audit_entries SET seq = ? WHERE seq = ?", (new_seq, seq))
    error = verify_error(workdir)
    assert error is not None
    assert error.seq == seq


@SETTINGS
@given(
    row=st.integers(0, 2),
    column=st.sampled_from(("seq", "head_hash", "ts", "key_id", "signature")),
    index=st.integers(0, 200),
    value=st.integers(0, 255),
)
def test_single_byte_change_of_a_checkpoint_is_detected(
    template: Path, workdir: Path, row: int, column: str, index: int, value: int
) -> None:
    with tampering(template, workdir) as conn:
        rowid, seq, ts = conn.execute(
            "SELECT rowid, seq, ts FROM audit_checkpoints ORDER BY seq LIMIT 1 OFFSET ?", (row,)
        ).fetchone()
        if column == "seq":
            changed: Any = struct.unpack(">q", flip_byte(struct.pack(">q", seq), index % 8, value))[0]
        elif column == "ts":
            changed = struct.unpack(">d", flip_byte(struct.pack(">d", ts), index % 8, value))[0]
        else:
            sql = f"SELECT CAST({column} AS BLOB) FROM audit_checkpoints WHERE rowid = ?"
            (data,) = conn.execute(sql, (rowid,)).fetchone()
            changed = flip_byte(data, index, value)
        cast = "CAST(? AS TEXT)" if isinstance(changed, bytes) else "?"
        conn.execute(f"UPDATE audit_checkpoints SET {column} = {cast} WHERE rowid = ?", (changed, rowid))
    assert verify_error(workdir) is not None


@SETTINGS
@given(seq=st.integers(1, N))
def test_deletion_is_detected(template: Path, workdir: Path, seq: int) -> None:
    with tampering(template, workdir) as conn:
        conn.execute("DELETE FROM audit_entries WHERE seq = ?", (seq,))
    error = verify_error(workdir)
    assert error is not None
    assert error.seq == seq


@SETTINGS
@given(position=st.integers(1, N), body=st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
def test_insertion_is_detected(template: Path, workdir: Path, position: int, body: dict[str, int]) -> None:
    with tampering(template, workdir) as conn:
        conn.execute("UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= ?", (position,))
        conn.execute("UPDATE audit_entries SET seq = seq - 999 WHERE seq >= 1000")
        row = conn.execute("SELECT hash FROM audit_entries WHERE seq = ?", (position - 1,)).fetchone()
        prev = row[0] if row else GENESIS_HASH
        digest = entry_hash(prev, position, 1.0, "forged", body)  # a well-formed forgery
        conn.execute(
            "INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?)",
            (position, 1.0, "forged", canonical_json(body).decode(), prev, digest),
        )
    error = verify_error(workdir)
    assert error is not None
    # The forged entry itself is only caught when a checkpoint covers its seq; otherwise the next link.
    assert error.seq in (position, position + 1)


@SETTINGS
@given(pair=st.lists(st.integers(1, N), min_size=2, max_size=2, unique=True))
def test_reorder_is_detected(template: Path, workdir: Path, pair: list[int]) -> None:
    first, second = sorted(pair)
    with tampering(template, workdir) as conn:
        conn.execute("UPDATE audit_entries SET seq = -1 WHERE seq = ?", (first,))
        conn.execute("UPDATE audit_entries SET seq = ? WHERE seq = ?", (first, second))
        conn.execute("UPDATE audit_entries SET seq = ? WHERE seq = -1", (second,))
    error = verify_error(workdir)
    assert error is not None
    assert error.seq == first


@SETTINGS
@given(keep=st.integers(0, N - 1))
def test_truncation_before_a_checkpoint_is_detected(template: Path, workdir: Path, keep: int) -> None:
    with tampering(template, workdir) as conn:
        conn.execute("DELETE FROM audit_entries WHERE seq > ?", (keep,))
    error = verify_error(workdir)
    assert error is not None
    assert error.seq == keep + 1


def _json() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=12,
    )


@given(
    prev=st.text(),
    seq=st.integers(),
    ts=st.floats(allow_nan=False, allow_infinity=False),
    kind=st.text(),
    body=st.dictionaries(st.text(max_size=6), _json(), max_size=4),
)
def test_entry_hash_is_sha256_of_canonical_json(prev: str, seq: int, ts: float, kind: str, body: Any) -> None:
    record = {"prev": prev, "seq": seq, "ts": ts, "kind": kind, "body": body}
    assert entry_hash(prev, seq, ts, kind, body) == hashlib.sha256(canonical_json(record)).hexdigest()
