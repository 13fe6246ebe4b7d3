"""Local model files: their SHA-256, and a scan for code execution on load, decided by content.

A pickle can import any callable and call it while loading (``GLOBAL``/``STACK_GLOBAL`` then ``REDUCE``: the
``__reduce__`` gadget), so loading an untrusted pickle runs its author's code. What a file is named says
nothing about what a loader will make of it (``torch.load("weights.bin")``, ``pickle.load`` on a file named
``tokenizer.model``), so the name is never consulted: every file is read as each loader that can run code
would read it, and then it must be *recognised* as something, or it is a finding.

1. **As a pickle from its first byte** (``pickle.load``, joblib, legacy ``torch.load``: every file, whatever
   its other format, since a pickle stops reading at its ``STOP`` and ignores what follows). The globals it
   imports come from `picklescan` (maintained, offline, pure Python, on PyPI; it walks the opcodes without
   executing them, consecutive pickles too): ``dangerous`` and ``suspicious`` ones are unsafe. warded also
   walks the first pickle itself (``pickletools.genops``, which executes nothing): extension-registry
   imports (``EXT1/2/4``, which picklescan does not resolve) are unsafe, and a stream that starts with a
   protocol header but does not parse to its ``STOP`` is unsafe.
2. **As a zip archive** (``torch.load``, ``numpy.load`` of ``.npz``): every member, whatever its name, is read
   as a pickle (the same two walks), as a NumPy array (an object array holds a pickle) or, to
   :data:`MAX_NESTING` levels, as a zip archive again. A member named like a pickle that does not parse, an
   encrypted member, or an archive that cannot be read is unsafe.
3. **As a NumPy ``.npy``** (``numpy.load(allow_pickle=True)``): an object array's pickle is scanned.

A file that holds a pickle (clean) is ``clean``; one with none that warded recognises by content as a format
that cannot carry code (a zip or ``.npy`` without pickles, safetensors with a valid header, GGUF, an ONNX or
SentencePiece protobuf, TFLite, UTF-8 text) is ``no-pickle``. Anything else (another archive format such
as 7z, tar or gzip, a truncated or unknown binary) is ``unsafe``: warded cannot vouch for it. Every read is
bounded (:data:`MAX_READ_BYTES` in all, :data:`MAX_MEMBERS` members, :data:`MAX_TEXT_BYTES` of text,
:data:`MAX_PROTOBUF_FIELDS` fields); reaching a bound is a finding, never a pass. Any error of the scan is
a finding too.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import logging
import os
import pickletools
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, cast

from warded.bom.manifest import BomError

__all__ = [
    "MAX_ARG_BYTES",
    "MAX_MEMBERS",
    "MAX_NESTING",
    "MAX_PROTOBUF_FIELDS",
    "MAX_READ_BYTES",
    "MAX_TEXT_BYTES",
    "Artefact",
    "ScanStatus",
    "hash_file",
    "scan_model_file",
]

_CHUNK = 1 << 20
#: Bytes the scan of one file may read in all (pickle streams, archive members); past it, a finding.
MAX_READ_BYTES = 4 << 30
#: The longest single pickle argument (a byte or text string) or line the scan reads; past it, a finding.
MAX_ARG_BYTES = 256 << 20
#: Members of one archive (nested ones included) the scan reads; past it, a finding.
MAX_MEMBERS = 10_000
#: Zip archives inside zip archives the scan opens; deeper, a finding.
MAX_NESTING = 3
#: A text file is recognised as text up to this size; a larger one is not recognised.
MAX_TEXT_BYTES = 256 << 20
#: Top-level fields of a protobuf file walked; a file with more is not recognised.
MAX_PROTOBUF_FIELDS = 5_000_000
_MAX_SAFETENSORS_HEADER = 100 << 20

_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
_EXT_OPS = frozenset({"EXT1", "EXT2", "EXT4"})
_ONNX_FIELDS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25})
_SENTENCEPIECE_FIELDS = frozenset({1, 2, 3, 4, 5})


class ScanStatus:
    CLEAN = "clean"  # a pickle whose imports are all innocuous
    NO_PICKLE = "no-pickle"  # recognised by content as a format that cannot carry code
    UNSAFE = "unsafe"  # dangerous or suspicious imports, a file warded cannot vouch for, or a scan that failed


@dataclass(frozen=True, slots=True)
class Artefact:
    path: str
    sha256: str
    size: int
    status: str
    findings: tuple[str, ...] = ()  # "module.name (dangerous)", or why warded cannot vouch for the file

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
    """Hash ``path`` and scan it for code execution on load (see the module docstring). Its name is not read."""
    sha, size = hash_file(path)
    name = os.fspath(path)
    logging.getLogger("picklescan").setLevel(logging.CRITICAL)  # its findings come back in the result
    try:
        with open(name, "rb") as handle:
            status, findings = _Scan(MAX_READ_BYTES).file(handle, size)
    except Exception as exc:  # a scanner crash on hostile input is a finding, not an allow
        return Artefact(name, sha, size, ScanStatus.UNSAFE, (f"the scan failed: {type(exc).__name__}: {exc}",))
    return Artefact(name, sha, size, status, tuple(findings))


class _BoundReached(Exception):
    pass


class _Capped(io.RawIOBase):
    """A read-only view of ``raw`` (which ends at ``end``) that counts what is read against the scan's budget.

    A read past ``end`` returns nothing without reading (a pickle argument longer than what is left makes
    ``pickle.load`` fail, as it makes the walk fail); one longer than :data:`MAX_ARG_BYTES` is a bound."""

    def __init__(self, raw: IO[bytes], scan: _Scan, end: int) -> None:
        super().__init__()
        self._raw = raw
        self._scan = scan
        self._end = end

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _take(self, size: int | None) -> int:
        left = self._end - self._raw.tell()
        want = left if size is None or size < 0 else size
        if want > left:
            return 0
        if want > MAX_ARG_BYTES or want > self._scan.left:
            self._scan.reach()
        return want

    def read(self, size: int | None = -1) -> bytes:
        want = self._take(size)
        data = self._raw.read(want) if want else b""
        self._scan.spend(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        limit = MAX_ARG_BYTES + 1 if size is None or size < 0 else min(size, MAX_ARG_BYTES + 1)
        data = self._raw.readline(limit)
        if len(data) > MAX_ARG_BYTES:
            self._scan.reach()
        self._scan.spend(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


class _Scan:
    """One file's scan: the budget of bytes read and members opened, and the findings."""

    def __init__(self, budget: int) -> None:
        self.left = budget
        self.members = 0
        self.bound_hit = False
        self.findings: list[str] = []
        self.pickles = 0

    def reach(self) -> None:
        """A bound is reached: the scan stops here, and that is a finding."""
        self.bound_hit = True
        raise _BoundReached

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            self.reach()

    # -- the file ------------------------------------------------------------------------------------

    def file(self, handle: IO[bytes], size: int) -> tuple[str, list[str]]:
        head = handle.read(16)
        handle.seek(0)
        container = False
        if not head.startswith(b"\x93NUMPY"):  # \x93 first is STACK_GLOBAL on an empty stack: pickle.load fails
            self._bounded(lambda: self.pickle(handle, size, "the file"))
        handle.seek(0)
        is_zip = head.startswith(b"PK") or zipfile.is_zipfile(handle)
        handle.seek(0)
        if is_zip:
            container = True
            self._bounded(lambda: self.archive(handle, size, "", 1))
        elif head.startswith(b"\x93NUMPY"):
            container = True
            self._bounded(lambda: self.numpy(handle, size, "the NumPy array"))
        elif head.startswith(b"7z\xbc\xaf\x27\x1c"):
            self.findings.append("a 7z archive: warded does not read 7z, so it cannot vouch for what is inside")
        if self.bound_hit:
            self.findings.append(
                f"larger than the scan reads (in all {MAX_READ_BYTES} bytes, {MAX_MEMBERS} archive members, "
                f"{MAX_ARG_BYTES} bytes in one pickle argument): a bound reached is a finding"
            )
        if self.findings:
            return ScanStatus.UNSAFE, self.findings
        if self.pickles:
            return ScanStatus.CLEAN, []
        if container:
            return ScanStatus.NO_PICKLE, []
        handle.seek(0)
        if _recognised(handle, head, size) is None:
            return ScanStatus.UNSAFE, [
                "not a format warded recognises by its content (pickle, zip, NumPy, safetensors, GGUF, ONNX, "
                "SentencePiece, TFLite, UTF-8 text), so it cannot vouch for it"
            ]
        return ScanStatus.NO_PICKLE, []

    def _bounded(self, step: Callable[[], None]) -> None:
        if self.bound_hit:
            return
        try:
            step()
        except _BoundReached:
            self.bound_hit = True

    # -- a pickle stream -----------------------------------------------------------------------------

    def pickle(self, raw: IO[bytes], end: int, what: str, *, named_pickle: bool = False) -> None:
        """Read ``raw`` (from its current position to ``end``) as a pickle: findings, and whether it is one."""
        from picklescan.scanner import SafetyLevel, scan_pickle_bytes  # noqa: PLC0415 - only `bom` scans

        start = raw.tell()
        stream = _Capped(raw, self, end)
        parsed, header, ext_ops = _walk_first(cast(IO[bytes], stream))
        raw.seek(start)
        try:
            result = scan_pickle_bytes(stream, what, multiple_pickles=True)
        except _BoundReached:
            raise
        except Exception as exc:  # e.g. a STACK_GLOBAL whose names it cannot find: never a pass
            if self.bound_hit:
                raise _BoundReached from exc
            self.findings.append(f"{what}: the pickle scan failed ({type(exc).__name__}: {exc})")
            return
        if self.bound_hit:  # picklescan takes a read error for the end of a pickle: the bound is still reached
            raise _BoundReached
        bad = sorted(
            {
                f"{g.module}.{g.name} ({g.safety.value.lower()})"
                for g in result.globals
                if g.safety in (SafetyLevel.Dangerous, SafetyLevel.Suspicious)
            }
        )
        prefix = "" if what == "the file" else f"{what}: "
        self.findings.extend(prefix + b for b in bad)
        self.findings.extend(f"{prefix}extension-registry import ({op}): cannot vouch for it" for op in ext_ops)
        if parsed:
            self.pickles += 1
        elif header or named_pickle:
            self.findings.append(f"{what} could not be parsed as a pickle (it does not reach its STOP)")

    # -- a zip archive -------------------------------------------------------------------------------

    def archive(self, raw: IO[bytes], end: int, where: str, depth: int) -> None:
        name = where or "the zip archive"
        try:
            archive = zipfile.ZipFile(_Capped(raw, self, end))
        except _BoundReached:
            raise
        except Exception as exc:  # BadZipFile, LargeZipFile, OSError, ...: cannot look inside
            self.findings.append(f"{name} cannot be read ({type(exc).__name__}: {exc}); cannot vouch for it")
            return
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                self.members += 1
                if self.members > MAX_MEMBERS:
                    self.reach()
                member = f"{where}{info.filename}"
                if info.flag_bits & 0x1:
                    self.findings.append(f"{member}: an encrypted archive member; cannot vouch for it")
                    continue
                try:
                    self._member(archive, info, member, depth)
                except _BoundReached:
                    raise
                except Exception as exc:  # unsupported compression, a bad CRC, a truncated member
                    self.findings.append(f"{member} cannot be read ({type(exc).__name__}: {exc})")

    def _member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: str, depth: int) -> None:
        size = info.file_size
        with archive.open(info) as handle:
            head = handle.read(8)
            handle.seek(0)
            if head.startswith(b"PK"):
                if depth >= MAX_NESTING:
                    self.findings.append(f"{member}: a zip archive nested deeper than {MAX_NESTING} levels")
                    return
                self.archive(handle, size, member + "!", depth + 1)
                handle.seek(0)
            if head.startswith(b"\x93NUMPY"):
                self.numpy(handle, size, member)
                return
            named = info.filename.lower().endswith(_PICKLE_SUFFIXES)
            self.pickle(handle, size, member, named_pickle=named)

    # -- a NumPy array ---------------------------------------------------------------------------------

    def numpy(self, raw: IO[bytes], end: int, what: str) -> None:
        import numpy as np  # noqa: PLC0415 - a dependency of warded already (the detector)

        stream = _Capped(raw, self, end)
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                _, _, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"NumPy format version {version} is not one warded reads")
        except _BoundReached:
            raise
        except Exception as exc:
            self.findings.append(f"{what}: the NumPy header cannot be read ({type(exc).__name__}: {exc})")
            return
        if dtype.hasobject:  # an object array is a pickle after the header
            self.pickle(raw, end, what, named_pickle=True)


