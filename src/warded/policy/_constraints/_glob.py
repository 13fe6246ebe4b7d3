"""Path globs translated to RE2 (linear time; no fnmatch, whose ``*`` also crosses ``/``).

Syntax: ``*`` any run of characters within one segment, ``?`` one character within a segment,
``[abc]`` / ``[a-z]`` / ``[!abc]`` a character class (never matching ``/``), and ``**`` as a whole
segment: any number of segments, including none (``**/*.eml`` matches ``a.eml`` and ``x/y/a.eml``;
``a/**`` matches ``a`` itself and everything below it). ``*`` and ``?`` match a leading dot too (there are
no hidden files here: ``**`` walks into ``.ssh``, which is what ``deny_globs`` are for). Backslashes,
empty segments, ``.`` and ``..`` segments and ``**`` inside a segment are refused when the policy loads.

A glob starting with ``/`` is matched against the absolute path; any other glob against the path
relative to the root that contains it (the root itself is the empty string).
"""

from __future__ import annotations

import re

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


class Glob:
    """A compiled glob: full-matches an absolute path or a root-relative path."""

    __slots__ = ("absolute", "regex", "text")

    def __init__(self, text: str, regex: str, absolute: bool, *, ignore_case: bool) -> None:
        options = re2.Options()
        options.log_errors = False
        options.case_sensitive = not ignore_case
        options.dot_nl = True
        try:
            self.regex = re2.compile(regex, options)
        except re2.error as exc:
            raise ValueError(f"glob {text!r} could not be compiled") from exc
        self.text = text
        self.absolute = absolute

    def matches(self, absolute: str, relative: str) -> bool:
        return self.regex.fullmatch(absolute if self.absolute else relative) is not None


def _segment(seg: str, glob: str) -> str:
    out: list[str] = []
    i = 0
    n = len(seg)
    while i < n:
        ch = seg[i]
        if ch == "*":
            out.append("[^/]*")
            while i + 1 < n and seg[i + 1] == "*":  # '**' inside a segment was refused already
                i += 1
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = i + 1
            negate = j < n and seg[j] in "!^"
            if negate:
                j += 1
            start = j
            if j < n and seg[j] == "]":  # a leading ']' is literal
                j += 1
            while j < n and seg[j] != "]":
                j += 1
            if j >= n:
                raise ValueError(f"glob {glob!r}: unclosed '[' character class")
            body = seg[start:j]
            parts: list[str] = []
            for k, c in enumerate(body):
                if c == "-" and 0 < k < len(body) - 1:
                    parts.append("-")
                else:
                    parts.append(re.escape(c) if c not in "-" else r"\-")
            cls = "".join(parts)
            if not negate:
                try:
                    probe = re2.compile(f"[{cls}]", _OPTIONS)
                except re2.error as exc:
                    raise ValueError(f"glob {glob!r}: invalid character class [{body}]") from exc
                if probe.fullmatch("/") is not None:
                    raise ValueError(f"glob {glob!r}: character class [{body}] can match '/'")
            out.append(f"[^/{cls}]" if negate else f"[{cls}]")
            i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def compile_glob(glob: str, *, ignore_case: bool = False) -> Glob:
    """Translate ``glob`` to an RE2 full-match, or raise ``ValueError`` naming the problem."""
    if not glob:
        raise ValueError("empty glob")
    if "\\" in glob:
        raise ValueError(f"glob {glob!r}: backslashes are not supported")
    if "\x00" in glob:
        raise ValueError(f"glob {glob!r}: contains NUL")
    absolute = glob.startswith("/")
    body = glob[1:] if absolute else glob
    segments = body.split("/")
    regex = "/" if absolute else ""
    need_sep = False
    for index, seg in enumerate(segments):
        last = index == len(segments) - 1
        if seg in ("", ".", ".."):
            raise ValueError(f"glob {glob!r}: empty, '.' or '..' segment (paths are normalised before matching)")
        if seg == "**":
            if last:
                regex += "(?:/.*)?" if need_sep else ".*"
            else:
                regex += "/(?:[^/]+/)*" if need_sep else "(?:[^/]+/)*"
                need_sep = False
            continue
        if "**" in seg:
            raise ValueError(f"glob {glob!r}: '**' must be a whole path segment ('a/**/b')")
        regex += ("/" if need_sep else "") + _segment(seg, glob)
        need_sep = True
    return Glob(glob, regex, absolute, ignore_case=ignore_case)
