"""Evaluate the prompt-injection / jailbreak detector on the held-out split shipped with the package.

``evaluate_detector()`` loads ``models/injection_heldout.jsonl.gz`` (sources never seen in training or
threshold selection; see ``warded.bench.train.dataset``), runs the rules, the classifier and both
together, and returns recall at the stored ~1 % and ~0.1 % FPR thresholds, recall at exactly 1 % and
0.1 % FPR on the held-out negatives, per-source figures, and per-stage latency at 256 B / 2 KB / 32 KB.
Offline: it reads only files inside the package.
"""

from __future__ import annotations

import functools
import gzip
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from warded.scan.normalise import normalise
from warded.scan.scanners.injection_classifier import InjectionClassifierScanner, Model, load_model
from warded.scan.scanners.injection_rules import InjectionRulesScanner
from warded.scan.types import ScanInput, Scanner, Source

__all__ = ["HELDOUT", "Labelled", "evaluate_detector", "load_heldout", "normalised_input", "score_rows"]

HELDOUT = "injection_heldout.jsonl.gz"


def normalised_input(text: str, source: Source = Source.TOOL_OUTPUT) -> ScanInput:
    """A :class:`ScanInput` for ``text`` through the package's normaliser, as the scanner chain builds it."""
    return ScanInput(text=text, source=source, normalised=normalise(text))


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    kind: str  # "injection", "jailbreak" or "benign"
    source: str
    family: str = ""

    @property
    def label(self) -> int:
        return 0 if self.kind == "benign" else 1


def load_heldout() -> list[Labelled]:
    raw = resources.files("warded.scan.models").joinpath(HELDOUT).read_bytes()
    rows = []
    for line in gzip.decompress(raw).decode("utf-8").split("\n"):
        if not line:
            continue
        d = json.loads(line)
        rows.append(Labelled(d["text"], d["kind"], d["source"], d.get("family", "")))
    return rows


@dataclass(frozen=True, slots=True)
class Scored:
    row: Labelled
    rule_hit: bool
    score: float


def score_rows(rows: Iterable[Labelled], model: Model | None = None) -> list[Scored]:
    rules = InjectionRulesScanner()
    clf = InjectionClassifierScanner(model=model or load_model(), threshold=0.5)
    out = []
    for row in rows:
        item = normalised_input(row.text)
        hit = bool(rules.scan(item))
        best = max((clf.model.score(v.text).attack for v in item.normalised.views if v.layer != "raw"), default=0.0)
        out.append(Scored(row, hit, best))
    return out


