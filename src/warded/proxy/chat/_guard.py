"""Incremental output scanning for streamed (and whole) model text.

``OutputGuard`` receives the model's text as it arrives and releases only what is safe to show: it
holds back what a match could still need and scans each release together with a little already
released context. What is held back, by rule:

* the trailing run of non-whitespace (a word, URL, key or placeholder may still be growing);
* a trailing run of number-like tokens (``+44 20 7946 …``, ``4111 1111 …``, ``GB29 NWBK …``), which
  phone, card and IBAN matches span across spaces;
* an open Markdown link or image (``[text](…`` not yet closed), an open HTML tag (``<img src=…``), and
  an open PEM block (``-----BEGIN`` without its ``-----END``);
* the start of any finding that runs into the held text.

A hold never exceeds ``max_hold`` characters: beyond that the held text is scanned and released anyway.

Findings apply per the policy's ``model_output`` responses, judged by
:func:`warded.decide.result.decide_result` with nobody to approve: DENY blocks (nothing more is released);
REDACT and REQUIRE_APPROVAL (there is nobody to approve model text mid-reply) replace the finding's span
with ``[REDACTED:<rule id>]``; a REDACT or REQUIRE_APPROVAL finding without a span blocks, since what
cannot be located cannot be removed. LABEL findings are only recorded. Text is scanned in the form the
upstream sent it (PII placeholders included) and placeholders are restored only after scanning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from warded.core.types import Verdict
from warded.core.walk import Text
from warded.decide.result import decide_result
from warded.scan.pipeline import Applied, ScanResult
from warded.scan.vault import redact

#: Longest run of number-like tokens (phone, card, IBAN groups) held back across spaces.
STRUCTURED_HOLD = 64
_NUMBERISH = frozenset("0123456789+()-./")


class OutputGuard:
    """One text field of one choice (``content`` or ``refusal``). Not thread-safe: one stream each."""

    def __init__(
        self,
        scan: Callable[[str], ScanResult],
        restore: Callable[[str], str],
        *,
        context_chars: int = 256,
        max_hold: int = 8192,
    ) -> None:
        self._scan = scan
        self._restore = restore
        self._context = context_chars
        self._max_hold = max_hold
        self._text = ""  # the upstream text from self._base on (older released text is dropped)
        self._base = 0  # absolute offset of self._text[0]
        self._released = 0  # absolute offset up to which text has been released
        self._seen: set[tuple[str, int, int]] = set()
        self.findings: list[Applied] = []  # every finding acted on or labelled, for the audit log
        self.blocked: tuple[Applied, ...] = ()
        self.chars_in = 0

    @property
    def pending(self) -> int:
        """Characters received but not yet released."""
        return self._base + len(self._text) - self._released

    def append(self, delta: str) -> None:
        """Take more text without releasing any (several deltas that arrived together, then :meth:`poll`)."""
        if not self.blocked and delta:
            self._text += delta
            self.chars_in += len(delta)

    def poll(self) -> str:
        """Release what may be shown now (possibly ``""``). Check ``blocked`` after."""
        if self.blocked:
            return ""
        end = self._base + len(self._text)
        hold = self._hold_from(end)
        if hold <= self._released:
            return ""
        return self._release(hold, final=False)

    def complete(self, text: str) -> str:
        """The whole text at once (a non-streaming reply): one scan, then release all of it."""
        if self.blocked:
            return ""
        self._text += text
        self.chars_in += len(text)
        return self.finish()

    def finish(self) -> str:
        """The text is complete: scan and release whatever is still held."""
        if self.blocked:
            return ""
        end = self._base + len(self._text)
        if end <= self._released:
            return ""
        return self._release(end, final=True)

    # -- internals ----------------------------------------------------------------------------

    def _hold_from(self, end: int) -> int:
        """Absolute offset from which text must still be held back."""
        start = self._released
        seg = self._text[start - self._base :]
        cut = len(seg)
        while cut > 0 and not seg[cut - 1].isspace():
            cut -= 1
        cut = min(cut, _structured_start(seg, cut))
        cut = min(cut, _open_construct(seg))
        hold = start + cut
        return max(hold, end - self._max_hold)

    def _release(self, upto: int, *, final: bool) -> str:
        scan_from = max(self._base, self._released - self._context)
        window = self._text[scan_from - self._base :]
        result = self._scan(window)
        # Nobody can be asked to approve model text mid-reply: what would need a human is cut out.
        judged = decide_result(((Text(window), a) for a in result.applied), approvable=False)
        blocking = judged.deciding if judged.verdict is not Verdict.ALLOW else ()
        cut = {id(f) for f in judged.redactions.get(0, ())}
        withheld: list[tuple[int, int, Applied]] = []
        for applied in result.applied:
            finding = applied.finding
            if any(applied is b for b in blocking):
                self.blocked = (*self.blocked, applied)
                continue
            span = (finding.span[0] + scan_from, finding.span[1] + scan_from) if finding.span is not None else None
            if id(finding) in cut and span is not None and span[1] > self._released:
                withheld.append((span[0], span[1], applied))
            key = (finding.rule_id, *(span or (-1, -1)))
            if key not in self._seen and (span is None or span[1] > self._released):
                self._seen.add(key)
                self.findings.append(applied)
        if self.blocked:
            self.findings.extend(a for a in self.blocked if a not in self.findings)
            return ""
        if not final:
            moved = True
            while moved:  # never release the beginning of a finding that runs into held text
                moved = False
                for s, e, _ in withheld:
                    # A finding that began in text already released has no beginning left to hold back: the
                    # part of it released now is cut out below. (Moving back to its start looped forever.)
                    if self._released <= s < upto < e:
                        upto = s
                        moved = True
            if upto <= self._released:
                return ""
        segment = self._text[self._released - self._base : upto - self._base]
        local = [
            replace(a.finding, span=(max(s, self._released) - self._released, min(e, upto) - self._released))
            for s, e, a in withheld
            if s < upto and e > self._released
        ]
        if local:
            segment = redact(segment, local)
        self._released = upto
        self._trim()
        return self._restore(segment)

    def _trim(self) -> None:
        keep_from = self._released - self._context
        if keep_from - self._base > max(4096, 4 * self._context):
            self._text = self._text[keep_from - self._base :]
            self._base = keep_from


def _structured_start(seg: str, cut: int) -> int:
    """Where a trailing run of number-like tokens (including the unfinished last one) begins, or ``cut``."""
    tail = seg[cut:]
    if tail and not _numberish(tail):
        return cut
    pos = cut
    start = cut
    digits = any(ch.isdigit() for ch in tail)
    limit = max(0, len(seg) - STRUCTURED_HOLD)
    while pos > limit:
        # step over one separator (a single space) and the token before it
        if pos == 0 or seg[pos - 1] != " ":
            break
        tok_end = pos - 1
        tok_start = tok_end
        while tok_start > limit and not seg[tok_start - 1].isspace():
            tok_start -= 1
        token = seg[tok_start:tok_end]
        if not token or not _numberish(token):
            break
        digits = digits or any(ch.isdigit() for ch in token)
        start = pos = tok_start
    return start if digits else cut


def _numberish(token: str) -> bool:
    if all(ch in _NUMBERISH for ch in token):
        return True
    return len(token) <= 4 and token.isascii() and token.isalnum() and (token.isupper() or token.isdigit())


def _open_construct(seg: str) -> int:
    """Start of an unclosed Markdown link/image, HTML tag or PEM block in ``seg``, else ``len(seg)``."""
    cut = len(seg)
    at = seg.rfind("[")
    if at != -1 and not _link_closed(seg, at):
        cut = min(cut, at - 1 if at > 0 and seg[at - 1] == "!" else at)
    at = seg.rfind("<")
    if at != -1 and seg.find(">", at) == -1:
        cut = min(cut, at)
    at = seg.rfind("-----BEGIN")
    if at != -1 and seg.find("-----END", at) == -1:
        cut = min(cut, at)
    return cut


def _link_closed(seg: str, at: int) -> bool:
    close = seg.find("]", at)
    if close == -1 or close + 1 >= len(seg):
        return False
    follow = seg[close + 1]
    if follow == "(":
        return seg.find(")", close) != -1
    if follow == "[":
        return seg.find("]", close + 2) != -1
    return True
