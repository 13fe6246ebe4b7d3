"""Positive provenance, copied text and proportionate quarantine: the checks beyond "seen only in untrusted data".

Value taint (``warded.flow.taint.trace``) catches a value an attacker wrote *as written*. It is blind to a
value that appears nowhere (an e-mail address the model reassembled from "name at domain dot com", a raised
rent amount), to an attacker's free text, and to anything from an output the content guard flagged. So, once
untrusted data has entered a session:

* **Positive provenance** (:func:`unjustified`): each value of an argument the policy names in
  ``flow.justify`` (and each number of a ``flow.justify_numbers`` tier) must be *justified*: found, after
  normalisation (``warded.flow.normalise``), in the user's request, in trusted data or in the policy's
  ``allow_values``. A text argument is justified when its canonical form is a run of whole words of a
  trusted text, or when it carries values and every one of them is justified. Anything else is
  ``flow.unjustified.<kind>`` — "appears in no trusted source" — whether or not it was seen elsewhere.
* **Copied text** (:func:`copied`): a free-text argument of a ``flow.free_text_tiers`` tool that repeats a
  run of ``flow.copied_words`` words of untrusted text (and not of trusted text) is ``flow.untrusted.text``.
* **Flagged sources** (:func:`flagged`): every value (of any kind, amounts and ids included) and every run of
  words that came from an output the content guard flagged, and from no trusted source, is
  ``flow.flagged.<kind>`` — the proportionate quarantine: what depends on the flagged output is held, the
  rest of the session goes on.

Every function here is pure: values in, findings out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import re2

from warded.flow.normalise import canonical_text
from warded.flow.taint import Evidence, Seen, TaintFinding, lost_reason, value_key
from warded.flow.values import Kind, Value, argument_read, argument_values, extract, key_for, leaves

UNJUSTIFIED = "unjustified: appears in no trusted source (not in the user's request, trusted data or the allow-list)"


_NUMERIC = re2.compile(r"\s*[+\-]?(?:[0-9][0-9,' _]*)?(?:\.[0-9]+)?(?:[eE][+\-]?[0-9]+)?\s*")


def _numeric(text: str) -> bool:
    """Whether a text is a number as a whole (``"1200"``, ``"1,200.50"``, ``"1e3"``): a tool reads it as one."""
    return any(ch.isdigit() for ch in text) and _NUMERIC.fullmatch(text) is not None


def _trusted(evidence: Evidence, value: Value, allowed: frozenset[str]) -> bool:
    key = value_key(value)
    if key in allowed:
        return True
    return any(s.trusted for s in evidence.table.get(key, ()))


def _in_trusted_text(evidence: Evidence, canon: str) -> bool:
    if not canon:
        return False
    needle = f" {canon} "
    return any(needle in f" {text} " for text in evidence.trusted_texts)


def _sources(evidence: Evidence, value: Value) -> tuple[Seen, ...]:
    return tuple(sorted(evidence.table.get(value_key(value), ()), key=lambda s: (s.label, s.where)))


def allowed_keys(values: list[str]) -> frozenset[str]:
    """The index keys of a policy's ``allow_values`` (each read as an argument would be)."""
    keys: set[str] = set()
    for raw in values:
        for value in argument_values(raw):
            keys.add(value_key(value))
        canon = canonical_text(raw)
        if canon:
            keys.add(f"text:{canon}")
    return frozenset(keys)