def _rate(flags: Sequence[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else float("nan")


def _threshold_at_fpr(neg_scores: Sequence[float], fpr: float) -> float:
    """The smallest threshold whose false-positive rate on ``neg_scores`` is at most ``fpr``."""
    s = np.sort(np.asarray(neg_scores, dtype=np.float64))[::-1]
    k = int(np.floor(fpr * len(s)))  # this many negatives may lie at or above the threshold
    return float(np.nextafter(s[k], np.inf)) if k < len(s) else 0.0


def _figures(scored: Sequence[Scored], flag: Callable[[Scored], bool]) -> dict[str, object]:
    pos = [s for s in scored if s.row.label == 1]
    neg = [s for s in scored if s.row.label == 0]
    per_source: dict[str, list[bool]] = defaultdict(list)
    for s in scored:
        per_source[s.row.source].append(flag(s))
    return {
        "recall": _rate([flag(s) for s in pos]),
        "fpr": _rate([flag(s) for s in neg]),
        "recall_by_source": {k: _rate(v) for k, v in sorted(per_source.items()) if k in {s.row.source for s in pos}},
        "fpr_by_source": {k: _rate(v) for k, v in sorted(per_source.items()) if k in {s.row.source for s in neg}},
    }


def _by_rules(s: Scored) -> bool:
    return s.rule_hit


def _by_classifier(threshold: float, s: Scored) -> bool:
    return s.score >= threshold


def _by_either(threshold: float, s: Scored) -> bool:
    return s.rule_hit or s.score >= threshold


def metrics(scored: Sequence[Scored], model: Model) -> dict[str, object]:
    neg_scores = [s.score for s in scored if s.row.label == 0]
    out: dict[str, object] = {
        "n_positive": sum(s.row.label for s in scored),
        "n_negative": len(neg_scores),
        "positive_sources": sorted({s.row.source for s in scored if s.row.label == 1}),
        "negative_sources": sorted({s.row.source for s in scored if s.row.label == 0}),
        "thresholds": {"stored_1pct": model.threshold, "stored_0.1pct": model.threshold_strict},
        "rules": _figures(scored, _by_rules),
    }
    for name, thr in (("1pct", model.threshold), ("0.1pct", model.threshold_strict)):
        out[f"classifier@stored_{name}"] = _figures(scored, functools.partial(_by_classifier, thr))
        out[f"combined@stored_{name}"] = _figures(scored, functools.partial(_by_either, thr))
    # Thresholds set on the held-out negatives themselves: the best these scores can do at exactly that FPR.
    rule_neg = [s for s in scored if s.row.label == 0 and s.rule_hit]
    for name, fpr in (("1pct", 0.01), ("0.1pct", 0.001)):
        thr = _threshold_at_fpr(neg_scores, fpr)
        out[f"classifier@test_{name}"] = {
            "threshold": round(thr, 4),
            **_figures(scored, functools.partial(_by_classifier, thr)),
        }
        # combined: the classifier gets whatever FPR budget the rules leave
        left = max(fpr - len(rule_neg) / max(len(neg_scores), 1), 0.0)
        rest = [s.score for s in scored if s.row.label == 0 and not s.rule_hit]
        cthr = _threshold_at_fpr(rest, left * len(neg_scores) / max(len(rest), 1)) if rest else 1.0
        out[f"combined@test_{name}"] = {
            "threshold": round(cthr, 4),
            **_figures(scored, functools.partial(_by_either, cthr)),
        }
    return out


def _texts_of_size(rows: Sequence[Labelled], size: int, n: int) -> list[str]:
    """``n`` deterministic benign messages of ``size`` UTF-8 bytes (whole characters), cut from the held-out text."""
    pool = "\n".join(r.text for r in rows if r.label == 0)
    if not pool:
        pool = "The quarterly report is attached; see the previous e-mail for the agenda. "
    out = []
    step = max(len(pool) // max(n, 1), 1)
    for i in range(n):
        start = (i * step) % len(pool)
        chunk = (pool[start:] + pool)[: size * 2]
        b = chunk.encode("utf-8")[:size]
        out.append(b.decode("utf-8", "ignore"))
    return out


def _latency(fn: Callable[[str], object], texts: Sequence[str], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        for t in texts:
            t0 = time.perf_counter()
            fn(t)
            times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    total_bytes = sum(len(t.encode("utf-8")) for t in texts) * repeat
    return {
        "p50_ms": round(statistics.median(times), 4),
        "p99_ms": round(times[min(int(len(times) * 0.99), len(times) - 1)], 4),
        "mb_per_s": round(total_bytes / 1e6 / (sum(times) / 1000.0), 2),
    }


def _scan_prepared(scanner: Scanner, items: Mapping[str, ScanInput], text: str) -> object:
    return scanner.scan(items[text])


def _chain(rules: Scanner, clf: Scanner, text: str) -> object:
    item = normalised_input(text)
    return rules.scan(item), clf.scan(item)


def latency(rows: Sequence[Labelled], sizes: Sequence[int] = (256, 2048, 32768), n: int = 40) -> dict[str, object]:
    """Per-stage latency (one thread) over benign held-out text cut to each size."""
    rules = InjectionRulesScanner()
    clf = InjectionClassifierScanner()
    model = clf.model
    norm = normalise
    out: dict[str, object] = {}
    for size in sizes:
        texts = _texts_of_size(rows, size, n)
        items = {t: ScanInput(text=t, source=Source.TOOL_OUTPUT, normalised=norm(t)) for t in texts}
        repeat = 5 if size <= 2048 else 2
        out[f"{size}B"] = {
            "normalise": _latency(norm, texts, repeat),
            "rules": _latency(functools.partial(_scan_prepared, rules, items), texts, repeat),
            "classifier": _latency(functools.partial(_scan_prepared, clf, items), texts, repeat),
            "rules+classifier (with normalise)": _latency(functools.partial(_chain, rules, clf), texts, repeat),
        }
    out["model_bits"] = model.bits
    return out


def evaluate_detector(rows: Sequence[Labelled] | None = None, with_latency: bool = True) -> dict[str, object]:
    """Recall and FPR of rules, classifier and both on the held-out split, plus per-stage latency."""
    data = list(rows) if rows is not None else load_heldout()
    model = load_model()
    t0 = time.perf_counter()
    scored = score_rows(data, model)
    result: dict[str, object] = {"heldout": metrics(scored, model), "eval_seconds": round(time.perf_counter() - t0, 2)}
    result["model"] = json.loads(model.meta) if model.meta else {}
    if with_latency:
        result["latency"] = latency(data)
    return result


def main() -> None:
    """``python -m warded.bench.detector_eval``: print :func:`evaluate_detector` as JSON."""
    print(json.dumps(evaluate_detector(), indent=1))


if __name__ == "__main__":
    main()
