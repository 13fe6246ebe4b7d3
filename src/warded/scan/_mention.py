"""Use versus mention: an instruction addressed to the AI reader is an attack; the same words quoted or reported
inside a text that discusses them are not.

Security articles, training material, detection-rule READMEs, test fixtures and code that holds a developer's
system prompt contain the very phrases the injection detectors look for ("ignore previous instructions", "you
are now DAN"), but they *mention* them: the phrase sits in quotation marks, a code block or a string literal,
or in a sentence that reports what someone else wrote, and the text around it talks about attacks, prompts and
detection. :func:`use_view` returns the text as the injection detectors should read it: the same text with the
mentions blanked out (replaced by spaces, so every offset still holds), or ``None`` when nothing is discounted.

A discount needs all of:

1. **Discursive context.** Outside every quotation the text has at least :data:`MIN_CONTEXT_WORDS` words and
   talks about attacks or prompts: at least one :data:`CORE` term (injection, jailbreak, attack, prompt, ...)
   and, in prose, a second distinct :data:`CORE` or :data:`META` term (example, rule, test, research, ...). In
   code (three or more code lines outside quotation) one core term suffices: the quoted material is a string
   literal the program holds, not a sentence addressed to the reader. A text that is only a quote, or a quote
   with a line around it, is never discounted.
2. **Each blanked quotation is inert.** A quotation that refers to its own reader ("if you are an AI reading
   this", "whichever model processes this invite") or carries a concrete destination (a URL, an e-mail
   address, an IBAN, a credential path) is kept: that is what an attacker who wraps an instruction in quotes
   needs, and what a text merely discussing an attack rarely holds. In prose, so is a quotation longer than a
   phrase (:data:`MAX_PHRASE` characters or more than two sentences): a whole prompt in quotes is a prompt; and
   so is a quotation inside a sentence that addresses the reader (see 3.): 'reply with "..."' orders what to say.
3. **Each blanked sentence reports rather than addresses.** Outside quotation (and only in prose), a sentence
   is blanked only when it reports what someone wrote or did (a reporting verb: said, told, asked, shared,
   contained, ...) and addresses nobody: no second person, no imperative at the start of the sentence or of a
   clause, no vocative ("Assistant, ..."), no directive to a named agent ("the assistant must ..."), no
   reference to its own reader, no concrete destination.

The caller must also never discount a text whose use view still holds an instruction: the rules run on the
use view first, and if anything fires there the whole text is read as it is (``injection_rules``).

Bounded: texts longer than :data:`MAX_CHARS` are not analysed (no discount: the detectors read them whole),
quotations longer than :data:`MAX_QUOTE` (:data:`MAX_BLOCK` for fenced code and triple quotes) are not
quotations. Matching is RE2, ``str.find`` and single-character-class patterns: linear in the input.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import re2

__all__ = ["CORE", "MAX_CHARS", "META", "Reading", "quotations", "read", "use_view", "view_context"]

#: Longer texts are read whole (no discount).
MAX_CHARS = 32_768
#: The longest inline quotation; longer ones are not treated as quotations.
MAX_QUOTE = 400
#: The longest quotation in prose that can be a mention: a phrase, not a whole prompt.
MAX_PHRASE = 160
#: The longest fenced code block or triple-quoted string.
MAX_BLOCK = 4_000
#: Words that must stand outside every quotation before anything is discounted.
MIN_CONTEXT_WORDS = 12

# Paired marks: opener -> closers. Straight quotes and backticks are their own closers.
_PAIRS: dict[str, str] = {
    '"': '"',
    "`": "`",
    "\u201c": "\u201d\u201c",  # “ ” (and “ … “ as typed by some keyboards)
    "\u201e": '\u201c\u201d"',  # „ … “ (German), „ … ” and „ … "
    "\u00ab": "\u00bb",  # « »
    "\u00bb": "\u00ab",  # » « (Danish / German reversed)
    "\u2039": "\u203a",  # ‹ ›
    "\u300c": "\u300d",  # 「 」
    "\u300e": "\u300f",  # 『 』
    "'": "'",
    "\u2018": "\u2019",  # ‘ ’
}
_APOSTROPHES = frozenset("'\u2018\u2019")
_BLOCKS = ("```", "~~~", '"""', "'''")
#: Every mark that opens something: the three-character blocks first, then the single marks.
_MARKS = re.compile("|".join(re.escape(b) for b in _BLOCKS) + "|[" + re.escape("".join(_PAIRS)) + "]")

_OPTS = re2.Options()
_OPTS.case_sensitive = False
_OPTS.max_mem = 16 << 20

