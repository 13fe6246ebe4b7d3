"""A small local prompt-injection / jailbreak classifier: hashed n-grams, numpy only.

The model is ``src/warded/scan/models/injection_classifier.npz`` (rebuilt by ``make detector``; see
``warded.bench.train``). It holds two heads over the same hashed features (``_ngrams``):

* ``attack``: is this text an injection or jailbreak attempt? Its sigmoid is the finding's score. In
  format 2 it is a one-hidden-layer network: each hashed feature has an embedding of ``hidden`` values,
  a window's embeddings are summed (the same ``1 / sqrt(n_g)`` weighting as the linear features), then
  ReLU and one output unit. In format 1 it is the first column of the linear weights;
* ``jailbreak``: given an attack, is it a jailbreak rather than an injection? A linear head; it picks
  the category.

Texts longer than one window are scored window by window (``_ngrams.WINDOW`` characters, half
overlapping) and the highest window counts, so an instruction buried in a long document is not
diluted by the benign text around it. The thresholds were chosen on validation data for about 1 %
and 0.1 % false-positive rate and are stored in the artefact.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from warded.scan import _mention, _ngrams
from warded.scan.types import Category, Finding, Response, ScanInput

__all__ = ["ARTEFACT", "Hidden", "InjectionClassifierScanner", "Model", "Score", "load_model"]

ARTEFACT = "injection_classifier.npz"
FORMAT = 2
_FORMATS = (1, 2)


@dataclass(frozen=True, slots=True)
class Hidden:
    """The attack head's hidden layer: ``embedding`` ``(2**bits, h)``, ``bias`` ``(h,)``, ``out`` ``(h,)``
    and ``out_bias``; attack logit = ``relu(sum of embeddings + bias) @ out + out_bias``."""

    embedding: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    out: npt.NDArray[np.float32]
    out_bias: float


@dataclass(frozen=True, slots=True)
class Score:
    """The classifier's reading of one text: ``attack`` in [0, 1], ``jailbreak`` (given an attack) in [0, 1],
    and the window ``[start, end)`` of the prepared text that scored highest."""

    attack: float
    jailbreak: float
    window: tuple[int, int]


class Model:
    """The loaded artefact. Immutable after construction; ``score`` is thread-safe."""

    def __init__(
        self,
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        *,
        bits: int,
        threshold: float,
        threshold_strict: float,
        meta: str = "",
        scales: Sequence[tuple[int, int]] = ((_ngrams.WINDOW, _ngrams.STRIDE),),
        hidden: Hidden | None = None,
    ) -> None:
        if weights.ndim != 2 or weights.shape != (1 << bits, 2) or bias.shape != (2,):
            raise ValueError(f"model weights have shape {weights.shape}, expected ({1 << bits}, 2)")
        if hidden is not None:
            h = hidden.bias.shape
            if hidden.embedding.shape != (1 << bits, *h) or len(h) != 1 or hidden.out.shape != h:
                raise ValueError(f"model hidden layer has shape {hidden.embedding.shape}, expected ({1 << bits}, h)")
        if not (0.0 < threshold < 1.0 and 0.0 < threshold_strict < 1.0):
            raise ValueError("model thresholds must lie strictly between 0 and 1")
        self.weights = weights
        self.bias = bias
        self.bits = bits
        self.threshold = threshold
        self.threshold_strict = threshold_strict
        self.meta = meta
        if not scales or any(not 0 < stride <= window for window, stride in scales):
            raise ValueError(f"model window scales {scales!r} are not valid")
        self.scales = tuple((int(w), int(s)) for w, s in scales)
        self.hidden = hidden
        # One table gathered per feature: the hidden embedding (if any), then the jailbreak weight; or
        # both linear columns.
        if hidden is None:
            self._table = weights
        else:
            self._table = np.ascontiguousarray(np.hstack((hidden.embedding, weights[:, 1:2])), dtype=np.float32)

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            fmt = int(z["format"])
            if fmt not in _FORMATS:
                raise ValueError(f"model format {fmt} is not supported (expected one of {_FORMATS})")
            hidden = None
            if fmt >= 2:
                hidden = Hidden(
                    embedding=z["hidden"].astype(np.float32),
                    bias=z["hidden_bias"].astype(np.float32),
                    out=z["hidden_out"].astype(np.float32),
                    out_bias=float(z["hidden_out_bias"]),
                )
            return cls(
                weights=z["weights"].astype(np.float32),
                bias=z["bias"].astype(np.float32),
                bits=int(z["bits"]),
                threshold=float(z["threshold"]),
                threshold_strict=float(z["threshold_strict"]),
                meta=str(z["meta"]),
                scales=[(int(w), int(s)) for w, s in z["scales"]],
                hidden=hidden,
            )

    def _sums(self, hashed: _ngrams.Hashed) -> tuple[npt.NDArray[np.float64], list[tuple[int, int]]]:
        """Per-window sums of the gathered table rows (each group weighted ``1 / sqrt(n_g)``), and the windows."""
        bounds = sorted({b for w, s in self.scales for b in _ngrams.window_bounds(hashed.length, w, s)})
        k = self._table.shape[1]
        out = np.zeros((len(bounds), k), dtype=np.float64)
        starts_w = np.array([a for a, _ in bounds], dtype=np.int64)
        ends_w = np.array([b for _, b in bounds], dtype=np.int64)
        for buckets, starts, span in zip(hashed.buckets, hashed.starts, hashed.spans, strict=True):
            n = len(buckets)
            if n == 0:
                continue
            gathered = self._table[buckets]
            if len(bounds) == 1:
                out[0] += gathered.sum(axis=0, dtype=np.float64) / np.sqrt(n)
                continue
            lo = np.searchsorted(starts, starts_w, side="left")
            hi = np.maximum(np.searchsorted(starts, ends_w - span, side="right"), lo)
            # Sum the gathered rows between consecutive window edges in one pass (reduceat), then each
            # window is a difference of prefix sums over those few segments.
            edges = np.unique(np.concatenate(([0], lo, hi)))
            inner = edges[edges < n]
            segs = np.add.reduceat(gathered, inner, axis=0, dtype=np.float64)
            prefix = np.vstack((np.zeros((1, k)), np.cumsum(segs, axis=0)))
            at = np.append(inner, n)
            sums = prefix[np.searchsorted(at, hi)] - prefix[np.searchsorted(at, lo)]
            counts = (hi - lo).astype(np.float64)
            out += sums / np.sqrt(np.maximum(counts, 1.0))[:, None]
        return out, bounds

    def logits(self, hashed: _ngrams.Hashed) -> tuple[npt.NDArray[np.float64], list[tuple[int, int]]]:
        """Per-window logits of both heads, shape ``(windows, 2)``, and the windows."""
        sums, bounds = self._sums(hashed)
        if self.hidden is None:
            return sums + self.bias.astype(np.float64), bounds
        hid = self.hidden
        act = np.maximum(sums[:, :-1] + hid.bias.astype(np.float64), 0.0)
        attack = act @ hid.out.astype(np.float64) + hid.out_bias
        jail = sums[:, -1] + float(self.bias[1])
        return np.stack((attack, jail), axis=1), bounds

    def score(self, text: str) -> Score:
        """Score an already-normalised text (the ``normalised`` view)."""
        prepared = _ngrams.prepare(text)
        logits, bounds = self.logits(_ngrams.hash_text(prepared, self.bits))
        best = int(np.argmax(logits[:, 0]))
        attack, jailbreak = 1.0 / (1.0 + np.exp(-logits[best]))
        return Score(float(attack), float(jailbreak), bounds[best])


_MODEL: Model | None = None
_LOCK = threading.Lock()


def load_model() -> Model:
    """The packaged model, loaded once per process on first use."""
    global _MODEL  # noqa: PLW0603 - one immutable model per process, loaded lazily
    with _LOCK:
        if _MODEL is None:
            data = resources.files("warded.scan.models").joinpath(ARTEFACT).read_bytes()
            _MODEL = Model.from_bytes(data)
        return _MODEL


class InjectionClassifierScanner:
    """Scores the normalised view and every decoded layer; one finding for the highest-scoring view
    when it reaches the model's threshold (``strict=True`` uses the 0.1 % FPR threshold instead)."""

    id: ClassVar[str] = "injection_classifier"
    category: ClassVar[Category] = Category.PROMPT_INJECTION
    on_error: ClassVar[Response] = Response.REQUIRE_APPROVAL
    budget_ms: ClassVar[float] = 250.0

    def __init__(self, strict: bool = False, threshold: float | None = None, model: Model | None = None) -> None:
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold!r}")
        self._model = model
        self._strict = strict
        self._threshold = threshold

    @property
    def model(self) -> Model:
        if self._model is None:
            self._model = load_model()
        return self._model

    @property
    def loaded(self) -> bool:
        """Whether this scanner holds its model (after :meth:`warm_up` or a first scoring)."""
        return self._model is not None

    def warm_up(self) -> None:
        """Load the model and score once, now. Explicit, because ``scan`` skips short texts (``MIN_WORDS``):
        a warm-up that went through ``scan`` with a short sample would leave the ~0.3 s load to the first
        real text, inside its time budget."""
        self.model.score("warm up: please summarise this quarterly report for the finance team")

    @property
    def threshold(self) -> float:
        if self._threshold is not None:
            return self._threshold
        return self.model.threshold_strict if self._strict else self.model.threshold

    #: Texts with fewer words than this are left to the rules: an n-gram model has too little evidence in a
    #: name, an address or a subject line (measured: a bare e-mail address scored 0.91), and short attacks
    #: ("ignore previous instructions") are what the rules catch.
    MIN_WORDS = 4

    def _use_score(self, score: Score, text: str, original: str | None) -> Score:
        """``score`` again on ``text`` with its mentions blanked (``warded.scan._mention``): a text that quotes
        or reports attack phrases while discussing them is judged on what it says to its reader. Unchanged
        when the text has nothing to discount."""
        use = _mention.use_view(text, original)
        return score if use is None else self.model.score(use)

    def scan(self, item: ScanInput) -> Sequence[Finding]:
        if all(len(view.text.split()) < self.MIN_WORDS for view in item.normalised.views):
            return ()
        model = self.model
        threshold = self.threshold
        best: tuple[Score, str] | None = None
        for view in item.normalised.views:
            if view.layer == "raw" and len(item.normalised.views) > 1:
                continue  # the normalised view is the raw text folded; the model was trained on it
            s = model.score(view.text)
            if s.attack >= threshold:  # only a view that would fire pays for the use/mention reading
                s = self._use_score(s, view.text, _mention.view_context(view.layer, item.normalised.original))
            if best is None or s.attack > best[0].attack:
                best = (s, view.layer)
        if best is None or best[0].attack < threshold:
            return ()
        score, layer = best
        jailbreak = score.jailbreak >= 0.5
        category = Category.JAILBREAK if jailbreak else Category.PROMPT_INJECTION
        return (
            Finding(
                rule_id="jailbreak.classifier" if jailbreak else "injection.classifier",
                category=category,
                score=score.attack,
                message=f"the local classifier scores this text {score.attack:.2f} as a "
                f"{'jailbreak' if jailbreak else 'prompt injection'} attempt (threshold {self.threshold:.2f})",
                suggested=Response.DENY if jailbreak else Response.REQUIRE_APPROVAL,
                span=None,
                layer=layer,
                detail={"window": f"{score.window[0]}-{score.window[1]}", "jailbreak": f"{score.jailbreak:.3f}"},
            ),
        )
