"""``pii.email``: ``local@domain.tld`` (Unicode letters allowed).

Dot rules on the local part, hostname rules per label, an alphabetic TLD that is not a file extension
(``logo@2x.png`` is not an address); ``git@host:`` (an SSH remote) is skipped.
"""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared, word_char
from warded.scan.scanners.pii._base import Detector, Hit, Pattern, Settings

#: Top-level labels that are file extensions, not TLDs, in ``name@2x.png``-style strings.
_FILE_TLDS = frozenset({
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff", "avif", "heic", "css", "scss", "less",
    "js", "mjs", "cjs", "ts", "tsx", "jsx", "json", "yaml", "yml", "toml", "lock", "txt", "log", "map", "wasm",
    "whl", "egg", "exe", "dll", "dylib", "bin", "dat", "tmp", "bak", "pdf", "csv", "tsv", "xml", "html", "htm",
})  # fmt: skip


def _email(p: Prepared, m: Any, _settings: Settings) -> Hit | None:
    start, end = p.span(m)
    text = p.text
    cand = text[start:end]
    at = cand.index("@")
    local, domain = cand[:at], cand[at + 1 :]
    # the greedy local part may start with punctuation: trim it off the span
    trim = len(local) - len(local.lstrip("._%+-"))
    local = local[trim:]
    start += trim
    if not local or len(local) > 64 or local.endswith(".") or ".." in local:
        return None
    if start > 0 and word_char(text[start - 1]):
        return None
    if end < len(text) and (word_char(text[end]) or text[end] in "-@"):
        return None
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) > 10:
        return None
    if any(not lab or len(lab) > 63 or lab.startswith("-") or lab.endswith("-") for lab in labels):
        return None
    if labels[-1].lower() in _FILE_TLDS:
        return None
    if local.lower() == "git" and end < len(text) and text[end] == ":":
        return None  # git@github.com:org/repo.git is an SSH remote, not a mailbox
    return Hit(start, end)


EMAIL = Detector(
    id="pii.email",
    message="e-mail address",
    score=0.9,
    priority=3,
    patterns=(Pattern("email", r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)*\.\p{L}{2,24}", _email),),
)