def unjustified(
    arguments: Mapping[str, object],
    evidence: Evidence,
    *,
    names: frozenset[str],
    numbers: bool,
    allowed: frozenset[str] = frozenset(),
) -> list[TaintFinding]:
    """Pure: the values of the named arguments (and, with ``numbers``, of every numeric argument) that are not
    justified by the user's request, trusted data or the allow-list."""
    findings: list[TaintFinding] = []
    for name, raw in arguments.items():
        for leaf in leaves(raw).items:  # a bound reached here is :func:`unreadable`'s finding
            if leaf.number:
                if name not in names and not numbers:
                    continue
                number = key_for(Kind.AMOUNT, leaf.text)
                value = Value(Kind.AMOUNT, number or leaf.text, number or leaf.text)  # NaN: justified by nothing
                if number is None or not _trusted(evidence, value, allowed):
                    findings.append(_finding(name, value, evidence))
                continue
            if numbers and name not in names and not leaf.key and _numeric(leaf.text):
                # "1200" is the number 1200 to the tool that reads it: justified as a number would be (or, an account
                # number written as digits, by its own values).
                number = key_for(Kind.AMOUNT, "".join(leaf.text.split()).replace("_", ""))
                value = Value(Kind.AMOUNT, number or leaf.text, number or _short(leaf.text))
                if number is not None and _trusted(evidence, value, allowed):
                    continue
                own = argument_values(leaf.text)
                if not own or not all(_trusted(evidence, v, allowed) for v in own):
                    findings.append(_finding(name, value, evidence))
                continue
            if name not in names:
                continue
            if leaf.key:
                # A key is the argument's structure ("street", "amount") unless it carries values: those must be
                # justified as any value of the argument.
                carried = sorted(
                    (v for v in extract(leaf.text, exhaustive=False) if v.kind is not Kind.AMOUNT),
                    key=lambda v: (v.kind.value, v.key),
                )
                findings.extend(_finding(name, v, evidence) for v in carried if not _trusted(evidence, v, allowed))
                continue
            canon = canonical_text(leaf.text)
            if not canon or f"text:{canon}" in allowed or _in_trusted_text(evidence, canon):
                continue
            values = sorted(
                (v for v in argument_values(leaf.text) if v.kind is not Kind.AMOUNT),
                key=lambda v: (v.kind.value, v.key),
            )
            missing = [v for v in values if not _trusted(evidence, v, allowed)]
            if values and not missing:
                continue  # every value it carries is justified (an address written another way)
            for value in missing or [Value(Kind.TEXT, canon, _short(leaf.text))]:
                findings.append(_finding(name, value, evidence))
    return findings


#: The kinds of value an outgoing free text must not carry unless they are justified: where it points to.
ADDRESS_KINDS = frozenset({Kind.URL, Kind.DOMAIN, Kind.EMAIL, Kind.IBAN})


def unjustified_addresses(
    arguments: Mapping[str, object],
    evidence: Evidence,
    *,
    ignore: frozenset[str] = frozenset(),
    allowed: frozenset[str] = frozenset(),
) -> list[TaintFinding]:
    """Pure: links, domains, e-mail addresses and accounts in any text argument (of an external or write tool)
    that no trusted source justifies: an address the agent writes into a message must come from somewhere
    the user vouches for, even when it appears nowhere else (the agent may never have been shown it)."""
    findings: list[TaintFinding] = []
    for name, raw in arguments.items():
        if name in ignore:
            continue
        for text in _texts(raw):
            for value in sorted(argument_values(text), key=lambda v: (v.kind.value, v.key)):
                if value.kind in ADDRESS_KINDS and not _trusted(evidence, value, allowed):
                    findings.append(_finding(name, value, evidence))
    return findings


def _finding(name: str, value: Value, evidence: Evidence) -> TaintFinding:
    return TaintFinding(f"flow.unjustified.{value.kind.value}", name, value, _sources(evidence, value), UNJUSTIFIED)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _texts(value: object) -> Iterator[str]:
    """Every text of an argument, mapping keys too (a bound reached is :func:`unreadable`'s finding)."""
    for leaf in leaves(value).items:
        if not leaf.number:
            yield leaf.text


