"""Character tables for folding and hidden-text detection, and a small English/instruction word list.

The confusables table is a compact, hand-picked subset of Unicode's confusables data (UTS #39): letters from
Cyrillic, Greek, Armenian, Cherokee and Latin extensions that render like ASCII letters. Fullwidth and
mathematical letters need no entry: NFKC already maps them to ASCII.
"""

from __future__ import annotations

from typing import Final

# Look-alike -> ASCII skeleton (lower case; folding case-folds afterwards anyway).
_CONFUSABLE_GROUPS: Final[dict[str, str]] = {
    "a": "аАαΑаɑᴀꭺꓮ",
    "b": "ВвβΒʙƅᏴꓐЬь",
    "c": "сСϲϹᴄᏟꓚ",
    "d": "ԁᴅꓒ",
    "e": "еЕεΕᴇᎬꓰ",
    "f": "ꜰғ",
    "g": "ɡɢցᏀ",
    "h": "һҺНнΗʜհᎻꓧ",
    "i": "іІӏӀιΙɪıɩᎥꓲ",
    "j": "јЈϳᴊȷᎫꓙ",
    "k": "кКκΚᴋᏦꓗ",
    "l": "ʟᏞꓡǀ",
    "m": "мМΜᴍᎷꓟ",
    "n": "Νηɴոꓠ",
    "o": "оОοΟᴏօᏫꓳ",
    "p": "рРρΡᴘᏢꓑ",
    "q": "ԛ",
    "r": "ʀꓣ",
    "s": "ѕЅꜱՏᏚꓢ",
    "t": "тТτΤᴛᎢꓔ",
    "u": "υᴜսꓴ",
    "v": "νᴠᏙꓦѵ",
    "w": "ԝԜωᴡѡᎳꓪ",
    "x": "хХχΧꓫ",
    "y": "уУΥγʏүҮꓬ",
    "z": "ΖᴢᏃꓜ",
}

CONFUSABLES: Final[dict[str, str]] = {ch: ascii_ for ascii_, chars in _CONFUSABLE_GROUPS.items() for ch in chars}

# Invisible characters that split words without showing (format characters and fillers).
ZERO_WIDTH: Final[frozenset[str]] = frozenset(
    "\u00ad\u034f\u115f\u1160\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\u3164\ufeff\uffa0"
)
# ZWNJ and ZWJ are legitimate inside emoji sequences and Arabic/Indic words; only flagged next to ASCII.
JOINERS: Final[frozenset[str]] = frozenset("\u200c\u200d")
# Bidi overrides, embeddings and isolates (Trojan Source); the marks below are removed but not flagged.
BIDI_CONTROLS: Final[frozenset[str]] = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
BIDI_MARKS: Final[frozenset[str]] = frozenset("\u200e\u200f\u061c")

TAG_FIRST: Final = 0xE0000
TAG_LAST: Final = 0xE007F
CANCEL_TAG: Final = 0xE007F
BLACK_FLAG: Final = 0x1F3F4  # England/Scotland/Wales flags: U+1F3F4, tag letters, U+E007F

# Everything hidden, as one character class (ranges only). These single-class patterns are linear in Python's
# ``re`` too (a class run cannot backtrack), and ``re`` handles lone surrogates and is cheaper per match than the
# RE2 wrapper, so they use ``re``; every pattern with alternation or nesting uses RE2.
HIDDEN_CLASS: Final = (
    "[\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef]+"
)
# What folding deletes: the hidden characters plus generic combining marks (after NFKD).
STRIP_CLASS: Final = HIDDEN_CLASS[:-2] + "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
CONFUSABLE_TABLE: Final[dict[int, str]] = {ord(ch): a for ch, a in CONFUSABLES.items()}

# Printable bytes (for deciding whether decoded bytes are text): tab, LF, CR, 0x20-0x7E and every byte >= 0x80
# (UTF-8 validity is checked separately).
PRINTABLE_BYTES: Final[bytes] = bytes([9, 10, 13, *range(0x20, 0x7F), *range(0x80, 0x100)])

# Common English words plus the vocabulary of injected instructions. Used only to decide whether a ROT13 or
# leetspeak reading reveals words, so benign text does not sprout views.
_WORD_TEXT: Final = """
    a about above access account act admin administrator after again against all also always am an and answer any
    api are as ask assistant at attacker authority bank be been before begin below between bypass but by call can
    cannot change chat code command confidential content context continue copy credentials credit data delete
    developer did disable disregard do does document don done download each email end every exec execute
    exfiltrate file files find follow following for forget forward from get give go grant guidelines had has have
    he hello help her here hidden his how i if ignore image immediately important in include information inject
    instead instruction instructions into is it its jailbreak just key keys know leak let like link list login
    make markdown me message mode money more must my need never new next no not note now of off on only open or
    order other our out output over override password passwords pay payment people permission please policy
    pretend previous print private prompt prompts read real remove repeat reply request reset respond response
    restrictions reveal rules run safety say secret secrets security send server session share should show so
    some start stop such summary system take task tell than thank that the their them then there these they
    this those through to token tokens tool transfer true trust unless until up upload url us use user users
    using very wallet want was way we were what when where which while who why will wire with without would
    write you your yours
"""
WORDS: Final[frozenset[str]] = frozenset(_WORD_TEXT.split())

# ROT13 of very common words (a cheap RE2 prefilter before the per-token ROT13 check).
ROT13_PREFILTER_WORDS: Final[tuple[str, ...]] = (
    "gur",  # the
    "naq",  # and
    "lbh",  # you
    "lbhe",  # your
    "gb",  # to
    "bs",  # of
    "vf",  # is
    "vg",  # it
    "vtaber",  # ignore
    "nyy",  # all
    "cerivbhf",  # previous
    "vafgehpgvbaf",  # instructions
    "gung",  # that
    "jvgu",  # with
    "sbe",  # for
    "guvf",  # this
    "abj",  # now
    "cyrnfr",  # please
    "flfgrz",  # system
    "cebzcg",  # prompt
    "frperg",  # secret
    "cnffjbeq",  # password
    "fraq",  # send
    "erirny",  # reveal
)

# Words whose presence in decoded text raises an ENCODED finding's score.
SUSPICIOUS_WORDS: Final[tuple[str, ...]] = (
    "ignore",
    "disregard",
    "forget",
    "instruction",
    "system prompt",
    "password",
    "secret",
    "api key",
    "token",
    "exfiltrate",
    "reveal",
    "override",
    "jailbreak",
    "developer mode",
    "send",
    "http",
    "execute",
    "delete",
)

# Distinctive words whose leetspeak spelling triggers the (costlier) leetspeak reading of a text.
LEET_TRIGGER_WORDS: Final[tuple[str, ...]] = (
    "ignore",
    "previous",
    "instruction",
    "instructions",
    "system",
    "prompt",
    "password",
    "secret",
    "reveal",
    "disregard",
    "forget",
    "jailbreak",
    "bypass",
    "override",
    "execute",
    "credentials",
    "developer",
    "restrictions",
    "pretend",
    "hack",
    "malware",
    "exploit",
    "unrestricted",
    "uncensored",
    "unfiltered",
    "guidelines",
    "confidential",
    "exfiltrate",
    "admin",
    "token",
)

LEET_MAP: Final[dict[str, str]] = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "|": "l",
    "+": "t",
    "!": "i",
}