#: Vocabulary of texts that discuss attacks and prompts (English, German, French, Spanish, Italian, Portuguese
#: stems), counted outside quotations with identifiers split into words. ``CORE`` terms name attacks or prompts
#: themselves; ``META`` terms are the words of a discussion about them (examples, rules, tests, research).
CORE = re2.compile(
    r"\b(inject\w*|jailbr\w*|attack\w*|adversar\w*|malicious|phishing|exploit\w*|payloads?|prompts?|"
    r"red[- ]?team\w*|hijack\w*|manipulat\w*|threat\w*|vulnerab\w*|owasp|angriff\w*|angreifer|attaque\w*|"
    r"ataque\w*|attacco)\b",
    _OPTS,
)
META = re2.compile(
    r"\b(examples?|e\.g|such as|for instance|phras\w*|wording|patterns?|regex\w*|rules?|detect\w*|filters?|"
    r"guard\w*|classif\w*|samples?|tests?|testing|dataset\w*|research\w*|security|quot\w*|mitigat\w*|"
    r"defen[cs]\w*|benchmark\w*|ctf|write-?up|advisory|beispiel\w*|sicherheit\w*|erkennung|exemple\w*|"
    r"sécurité|securite|ejemplo\w*|seguridad|esempio|sicurezza|exemplo\w*|segurança)\b",
    _OPTS,
)
_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"[a-z][A-Z]")

#: A quotation that speaks to whoever reads the text it sits in.
_DEIXIS = re2.compile(
    r"\b(?:read(?:s|ing)?|process(?:es|ing)?|summari[sz](?:es|ing)?|pars(?:es|ing)|view(?:s|ing)?|"
    r"handl(?:es|ing)|triag(?:es|ing)|analy[sz](?:es|ing)?|review(?:s|ing)?|index(?:es|ing)?|see(?:s|ing)?)\s+"
    r"(?:this|these|the following)\b|\b(?:whichever|whatever|any|every)\s+(?:ai|model|assistant|agent|bot|llm)\b|"
    r"\bif you are an?\s+(?:ai|llm|language model|assistant|agent|bot|automated)|"
    r"\b(?:to|for) (?:the )?(?:ai|model|assistant|agent|bot|llm) (?:that |who )?(?:reads?|is reading|processes)\b",
    _OPTS,
)
#: A concrete place to send something or a secret to take: what an attack needs and a discussion seldom has.
_DESTINATION = re2.compile(
    r"(?:https?|ftp)://\S|\bwww\.\S|[\w.+-]+@[\w-]+\.[\w.-]+|\b[a-z]{2}\d{2}(?:\s?[a-z0-9]{4}){3,7}\b|"
    r"~/\.(?:ssh|aws|config|kube|docker|gnupg|netrc)|\.env\b|id_rsa|/etc/(?:passwd|shadow)",
    _OPTS,
)
#: Second person, a vocative at the start of a sentence, or a directive to a named agent.
_ADDRESS = re2.compile(
    r"\b(?:you|your|yours|yourself|u|ur|du|dich|dir|dein\w*|ihr|euch|vous|votre|vos|tu|ton|ta|tes|toi|usted\w*|"
    r"vosotros|tú|te|tuo|tua|voc[eê]|seu|sua)\b|"
    r"^\W*(?:dear |hey |hi |hello |attention |note to |message to )?(?:the )?(?:ai|assistant|agent|model|bot|llm|"
    r"chatbot|copilot|claude|gpt|chatgpt|gemini)\b\s*[,:!]|"
    r"\b(?:the|this|any|every|our|each) (?:ai|assistant|agent|model|bot|llm|chatbot|copilot)s? "
    r"(?:must|should|shall|needs? to|has to|have to|is (?:required|instructed|asked|expected) to|will now|"
    r"is to|are to)\b",
    _OPTS,
)
#: Sentence openings that give an order (English and a few other languages): an imperative addresses the reader.
_IMPERATIVE = re2.compile(
    r"^\W*(?:(?:please|kindly|simply|just|now|then|also|first|only|immediately|quickly|silently|quietly|"
    r"always|never|instead|carefully)\s+){0,3}(?:ignore|disregard|forget|skip|override|bypass|stop|start|begin|reveal|print|output|show|"
    r"display|repeat|recite|tell|give|list|send|forward|email|e-mail|upload|post|share|transfer|pay|wire|move|"
    r"delete|remove|erase|wipe|run|execute|call|invoke|use|open|click|visit|go|navigate|download|install|add|"
    r"insert|append|include|write|create|change|reset|set|update|replace|approve|accept|grant|enable|disable|"
    r"activate|act|pretend|imagine|roleplay|role-play|become|be|respond|reply|answer|say|translate|decode|"
    r"summari[sz]e|do|don'?t|never|always|make|keep|mark|close|merge|push|commit|book|buy|order|confirm|"
    r"assume|consider|treat|follow|obey|comply|read|fetch|retrieve|export|copy|paste|note|remember|"
    r"ignoriere|vergiss|sende|zeige|ignorez|oubliez|envoyez|ignora|olvida|envía|envia|mostra|esqueça)\b",
    _OPTS,
)
#: Verbs that report what someone else wrote or did: a sentence is discounted only when it reports.
_REPORTING = re2.compile(
    r"\b(?:said|says|told|tells|asked|asks|wrote|writes|written|shared|shares|used|uses|using|contained|contains|"
    r"containing|included|includes|including|showed|shows|shown|described|describes|claimed|claims|instructed|"
    r"instructs|typed|posted|posts|matched|matches|matching|called|known as|tried|tries|attempted|attempts|"
    r"urged|urges|demanded|demands|reported|reports|quoted|quotes|began with|begins with|looked like|"
    r"looks like|phrased|worded|sagt\w*|schrieb\w*|enthält|enthielt|dit|disait|écrit|contient|contenait|dice|"
    r"decía|escribió|contiene|contenía|diceva|conteneva|disse|continha)\b",
    _OPTS,
)
_CLAUSE = re2.compile(r"[:;,\x{2014}\x{2013}(]\s*|\s-\s|\s(?:and|then|or|but|so)\s+", _OPTS)
#: A sentence ends at final punctuation, or at a line break unless the next line starts in lower case (prose
#: wrapped across lines continues its sentence).
_SENTENCE_END = re.compile(r"[.!?;]+(?=\s)|\n(?![a-z])")
_CODE_LINE = re2.compile(
    r"(?m)^\s*(?:def |class |import |from \S+ import|return\b|function\b|const |let |var |@\w|#include|"
    r"public |private |fn |func |if .*:$|for .*:$|[\w.\[\]]+\s*(?:=|:=|\+=)\s*\S)|[{};]\s*$|^\s*[}\])]",
    _OPTS,
)
_MIN_CODE_LINES = 3