def copied(
    arguments: Mapping[str, object], evidence: Evidence, *, ignore: frozenset[str] = frozenset()
) -> list[TaintFinding]:
    """Pure: the free-text arguments that repeat a run of words of untrusted text found in no trusted text."""
    findings: list[TaintFinding] = []
    if not evidence.grams:
        return findings
    for name, raw in arguments.items():
        if name in ignore:
            continue
        for text in _texts(raw):
            tokens = canonical_text(text).split()
            words = evidence.words
            hit: tuple[str, set[str]] | None = None
            for i in range(len(tokens) - words + 1):
                run = " ".join(tokens[i : i + words])
                gram = hash(run)
                labels = evidence.grams.get(gram)
                if labels and gram not in evidence.trusted_grams:
                    hit = (run, labels)
                    break
            if hit is None:
                continue
            run, labels = hit
            flagged = hash(run) in evidence.flagged_grams
            rule = "flow.flagged.text" if flagged else "flow.untrusted.text"
            reason = (
                "copies text from an output the content guard flagged"
                if flagged
                else f"copies a run of {words} or more words from untrusted data, found in no trusted source"
            )
            sources = tuple(Seen(label, False, "", label in evidence.flagged) for label in sorted(labels))
            findings.append(TaintFinding(rule, name, Value(Kind.TEXT, run, _short(run)), sources, reason))
    return findings


def flagged(
    arguments: Mapping[str, object], evidence: Evidence, *, ignore: frozenset[str] = frozenset()
) -> list[TaintFinding]:
    """Pure: argument values of any kind that came from a flagged output and from no trusted source."""
    findings: list[TaintFinding] = []
    if not evidence.flagged:
        return findings
    for name, raw in arguments.items():
        if name in ignore:
            continue
        for value in sorted(argument_values(raw), key=lambda v: (v.kind.value, v.key)):
            sources = evidence.table.get(value_key(value), set())
            if any(s.flagged for s in sources) and not any(s.trusted for s in sources):
                ordered = tuple(sorted(sources, key=lambda s: (s.label, s.where)))
                reason = "came from a tool output the content guard flagged, and from no trusted source"
                findings.append(TaintFinding(f"flow.flagged.{value.kind.value}", name, value, ordered, reason))
    return findings


def overflowed(evidence: Evidence) -> TaintFinding | None:
    """Pure: a finding when the session's index reached a bound (what was not kept can neither justify nor
    taint, so the decision must not read its silence as clean). The reason names the bounds reached."""
    if not evidence.overflow:
        return None
    reason = (
        f"the session's flow index is not complete ({'; '.join(evidence.overflow)}): what entered past its "
        "bounds was not indexed, so it can neither justify nor taint"
    )
    return TaintFinding("flow.index_full", "", Value(Kind.TEXT, "index", "index"), (), reason)


def unreadable(arguments: Mapping[str, object], *, ignore: frozenset[str] = frozenset()) -> list[TaintFinding]:
    """Pure: the arguments that could not be read whole (nested past the walker's bounds, a value it cannot read,
    a text longer than ``MAX_TEXT`` or with more than ``MAX_VALUES`` values): what lies past the bound was not
    checked, so the call is held rather than read as clean."""
    findings: list[TaintFinding] = []
    for name, raw in arguments.items():
        if name in ignore:
            continue
        _, bound = argument_read(raw)
        if bound:
            reason = f"could not be read whole ({bound}): what lies past the bound was not checked"
            findings.append(TaintFinding("flow.unreadable", name, Value(Kind.TEXT, name, "the argument"), (), reason))
    return findings


def forgotten(evidence: Evidence) -> TaintFinding | None:
    """Pure: a finding when the session's history is not in the index (evicted, or never taken because the index
    was full): its calls must not be judged as those of a fresh, clean session."""
    if not evidence.lost:
        return None
    rule = "flow.session_evicted" if evidence.lost == "evicted" else "flow.sessions_full"
    return TaintFinding(rule, "", Value(Kind.TEXT, "session", "session"), (), lost_reason(evidence.lost))
