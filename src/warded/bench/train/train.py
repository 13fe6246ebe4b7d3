"""Fit the injection classifier: hashed n-gram features (``_ngrams``); the attack head a one-hidden-layer
network (hashed embeddings, ReLU, one output) fitted with full-batch Adam in numpy, the jailbreak head a
logistic regression fitted with L-BFGS (scipy, training only); thresholds set on the validation split,
artefact written as ``.npz``.

Deterministic: fixed seeds, no parallel reductions; the same wheels give the same artefact.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, sparse  # type: ignore[import-untyped]

from warded.bench.detector_eval import Labelled, _threshold_at_fpr, normalised_input
from warded.bench.train.dataset import Corpus
from warded.bench.train.sources import JAILBREAK, Sample
from warded.scan import _ngrams
from warded.scan.scanners.injection_classifier import FORMAT, Hidden, Model
from warded.scan.scanners.injection_rules import InjectionRulesScanner

__all__ = ["TrainConfig", "featurise", "fit", "save_heldout", "save_model"]


#: Training samples are cut into windows this long (most are shorter: one sample, one row).
TRAIN_WINDOW = 2048


@dataclass(frozen=True, slots=True)
class TrainConfig:
    bits: int = 18
    l2: float = 1e-5
    max_iter: int = 400
    max_windows: int = 3
    seed: int = 5
    # Windows scored at run time (the highest counts): whole messages, paragraphs, sentences.
    scales: tuple[tuple[int, int], ...] = ((_ngrams.WINDOW, _ngrams.STRIDE), (512, 256), (192, 96))
    small_windows: int = 4  # extra rows per long benign sample, cut at the smallest scale
    # The attack head: ``hidden`` ReLU units over hashed embeddings (0: a linear head), fitted by Adam.
    hidden: int = 32
    mlp_steps: int = 300
    mlp_lr: float = 3e-3
    mlp_init: float = 0.05  # standard deviation of the initial embeddings


def _fold(text: str) -> str:
    """The text the model reads: the normalised view (what the scanner scores at run time)."""
    views = normalised_input(text).normalised.views
    return views[1].text if len(views) > 1 else views[0].text


def featurise(
    samples: Sequence[Sample], cfg: TrainConfig
) -> tuple[sparse.csr_matrix, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One row per training window; returns the matrix and, per row, the sample index and label."""
    rng = random.Random(cfg.seed)
    indptr = [0]
    indices: list[npt.NDArray[np.int64]] = []
    values: list[npt.NDArray[np.float32]] = []
    owner: list[int] = []
    small, small_stride = min(cfg.scales)
    extra_labels: list[int] = []

    def row(text: str, i: int, label: int) -> None:
        h = _ngrams.hash_text(text, cfg.bits)
        for buckets in h.buckets:
            if len(buckets):
                indices.append(buckets)
                values.append(np.full(len(buckets), 1.0 / np.sqrt(len(buckets)), dtype=np.float32))
        indptr.append(indptr[-1] + sum(len(x) for x in h.buckets))
        owner.append(i)
        extra_labels.append(label)

    for i, s in enumerate(samples):
        prepared = _ngrams.prepare(_fold(s.text))
        bounds = _ngrams.window_bounds(len(prepared), TRAIN_WINDOW, TRAIN_WINDOW // 2)
        if len(bounds) > cfg.max_windows:
            middle = rng.sample(bounds[1:-1], cfg.max_windows - 2)
            bounds = [bounds[0], *sorted(middle), bounds[-1]]
        for a, b in bounds:
            row(prepared[a:b], i, s.label)
        if s.payload:
            # the injected part alone, and windows at each smaller scale that hold it with some of the
            # document around it: what the run-time windows see when an instruction hides in a long text
            inj = _ngrams.prepare(_fold(s.payload))
            row(inj, i, s.label)
            at = prepared.find(inj)
            if at >= 0:
                for w, _stride in cfg.scales[1:]:
                    if len(prepared) <= w:
                        continue
                    lo, hi = max(0, at + len(inj) - w), min(at, len(prepared) - w)
                    start = rng.randint(lo, hi) if lo <= hi else at
                    row(prepared[start : start + w], i, s.label)
        elif s.label == 0 and len(prepared) > small:
            cuts = _ngrams.window_bounds(len(prepared), small, small_stride)
            for a, b in rng.sample(cuts, min(cfg.small_windows, len(cuts))):
                row(prepared[a:b], i, 0)
    x = sparse.csr_matrix(
        (np.concatenate(values), np.concatenate(indices), np.asarray(indptr, dtype=np.int64)),
        shape=(len(owner), 1 << cfg.bits),
        dtype=np.float32,
    )
    x.sum_duplicates()
    own = np.asarray(owner, dtype=np.int64)
    labels = np.asarray(extra_labels, dtype=np.int64)
    return x, own, labels


def _weights(samples: Sequence[Sample], owner: npt.NDArray[np.int64], labels: npt.NDArray[np.int64]) -> np.ndarray:
    """Each source weighs sqrt(its size) in total (spread over its windows); then both classes weigh the same."""
    per_source = Counter(samples[i].source for i in owner)
    w = np.asarray([1.0 / np.sqrt(per_source[samples[i].source]) for i in owner], dtype=np.float64)
    for c in (0, 1):
        m = labels == c
        if m.any():
            w[m] *= 0.5 / w[m].sum()
    return w


def _logreg(x: sparse.csr_matrix, y: npt.NDArray[np.int64], w: np.ndarray, l2: float, max_iter: int) -> np.ndarray:
    """Weighted L2 logistic regression by L-BFGS; returns ``[coef..., bias]``."""
    d = x.shape[1]
    ys = np.where(y == 1, 1.0, -1.0)
    xt = x.T.tocsr()

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, bias = theta[:d], theta[d]
        z = x @ coef + bias
        m = ys * z
        lo = np.logaddexp(0.0, -m)
        g = -ys * w / (1.0 + np.exp(m))
        grad = np.empty_like(theta)
        grad[:d] = xt @ g + l2 * coef
        grad[d] = g.sum()
        return float((w * lo).sum() + 0.5 * l2 * coef @ coef), grad

    res = optimize.minimize(
        loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "maxcor": 20}
    )
    return np.asarray(res.x)


