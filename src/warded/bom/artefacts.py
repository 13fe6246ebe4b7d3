"""Local model files: their SHA-256, and a scan of pickle-based formats for code execution.

A pickle can import any callable and call it while loading (``GLOBAL``/``STACK_GLOBAL`` then ``REDUCE``: the
``__reduce__`` gadget), so loading an untrusted ``.pkl``/``.pt``/``.bin``/``.joblib`` runs its author's code.
The scan is `picklescan` (maintained, offline, pure Python, on PyPI): it walks the opcodes without executing
them, inside zip-based (PyTorch) and NumPy containers too, and names every imported global with its safety
level. warded treats ``dangerous`` and ``suspicious`` globals as unsafe, and fails closed: a scan error, or a
file in a pickle-capable format that the scanner could not read, is unsafe too. Formats that cannot carry
code (safetensors, GGUF, ONNX, plain JSON/text) are hashed and marked ``no-pickle``. picklescan passes over a
plain pickle it cannot parse (a truncated or garbled stream) without a word, so warded also walks the
opcodes of such a file itself (``pickletools.genops``, which executes nothing): one that does not parse to
its ``STOP`` is unsafe.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path

from warded.bom.manifest import BomError

__all__ = ["Artefact", "ScanStatus", "hash_file", "scan_model_file"]

_NO_CODE = frozenset({".safetensors", ".gguf", ".ggml", ".onnx", ".json", ".txt", ".md", ".model", ".tflite"})
_CHUNK = 1 << 20


class ScanStatus:
    CLEAN = "clean"  # a pickle whose imports are all innocuous
    NO_PICKLE = "no-pickle"  # a format that cannot carry code
    UNSAFE = "unsafe"  # dangerous or suspicious imports, or a scan that failed


@dataclass(frozen=True, slots=True)
class Artefact:
    path: str
    sha256: str
    size: int
    status: str
    findings: tuple[str, ...] = ()  # "module.name (dangerous)", or why the scan failed

    @property
    def safe(self) -> bool:
        return self.status != ScanStatus.UNSAFE


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 and size of a file, read in chunks. Raises :class:`BomError` if it cannot be read."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise BomError(f"cannot read model file {os.fspath(path)!r}: {exc}") from exc
    return digest.hexdigest(), size


def scan_model_file(path: str | os.PathLike[str]) -> Artefact:
    """Hash ``path`` and scan it for code execution (see the module docstring)."""
    sha, size = hash_file(path)
    name = os.fspath(path)
    if Path(name).suffix.lower() in _NO_CODE:
        return Artefact(name, sha, size, ScanStatus.NO_PICKLE)
    from picklescan.scanner import SafetyLevel, scan_file_path  # noqa: PLC0415 - only `bom` commands scan

    logging.getLogger("picklescan").setLevel(logging.CRITICAL)  # its findings come back in the result
    try:
        result = scan_file_path(name)
    except Exception as exc:  # a scanner crash on hostile input is a finding, not an allow
        return Artefact(name, sha, size, ScanStatus.UNSAFE, (f"the scan failed: {type(exc).__name__}: {exc}",))
    bad = tuple(
        sorted(
            {
                f"{g.module}.{g.name} ({g.safety.value.lower()})"
                for g in result.globals
                if g.safety in (SafetyLevel.Dangerous, SafetyLevel.Suspicious)
            }
        )
    )
    if bad:
        return Artefact(name, sha, size, ScanStatus.UNSAFE, bad)
    if result.scan_err or not _parses(name):
        return Artefact(name, sha, size, ScanStatus.UNSAFE, ("the file could not be parsed as a pickle",))
    if result.scanned_files == 0:
        return Artefact(
            name, sha, size, ScanStatus.UNSAFE, ("not a format the pickle scanner reads; cannot vouch for it",)
        )
    return Artefact(name, sha, size, ScanStatus.CLEAN)


def _parses(path: str) -> bool:
    """A plain pickle parses to its STOP opcode (zip and NumPy containers are left to picklescan)."""
    try:
        if zipfile.is_zipfile(path):
            return True
        with open(path, "rb") as handle:
            if handle.read(6) == b"\x93NUMPY":
                return True
            handle.seek(0)
            for _ in pickletools.genops(handle):
                pass
    except Exception:  # any parse failure: the stream is not a pickle anyone can vouch for
        return False
    return True