def _walk_first(stream: IO[bytes]) -> tuple[bool, bool, list[str]]:
    """(parses to its STOP, starts with a protocol header, extension-registry opcodes) of the first pickle."""
    header = False
    ext: list[str] = []
    try:
        for index, (op, _arg, _pos) in enumerate(pickletools.genops(stream)):
            if index == 0 and op.name == "PROTO":
                header = True
            if op.name in _EXT_OPS:
                ext.append(op.name)
    except _BoundReached:
        raise
    except Exception:  # any parse failure: not a pickle that reaches its STOP
        return False, header, ext
    return True, header, ext


# -- formats that cannot carry code, recognised by content ---------------------------------------------


def _recognised(handle: IO[bytes], head: bytes, size: int) -> str | None:
    """The code-free format ``handle`` holds by its content, or ``None``."""
    if head.startswith(b"GGUF") and len(head) >= 8 and struct.unpack("<I", head[4:8])[0] in (1, 2, 3):
        return "gguf"
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    for check in (_safetensors, _protobuf, _text):
        handle.seek(0)
        kind = check(handle, size)
        if kind is not None:
            return kind
    return None


def _safetensors(handle: IO[bytes], size: int) -> str | None:
    raw = handle.read(8)
    if len(raw) < 8:
        return None
    n = struct.unpack("<Q", raw)[0]
    if n < 2 or n > min(size - 8, _MAX_SAFETENSORS_HEADER):
        return None
    try:
        header = json.loads(handle.read(n).decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    data = size - 8 - n
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
            return None
        offsets = entry.get("data_offsets")
        if not (
            isinstance(entry.get("shape"), list)
            and isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data
        ):
            return None
    return "safetensors"


def _varint(handle: IO[bytes]) -> int | None:
    value = 0
    for shift in range(0, 70, 7):
        byte = handle.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
    return None


def _protobuf(handle: IO[bytes], size: int) -> str | None:
    """An ONNX ``ModelProto`` or a SentencePiece ``ModelProto``: the top-level fields walk to the end."""
    fields: set[int] = set()
    wire_types: set[int] = set()
    pos = count = 0
    while pos < size:
        count += 1
        tag = _varint(handle)
        if tag is None or count > MAX_PROTOBUF_FIELDS:
            return None
        field, wire = tag >> 3, tag & 7
        if field == 0:
            return None
        if wire == 0:
            if _varint(handle) is None:
                return None
        elif wire in (1, 5, 2):
            skip = {1: 8, 5: 4}.get(wire)
            if skip is None:
                skip = _varint(handle)
                if skip is None:
                    return None
            if handle.tell() + skip > size:
                return None
            handle.seek(skip, os.SEEK_CUR)
        else:
            return None
        fields.add(field)
        wire_types.add(wire)
        pos = handle.tell()
    if pos != size:
        return None
    if {1, 7} <= fields <= _ONNX_FIELDS:
        return "onnx"
    if 1 in fields and fields <= _SENTENCEPIECE_FIELDS and wire_types == {2}:
        return "sentencepiece"
    return None


def _text(handle: IO[bytes], size: int) -> str | None:
    if size > MAX_TEXT_BYTES:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := handle.read(_CHUNK):
            if b"\x00" in chunk:
                return None
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return "text"