def _mlp(x: sparse.csr_matrix, y: npt.NDArray[np.int64], w: np.ndarray, cfg: TrainConfig) -> Hidden:
    """Weighted logistic loss of ``relu(x @ E + b) @ v + c``, L2 on ``E``; full-batch Adam, seeded, float32."""
    rng = np.random.default_rng(cfg.seed)
    d, h = x.shape[1], cfg.hidden
    xt = x.T.tocsr()
    params = [
        (rng.standard_normal((d, h)) * cfg.mlp_init).astype(np.float32),
        np.zeros(h, dtype=np.float32),
        (rng.standard_normal(h) * 0.3).astype(np.float32),
        np.zeros(1, dtype=np.float32),
    ]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    ys = np.where(y == 1, 1.0, -1.0).astype(np.float32)
    wf = np.asarray(w, dtype=np.float32)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, cfg.mlp_steps + 1):
        emb, bias, out, out_bias = params
        z = x @ emb + bias
        act = np.maximum(z, 0.0)
        margin = ys * (act @ out + out_bias[0])
        g = (-ys * wf / (1.0 + np.exp(margin))).astype(np.float32)
        d_act = np.outer(g, out) * (z > 0)
        grads = [
            np.asarray(xt @ d_act, dtype=np.float32) + np.float32(cfg.l2) * emb,
            d_act.sum(axis=0, dtype=np.float32),
            (act.T @ g).astype(np.float32),
            np.asarray([g.sum()], dtype=np.float32),
        ]
        for i, (p, gr) in enumerate(zip(params, grads, strict=True)):
            m1[i] = beta1 * m1[i] + (1 - beta1) * gr
            m2[i] = beta2 * m2[i] + (1 - beta2) * gr * gr
            mhat = m1[i] / (1 - beta1**step)
            vhat = m2[i] / (1 - beta2**step)
            params[i] = (p - cfg.mlp_lr * mhat / (np.sqrt(vhat) + eps)).astype(np.float32)
    emb, bias, out, out_bias = params
    return Hidden(
        embedding=emb.astype(np.float16).astype(np.float32),
        bias=bias,
        out=out,
        out_bias=float(out_bias[0]),
    )


def _threshold_with_rules(neg_scores: Sequence[float], rule_hits: Sequence[bool], fpr: float) -> float | None:
    """The smallest threshold at which rules OR classifier flag at most ``fpr`` of the negatives; ``None``
    when the rules alone already use the whole budget."""
    budget = int(np.floor(fpr * len(neg_scores))) - sum(rule_hits)
    rest = np.sort(np.asarray([s for s, h in zip(neg_scores, rule_hits, strict=True) if not h]))[::-1]
    if budget < 0:
        return None
    return float(np.nextafter(rest[budget], np.inf)) if budget < len(rest) else 0.0


