"""The model-file scan decides by content, never by name: a pickle is a pickle whatever the file is called,
inside an archive whatever the member is called, and a file warded cannot recognise (or cannot read within
its bounds) is a finding. Every gadget here is built with ``pickle.dumps`` and never loaded."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from warded.bom import artefacts
from warded.bom.artefacts import ScanStatus, scan_model_file


class _System:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("echo pwned",))


def _gadget(protocol: int) -> bytes:
    return pickle.dumps(_System(), protocol=protocol)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _safetensors(tensors: dict[str, bytes]) -> bytes:
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, data in tensors.items():
        header[name] = {"dtype": "F32", "shape": [len(data) // 4], "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(tensors.values())


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


NAMES = [
    "evil.model",
    "weights.bin",
    "model.safetensors",
    "model.onnx",
    "config.json",
    "tokenizer.model",
    "model.gguf",
    "README.md",
    "weights",
    "vocab.txt",
]


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("name", NAMES)
def test_a_pickle_gadget_is_unsafe_whatever_the_file_is_called(tmp_path: Path, name: str, protocol: int) -> None:
    art = scan_model_file(_write(tmp_path / name, _gadget(protocol)))
    assert art.status == ScanStatus.UNSAFE
    assert any("system (dangerous)" in f for f in art.findings), art.findings


@pytest.mark.parametrize(
    ("name", "data"),
    [
        # a GGUF magic and version, then a protocol-0 gadget: BINFLOAT ("G") eats the next 8 bytes
        ("model.gguf", b"GGUF\x03\x00\x00\x00\x00" + _gadget(0)),
        # a gadget, then a safetensors body: pickle.load stops at STOP and runs the gadget
        ("model.safetensors", _gadget(4) + _safetensors({"w": b"\x00" * 16})),
        # a gadget, then JSON text
        ("config.json", _gadget(0) + b'{"architectures": ["Bert"]}'),
    ],
)
def test_a_polyglot_that_is_also_a_pickle_is_unsafe(tmp_path: Path, name: str, data: bytes) -> None:
    art = scan_model_file(_write(tmp_path / name, data))
    assert art.status == ScanStatus.UNSAFE and any("system (dangerous)" in f for f in art.findings), art.findings


@pytest.mark.parametrize("member", ["archive/data", "archive/data/0", "weights.bin", "model.safetensors"])
@pytest.mark.parametrize("protocol", [0, 1, 4])
def test_a_gadget_in_a_zip_member_of_any_name_is_unsafe(tmp_path: Path, member: str, protocol: int) -> None:
    path = tmp_path / "model.safetensors"  # not a name that says zip either
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/version", "3\n")
        z.writestr(member, _gadget(protocol))
    art = scan_model_file(path)
    assert art.status == ScanStatus.UNSAFE
    assert any(member in f and "system (dangerous)" in f for f in art.findings), art.findings


def test_a_gadget_in_a_zip_inside_a_zip_is_unsafe_and_too_deep_a_nesting_is_a_finding(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("data", _gadget(2))
    outer = tmp_path / "bundle.bin"
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("inner.bin", inner.getvalue())
    art = scan_model_file(outer)
    assert art.status == ScanStatus.UNSAFE
    assert any(f.startswith("inner.bin!data: ") and "system" in f for f in art.findings), art.findings

    clean = pickle.dumps({"w": 1})
    data = clean
    for level in range(artefacts.MAX_NESTING + 1):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"level{level}", data)
        data = buf.getvalue()
    art = scan_model_file(_write(tmp_path / "deep.zip", data))
    assert art.status == ScanStatus.UNSAFE and any("nested deeper" in f for f in art.findings), art.findings


def test_an_object_array_is_a_pickle_and_a_number_array_is_not(tmp_path: Path) -> None:
    evil = tmp_path / "evil.bin"
    with open(evil, "wb") as handle:
        np.save(handle, np.array([_System()], dtype=object), allow_pickle=True)
    art = scan_model_file(evil)
    assert art.status == ScanStatus.UNSAFE and any("system (dangerous)" in f for f in art.findings), art.findings
    plain = tmp_path / "plain.pkl"
    with open(plain, "wb") as handle:
        np.save(handle, np.arange(12, dtype=np.float32))
    assert scan_model_file(plain).status == ScanStatus.NO_PICKLE
    npz = tmp_path / "arrays.model"
    np.savez(npz, a=np.arange(3), b=np.array([_System()], dtype=object))
    art = scan_model_file(str(npz) + ".npz")
    assert art.status == ScanStatus.UNSAFE and any("b.npy: " in f and "system" in f for f in art.findings)


def test_code_free_formats_are_recognised_by_content_whatever_their_name(tmp_path: Path) -> None:
    onnx = _field(1, 8) + _field(2, b"pytorch") + _field(7, _field(1, b"node")) + _field(8, _field(2, 17))
    sentencepiece = b"".join(_field(1, _field(1, w.encode()) + b"\x15\x00\x00\x80\xbf") for w in ("<unk>", "a", "b"))
    sentencepiece += _field(2, _field(1, b"model.txt"))
    files = {
        "weights.bin": _safetensors({"w": struct.pack("<4f", 1, 2, 3, 4), "b": struct.pack("<f", 0.5)}),
        "model.pt": onnx,
        "data.pkl": sentencepiece,
        "model.onnx": b"GGUF\x03\x00\x00\x00" + b"\x00" * 24,
        "model.gguf": b'{"vocab_size": 30522, "hidden_act": "gelu"}\n',
        "merges.bin": "#version: 0.2\nĠ t\nĠ a\n".encode(),
        "tflite.bin": b"\x1c\x00\x00\x00TFL3" + b"\x00" * 40,
    }
    for name, data in files.items():
        art = scan_model_file(_write(tmp_path / name, data))
        assert (name, art.status, art.findings) == (name, ScanStatus.NO_PICKLE, ())


def test_clean_pickles_and_torch_style_archives_are_clean_whatever_their_name(tmp_path: Path) -> None:
    art = scan_model_file(_write(tmp_path / "model.safetensors", pickle.dumps({"w": [1.0, 2.0]}, protocol=4)))
    assert art.status == ScanStatus.CLEAN
    path = tmp_path / "weights.onnx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"layer": [0.5, 1.5]}, protocol=2))
        z.writestr("archive/data/0", struct.pack("<64f", *range(64)))
        z.writestr("archive/version", "3\n")
        z.writestr("archive/.data/serialization_id", "0123456789")
    assert scan_model_file(path).status == ScanStatus.CLEAN


@pytest.mark.parametrize(
    ("name", "data", "finding"),
    [
        ("model.safetensors", bytes(range(256)) * 4, "not a format warded recognises"),
        ("model.safetensors", b"\x00" * 8 + b"{}", "not a format warded recognises"),  # header length 0
        ("weights.bin", gzip.compress(_gadget(4)), "not a format warded recognises"),  # joblib-style compressed
        ("model.onnx", b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 32, "7z archive"),
        ("model.pkl", _gadget(4)[:18], "could not be parsed"),  # a protocol header that never reaches STOP
        ("tokenizer.model", b"\x80\x02" + b"\xff" * 30, "could not be parsed"),
        ("data.zip", b"PK\x03\x04" + b"\x00" * 60, "cannot be read"),  # a zip header, no archive
        ("ext.bin", b"\x80\x02\x82\x01.", "extension-registry import (EXT1)"),
        ("stack.bin", b"\x80\x04\x93.", "the pickle scan failed"),  # picklescan raises: never a pass
    ],
)
def test_what_warded_cannot_vouch_for_is_a_finding(tmp_path: Path, name: str, data: bytes, finding: str) -> None:
    art = scan_model_file(_write(tmp_path / name, data))
    assert art.status == ScanStatus.UNSAFE
    assert any(finding in f for f in art.findings), art.findings


def test_a_tar_archive_is_not_vouched_for(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("pickle")
        payload = pickle.dumps({"w": 1})
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    art = scan_model_file(path)
    assert art.status == ScanStatus.UNSAFE and any("not a format" in f for f in art.findings)


def test_reaching_a_bound_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = _write(tmp_path / "big.pkl", pickle.dumps({"blob": b"\x01" * 5000}, protocol=4))
    assert scan_model_file(big).status == ScanStatus.CLEAN
    monkeypatch.setattr(artefacts, "MAX_ARG_BYTES", 1000)
    art = scan_model_file(big)
    assert art.status == ScanStatus.UNSAFE and any("bound reached" in f for f in art.findings), art.findings
    monkeypatch.undo()

    monkeypatch.setattr(artefacts, "MAX_READ_BYTES", 2000)
    art = scan_model_file(big)
    assert art.status == ScanStatus.UNSAFE and any("bound reached" in f for f in art.findings), art.findings
    monkeypatch.undo()

    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as z:
        for i in range(6):
            z.writestr(f"m{i}.txt", "text")
    assert scan_model_file(many).status == ScanStatus.NO_PICKLE
    monkeypatch.setattr(artefacts, "MAX_MEMBERS", 5)
    art = scan_model_file(many)
    assert art.status == ScanStatus.UNSAFE and any("bound reached" in f for f in art.findings), art.findings
    monkeypatch.setattr(artefacts, "MAX_TEXT_BYTES", 10)
    art = scan_model_file(_write(tmp_path / "long.txt", b"long enough text\n"))
    assert art.status == ScanStatus.UNSAFE and any("not a format" in f for f in art.findings)


def test_a_scan_that_crashes_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> object:
        raise RuntimeError("scanner bug")

    monkeypatch.setattr(artefacts, "_recognised", boom)
    art = scan_model_file(_write(tmp_path / "x.json", b"{}"))
    assert art.status == ScanStatus.UNSAFE and any("scanner bug" in f for f in art.findings)


def test_mcp_pins_that_cannot_be_read_refuse_the_bom(tmp_path: Path) -> None:
    from warded.bom.generate import collect  # noqa: PLC0415
    from warded.bom.manifest import BomError  # noqa: PLC0415
    from warded.policy.compile import load_policy  # noqa: PLC0415

    (tmp_path / "warded.yaml").write_text(
        "version: 1\nagents: {a: {tools: [t]}}\ntools: {t: {tier: read}}\naudit: {path: audit.db, key: audit.key}\n",
        encoding="utf-8",
    )
    policy = load_policy(tmp_path / "warded.yaml")
    assert collect(policy).servers == {}  # no database yet: no pins
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("CREATE TABLE other (x)")
    assert collect(policy).servers == {}  # no MCP proxy ever ran: no pins
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("CREATE TABLE mcp_tool_pins (server TEXT, tool TEXT)")  # not the table warded writes
    with pytest.raises(BomError, match="cannot read the MCP pins"):
        collect(policy)