@dataclass(frozen=True, slots=True)
class Reading:
    """How :func:`read` understood a text: the quotations it found (interior spans), whether the text around
    them is discursive (and whether it is code), and the spans it would blank."""

    quotes: tuple[tuple[int, int], ...]
    discursive: bool
    code: bool
    blanked: tuple[tuple[int, int], ...]


def _closing(text: str, opener: str, start: int, limit: int) -> int:
    """Index of the mark that closes the quotation opened at ``start``, or -1."""
    closers = _PAIRS[opener]
    end = min(len(text), start + 1 + limit)
    best = -1
    for closer in closers:
        at = start + 1
        while True:
            at = text.find(closer, at, end)
            if at < 0:
                break
            if closer in _APOSTROPHES and ((at + 1 < len(text) and text[at + 1].isalnum()) or text[at - 1].isspace()):
                at += 1  # an apostrophe inside a word (don't, user's), not a closing quote
                continue
            if best < 0 or at < best:
                best = at
            break
    if best >= 0 and ("\n\n" in text[start + 1 : best] or text.count("\n", start + 1, best) > 2):
        return -1  # a quotation does not run across paragraphs
    return best


def quotations(text: str) -> list[tuple[int, int]]:
    """Interior spans ``[start, end)`` of the quotations, code blocks, triple-quoted strings and inline code in
    ``text``, in order, without overlaps."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    i = 0
    while (m := _MARKS.search(text, i)) is not None:
        mark, at = m.group(0), m.start()
        if len(mark) == 3:  # a fenced block or a triple-quoted string
            close = text.find(mark, at + 3, min(n, at + 3 + MAX_BLOCK))
            if close >= 0:
                spans.append((at + 3, close))
                i = close + 3
            else:
                i = at + 3
            continue
        if mark in _APOSTROPHES and at > 0 and text[at - 1].isalnum():
            i = at + 1  # an apostrophe (don't, user's), not an opening quote
            continue
        close = _closing(text, mark, at, MAX_QUOTE)
        if close > at + 1:
            spans.append((at + 1, close))
            i = close + 1
        else:
            i = at + 1
    return spans


def _words(text: str) -> list[str]:
    """Words of ``text``, identifiers split (``SYSTEM_PROMPT``, ``looksLikeInjection``)."""
    spaced = _CAMEL.sub(lambda m: m.group(0)[0] + " " + m.group(0)[1], text)
    return _WORD.findall(spaced)


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    out = list(text)
    for a, b in spans:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


def _sentences(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > start:
            out.append((start, m.end()))
        start = m.end()
    if start < len(text):
        out.append((start, len(text)))
    return out


def _inert(quote: str, code: bool) -> bool:
    """Whether a quotation can be a mention: it refers to no reader of its own and holds no destination, and in
    prose it is a phrase (at most :data:`MAX_PHRASE` characters and two sentences), not a whole prompt."""
    if _DEIXIS.search(quote) or _DESTINATION.search(quote):
        return False
    return code or (len(quote) <= MAX_PHRASE and len(_sentences(quote.strip())) <= 2)


def _host(around: str, sentences: list[tuple[int, int]], a: int) -> str:
    """The sentence a quotation whose interior starts at ``a`` belongs to, in ``around`` (the text with the
    quotations blanked; ``sentences``: its sentences, in order). A fenced block or triple-quoted string is a
    display of its own: its host is the clause that introduces it ('... the following:'), if the text before it
    ends with a colon."""
    if around[max(0, a - 3) : a] in _BLOCKS:
        before = around[max(0, a - 3 - MAX_QUOTE) : a - 3].rstrip()
        if not before.endswith(":"):
            return ""
        starts = [m.end() for m in _SENTENCE_END.finditer(before[:-1])]
        return before[starts[-1] if starts else 0 :]
    k = bisect.bisect_right(sentences, (a, len(around) + 1)) - 1
    if k >= 0 and sentences[k][0] <= a < sentences[k][1]:
        return around[sentences[k][0] : sentences[k][1]]
    return ""


def _addresses(sentence: str) -> bool:
    """Whether ``sentence`` speaks to its reader: second person, a vocative, a directive to a named agent, a
    reference to the text's own reader, or an imperative at the start of the sentence or of any clause."""
    if _ADDRESS.search(sentence) or _DEIXIS.search(sentence):
        return True
    starts = [0, *(m.end() for m in _CLAUSE.finditer(sentence))]
    return any(_IMPERATIVE.search(sentence[at:]) for at in starts)