def fit(corpus: Corpus, cfg: TrainConfig) -> Model:
    train = list(corpus.train)
    x, owner, labels = featurise(train, cfg)
    w = _weights(train, owner, labels)
    attack = _logreg(x, labels, w, cfg.l2, cfg.max_iter)
    pos = labels == 1
    jb = np.asarray([train[i].kind == JAILBREAK for i in owner[pos]], dtype=np.int64)
    jw = _weights([train[i] for i in owner[pos]], np.arange(int(pos.sum())), jb)
    jail = _logreg(x[pos], jb, jw, cfg.l2, cfg.max_iter)
    d = 1 << cfg.bits
    weights = np.stack([attack[:d], jail[:d]], axis=1).astype(np.float16).astype(np.float32)
    bias = np.asarray([attack[d], jail[d]], dtype=np.float32)
    hidden = _mlp(x, labels, w, cfg) if cfg.hidden > 0 else None
    draft = Model(weights, bias, bits=cfg.bits, threshold=0.5, threshold_strict=0.5, scales=cfg.scales, hidden=hidden)
    neg = [s for s in corpus.val if s.label == 0]
    neg_scores = [draft.score(_fold(s.text)).attack for s in neg]
    # The 1 % threshold leaves room for the rules' own false positives (the chain flags on either);
    # the 0.1 % one is the classifier's alone (the rules may use that whole budget by themselves).
    rules = InjectionRulesScanner()
    rule_hits = [bool(rules.scan(normalised_input(s.text))) for s in neg]
    with_rules = _threshold_with_rules(neg_scores, rule_hits, 0.01)
    thr1 = with_rules if with_rules is not None else _threshold_at_fpr(neg_scores, 0.01)
    thr1 = min(max(thr1, 1e-6), 1 - 1e-6)
    thr01 = min(max(_threshold_at_fpr(neg_scores, 0.001), thr1), 1 - 1e-6)
    meta = {
        "format": FORMAT if hidden is not None else 1,
        "bits": cfg.bits,
        "l2": cfg.l2,
        "scales": [list(x) for x in cfg.scales],
        "train_rows": len(train),
        "train_windows": int(x.shape[0]),
        "val_negatives": len(neg),
        "threshold_basis": "validation negatives (held-out sources + 15% of training families); "
        "1%: rules or classifier, 0.1%: classifier alone",
        "attack_head": f"mlp hidden={cfg.hidden} steps={cfg.mlp_steps}" if hidden is not None else "linear",
    }
    return Model(
        weights,
        bias,
        bits=cfg.bits,
        threshold=thr1,
        threshold_strict=thr01,
        meta=json.dumps(meta, sort_keys=True),
        scales=cfg.scales,
        hidden=hidden,
    )


def save_model(model: Model, path: Path) -> None:
    buf = io.BytesIO()
    extra: dict[str, Any] = {}  # savez takes arrays as keyword arguments
    if model.hidden is not None:
        extra = {
            "hidden": model.hidden.embedding.astype(np.float16),
            "hidden_bias": model.hidden.bias.astype(np.float32),
            "hidden_out": model.hidden.out.astype(np.float32),
            "hidden_out_bias": np.asarray(model.hidden.out_bias, dtype=np.float64),
        }
    np.savez_compressed(
        buf,
        format=np.int64(FORMAT if model.hidden is not None else 1),
        weights=model.weights.astype(np.float16),
        bias=model.bias.astype(np.float32),
        bits=np.int64(model.bits),
        threshold=np.float64(model.threshold),
        threshold_strict=np.float64(model.threshold_strict),
        meta=np.str_(model.meta),
        scales=np.asarray(model.scales, dtype=np.int64),
        **extra,
    )
    path.write_bytes(buf.getvalue())


def save_heldout(rows: Sequence[Sample], path: Path) -> None:
    lines = [
        json.dumps({"text": r.text, "kind": r.kind, "source": r.source, "family": r.family}, ensure_ascii=False)
        for r in rows
    ]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0))


def to_labelled(rows: Sequence[Sample]) -> list[Labelled]:
    return [Labelled(r.text, r.kind, r.source, r.family) for r in rows]
