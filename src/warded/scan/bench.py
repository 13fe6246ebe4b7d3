"""``warded bench scan``: detection figures on held-out data and the cost of each stage.

Latency is measured on benign agent traffic (e-mails, calendar entries, code, tool output) cut to
256 B, 2 KB and 32 KB, one message at a time on one thread; each stage's time comes from the
pipeline's own per-scanner timings, the whole chain from wall time around ``scan``.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from warded.scan.pipeline import ScanPipeline
from warded.scan.types import Source

_SENTENCES = [
    "Hi Emma, following up on the quarterly report: could you send the updated figures by Friday?",
    "Meeting: Product sync, Tuesday 10:00-10:30, Room 4B. Agenda: roadmap, hiring, the Q3 launch.",
    "def total(items):\n    return sum(item.price * item.quantity for item in items)\n",
    "The hotel was clean and the staff friendly, but breakfast ended too early for our taste.",
    'Tool result: {"status": "ok", "files": ["notes.txt", "budget-2026.xlsx"], "count": 2}',
    "Reminder: the dentist appointment was moved to 3 pm on the 14th. Reply to confirm.",
    "Invoice 7731 for consulting services, net 30, payable to the account on file.",
    "Slack #general: lunch is on the terrace today, bring sunscreen.",
    "SELECT name, email FROM customers WHERE created_at > '2026-01-01' ORDER BY name;",
    "Thanks for the review! I renamed the helper and added a test for the empty case.",
]

SIZES = {"256B": 256, "2KB": 2048, "32KB": 32768}


def benign_message(size: int, rng: random.Random) -> str:
    parts: list[str] = []
    total = 0
    while total < size:
        sentence = rng.choice(_SENTENCES)
        parts.append(sentence)
        total += len(sentence) + 1
    return " ".join(parts)[:size]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(ordered[len(ordered) // 2], 4),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
        "mean_ms": round(statistics.fmean(ordered), 4),
    }


def latency(pipeline: ScanPipeline, *, repeats: int = 200, seed: int = 11) -> dict[str, Any]:
    rng = random.Random(seed)
    out: dict[str, Any] = {}
    timer: Callable[[], float] = time.perf_counter
    for label, size in SIZES.items():
        n = repeats if size <= 2048 else max(20, repeats // 8)
        messages = [benign_message(size, rng) for _ in range(n)]
        pipeline.scan(messages[0], Source.TOOL_OUTPUT)  # load models, warm caches
        whole: list[float] = []
        stages: dict[str, list[float]] = {}
        flagged = 0
        for message in messages:
            started = timer()
            result = pipeline.scan(message, Source.TOOL_OUTPUT)
            whole.append((timer() - started) * 1000)
            flagged += result.verdict != "allow"
            for stage, ms in result.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
        chain = _percentiles(whole)
        chain["mb_per_s"] = round(size / 1e6 / (statistics.fmean(whole) / 1000), 2)
        out[label] = {
            "messages": n,
            "benign_flagged": flagged,
            "chain": chain,
            "stages": {
                stage: {**_percentiles(ms), "mb_per_s": round(size / 1e6 / (statistics.fmean(ms) / 1000), 2)}
                for stage, ms in stages.items()
            },
        }
    return out
