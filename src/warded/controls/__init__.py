"""Incident controls: indicators imported from signed incident feeds that the gateway enforces.

``warded incident import`` (``warded.incident``) verifies a feed and writes the controls file next to the
policy (``warded-controls.json``; deploy it with the policy, as code). The gateway loads it completely at
start-up or refuses to start (a file it cannot read is never an empty set), records its digest, and:

* refuses a tool call whose arguments (keys and values, every text) carry a denied domain, match a content
  rule (an injection signature, RE2, case-insensitive), or whose labels name a denied model artefact hash
  (``model_sha256:<hex>``): rule ``incident.<incident id>.<kind>``;
* withholds a tool result that matches a content rule;
* lets the MCP proxy refuse a tool definition whose digest is denied (:meth:`ControlSet.denied_digest`).

Matching is pure and linear-time (RE2, substring search) over every reading a consumer may make of a text
(:func:`mentions_host`: the content guard's normalised and decoded views, percent- and HTML-decoding, IDNA
full stops, defanged dots); what cannot be read in full is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import re2

from warded.core.types import Action, Reason
from warded.core.walk import Limits, walk
from warded.errors import WardedError
from warded.jsonio import loads
from warded.scan.normalise import normalise

__all__ = [
    "CONTROLS_FILE",
    "KINDS",
    "Control",
    "ControlSet",
    "ControlsError",
    "controls_path",
    "load_controls",
    "parse_controls",
    "write_controls",
]

#: The controls file's name, next to the policy file.
CONTROLS_FILE = "warded-controls.json"
Kind = Literal["tool_digest", "content", "domain", "model_sha256"]
KINDS: tuple[str, ...] = ("tool_digest", "content", "domain", "model_sha256")
#: How much of a value the controls read; past it the call is refused (never waved through unread).
LIMITS = Limits(max_depth=64, max_items=100_000, max_chars=8 << 20)
_HEX64 = frozenset("0123456789abcdef")


class ControlsError(WardedError):
    """The controls file cannot be read or holds something unusable: the gateway does not start."""


@dataclass(frozen=True, slots=True)
class Control:
    """One enforced indicator: what kind, the value, and where it came from (incident, signer key)."""

    kind: Kind
    value: str
    incident: str
    signer: str
    imported: float = 0.0

    @property
    def rule_id(self) -> str:
        return f"incident.{self.incident}.{self.kind}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "incident": self.incident,
            "signer": self.signer,
            "imported": self.imported,
        }


def _check(control: Control) -> Control:
    if control.kind not in KINDS:
        raise ControlsError(f"unknown control kind {control.kind!r}")
    if not control.value or not control.value.isprintable():
        raise ControlsError(f"control of incident {control.incident!r}: empty or unprintable value")
    if control.kind in ("tool_digest", "model_sha256"):
        value = control.value.removeprefix("sha256:")
        if len(value) != 64 or not set(value) <= _HEX64:
            raise ControlsError(f"{control.kind} {control.value!r} is not a sha256 hex digest")
    if control.kind == "domain" and ("/" in control.value or "@" in control.value or "." not in control.value):
        raise ControlsError(f"domain {control.value!r} is not a host name")
    return control


@dataclass(frozen=True, slots=True)
class ControlSet:
    """The controls in force. Empty when no feed was imported."""

    controls: tuple[Control, ...] = ()
    digest: str = ""
    _patterns: tuple[tuple[Any, Control], ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def build(cls, controls: Iterable[Control]) -> ControlSet:
        checked = tuple(_check(c) for c in controls)
        patterns = []
        options = re2.Options()
        options.case_sensitive = False
        options.max_mem = 8 << 20
        for c in checked:
            if c.kind == "content":
                try:
                    patterns.append((re2.compile(c.value, options), c))
                except re2.error as exc:
                    raise ControlsError(f"content rule of incident {c.incident!r} is not valid RE2: {exc}") from None
        body = json.dumps([c.to_json() for c in checked], sort_keys=True).encode()
        return cls(checked, hashlib.sha256(body).hexdigest() if checked else "", tuple(patterns))

    def __bool__(self) -> bool:
        return bool(self.controls)

    def _of(self, kind: str) -> list[Control]:
        return [c for c in self.controls if c.kind == kind]

    def _texts(self, value: object) -> tuple[list[str], Reason | None]:
        walked = walk(value, LIMITS)
        texts = [t.text for t in walked.texts]
        if walked.overflow is not None:
            return texts, Reason("incident.unreadable", f"too large to check against incident controls: "
                                 f"{walked.overflow.message}")  # fmt: skip
        return texts, None

    def _readings(self, texts: list[str]) -> tuple[list[str], Reason | None]:
        """Every reading of every text (:func:`host_readings`); a text normalisation could not read in
        full is refused, never matched in part."""
        out: list[str] = []
        for text in texts:
            readings, bound = _host_readings(text)
            if bound is not None:
                return out, Reason("incident.unreadable", f"cannot check against incident controls: {bound}")
            out.extend(readings)
        return out, None

    def _content(self, texts: list[str]) -> Reason | None:
        for pattern, control in self._patterns:
            for text in texts:
                if pattern.search(text):
                    return Reason(control.rule_id, f"matches the injection signature of incident {control.incident}")
        return None

    def match_action(self, action: Action) -> Reason | None:
        """Why ``action`` is refused by an imported control, or None. Pure."""
        if not self.controls:
            return None
        for label in action.labels:
            if label.startswith("model_sha256:"):
                digest = label.split(":", 1)[1].lower()
                for c in self._of("model_sha256"):
                    if c.value.removeprefix("sha256:").lower() == digest:
                        return Reason(c.rule_id, f"model artefact {digest[:12]}… is denied by incident {c.incident}")
        domains = self._of("domain")
        if not domains and not self._patterns:
            return None
        texts, unreadable = self._texts(action.arguments)
        if unreadable is not None:
            return unreadable
        readings, unreadable = self._readings(texts)
        if unreadable is not None:
            return unreadable
        for reading in readings:
            for c in domains:
                if any(_names(reading, s) for s in _spellings(c.value)):
                    return Reason(c.rule_id, f"names {c.value}, a domain denied by incident {c.incident}")
        return self._content(texts + readings)

    def match_result(self, value: object) -> Reason | None:
        """Why a tool result is withheld by an imported content rule, or None. Pure."""
        if not self._patterns:
            return None
        texts, unreadable = self._texts(value)
        if unreadable is not None:
            return unreadable
        readings, unreadable = self._readings(texts)
        return unreadable or self._content(texts + readings)

    def denied_digest(self, digest: str) -> Reason | None:
        """Why an MCP tool definition with this digest is refused, or None."""
        value = digest.removeprefix("sha256:").lower()
        for c in self._of("tool_digest"):
            if c.value.removeprefix("sha256:").lower() == value:
                return Reason(
                    c.rule_id, f"this tool definition (digest {value[:12]}…) is denied by incident {c.incident}"
                )
        return None


_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
#: Label separators a resolver reads as a full stop (IDNA / UTS 46 maps these to ".").
_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
#: A dot written so a model puts it back: "[.]", "(.)", "{dot}", "[dot]".
_DEFANGED_DOT = re2.compile(r"(?i)\s*[\[\(\{<]\s*(?:\.|dot)\s*[\]\)\}>]\s*")
_PERCENT = re2.compile(r"%[0-9A-Fa-f]{2}")
#: Percent-decoding is repeated (a consumer may decode twice: "%252e") at most this many times.
_MAX_DECODES = 4


def mentions_host(text: str, domain: str) -> bool:
    """Does ``text`` name ``domain`` or a subdomain of it as a whole host (``x.evil.test``, ``a@evil.test``,
    ``https://evil.test/``), however a consumer reads it? Case, Unicode look-alikes and invisible
    characters, percent-encoding (``evil%2etest``, repeated), HTML references and other encoded runs, IDNA
    full stops (U+3002, U+FF0E, U+FF61), defanged dots (``evil[.]test``) and the punycode or Unicode
    spelling of the domain all count. A text too large to read in full counts as naming it (fail closed)."""
    readings, bound = _host_readings(text)
    if bound is not None:
        return True
    spellings = _spellings(domain)
    return any(_names(reading, s) for reading in readings for s in spellings)


def _host_readings(text: str) -> tuple[list[str], str | None]:
    """Every reading of ``text`` in which host names are compared: each view of the scanner's
    normalisation (raw, folded, decoded runs), percent- and HTML-decoded to a fixed point, with IDNA full stops and
    defanged dots made plain dots, lower-cased; and what bound stopped the normalisation, if one did."""
    normalised = normalise(text, max_chars=LIMITS.max_chars)
    for finding in normalised.findings:
        if finding.rule_id.endswith("_limit"):
            return [], finding.message
    out: list[str] = []
    for view in normalised.views:
        reading = view.text
        for _ in range(_MAX_DECODES):
            if _PERCENT.search(reading) is None and "&" not in reading:
                break
            reading = html.unescape(urllib.parse.unquote(reading, errors="replace"))
        out.append(_DEFANGED_DOT.sub(".", reading.translate(_FULL_STOPS)).lower())
    return list(dict.fromkeys(out)), None


def _names(lowered: str, spelling: str) -> bool:
    start = 0
    while True:
        i = lowered.find(spelling, start)
        if i < 0:
            return False
        before = lowered[i - 1] if i > 0 else " "
        j = i + len(spelling)
        after = lowered[j] if j < len(lowered) else " "
        # "evil.test.com" names test.com's host "evil", not evil.test: a dot followed by a label continues it.
        continues = after == "." and j + 1 < len(lowered) and lowered[j + 1] in _HOST_CHARS
        if before not in _HOST_CHARS and after not in _HOST_CHARS and not continues:
            return True
        start = i + 1


def _spellings(domain: str) -> list[str]:
    d = domain.translate(_FULL_STOPS).lower().rstrip(".")
    out = [d]
    with contextlib.suppress(UnicodeError):
        out.append(d.encode("idna").decode("ascii"))
    with contextlib.suppress(UnicodeError):
        out.append(d.encode("ascii").decode("idna").lower())
    return list(dict.fromkeys(s for s in out if s))


def controls_path(policy_dir: str) -> str:
    return os.path.join(policy_dir, CONTROLS_FILE)


def parse_controls(data: object) -> ControlSet:
    if not isinstance(data, Mapping) or not isinstance(data.get("controls"), list):
        raise ControlsError('the controls file must be an object with a "controls" list')
    out = []
    for item in data["controls"]:
        if not isinstance(item, Mapping):
            raise ControlsError("every control must be an object")
        try:
            out.append(
                Control(
                    kind=item["kind"],
                    value=str(item["value"]),
                    incident=str(item["incident"]),
                    signer=str(item["signer"]),
                    imported=float(item.get("imported", 0.0)),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ControlsError(f"malformed control: {exc}") from None
    return ControlSet.build(out)


def load_controls(policy_dir: str) -> ControlSet:
    """The controls file next to the policy; empty when there is none; ``ControlsError`` when unreadable."""
    path = controls_path(policy_dir)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return ControlSet()
    except OSError as exc:
        raise ControlsError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_controls(loads(raw))
    except ValueError as exc:
        raise ControlsError(f"{path}: {exc}") from None


def write_controls(policy_dir: str, controls: Iterable[Control]) -> ControlSet:
    """Replace the controls file atomically (write, fsync, rename); returns the set now in force."""
    built = ControlSet.build(controls)
    path = controls_path(policy_dir)
    tmp = f"{path}.tmp{os.getpid()}"
    body = json.dumps({"version": 1, "controls": [c.to_json() for c in built.controls]}, indent=2)
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(body + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return built