def _context(text: str, quotes: list[tuple[int, int]]) -> tuple[bool, bool]:
    """Whether the text around ``quotes`` is discursive (see the module doc), and whether it is code."""
    outside = _blank(text, quotes)
    words = _words(outside)
    code = sum(1 for _ in _CODE_LINE.finditer(outside)) >= _MIN_CODE_LINES
    joined = " ".join(words)
    core = {m.group(1).casefold()[:4] for m in CORE.finditer(joined)}
    terms = core | {m.group(1).casefold()[:4] for m in META.finditer(joined)}
    return len(words) >= MIN_CONTEXT_WORDS and bool(core) and len(terms) >= (1 if code else 2), code


def read(text: str, original: str | None = None) -> Reading | None:
    """The use/mention reading of ``text``, or ``None`` when it is too long to analyse. ``original``: the text
    as written, when ``text`` is a folded view of it (the normaliser joins lines and casefolds): the context
    (discursive, code) is judged on the original's lines, the quotations and sentences are found in ``text``."""
    if len(text) > MAX_CHARS or (original is not None and len(original) > MAX_CHARS):
        return None
    quotes = quotations(text)
    discursive, code = _context(text, quotes) if original is None else _context(original, quotations(original))
    if not discursive:
        return Reading(tuple(quotes), False, code, ())
    blanked = [(a, b) for a, b in quotes if _inert(text[a:b], code)]
    if not code:
        # A quotation inside a sentence that addresses the reader is the object of an order ('reply with "..."'):
        # part of the use, not a mention.
        around = _blank(text, blanked)
        hosts = _sentences(around)
        blanked = [(a, b) for a, b in blanked if not _addresses(_host(around, hosts, a))]
        masked = _blank(text, blanked)
        for a, b in _sentences(masked):
            sentence = masked[a:b]
            if not sentence.strip():
                continue
            if _addresses(sentence) or _DESTINATION.search(text[a:b]) or not _REPORTING.search(sentence):
                continue
            blanked.append((a, b))
    return Reading(tuple(quotes), True, code, tuple(sorted(blanked)))


def use_view(text: str, original: str | None = None) -> str | None:
    """``text`` with its mentions blanked (see the module doc), or ``None`` when nothing is discounted."""
    reading = read(text, original)
    if reading is None or not reading.blanked:
        return None
    return _blank(text, list(reading.blanked))


def view_context(layer: str, original: str) -> str | None:
    """The ``original`` argument for a view of a scanned text: the text as written for its raw and normalised
    views; none for a decoded layer (base64 and the like), which is judged on its own."""
    return original if layer in ("raw", "normalised") else None
