"""``decide_result()``: the verdict on content warded passes back to an agent, beside ``decide()``.

A tool's result (the gateway), a tool's definition (the MCP proxy) and the model's own text (the chat
proxy) are judged by this one rule. Pure: findings in, a :class:`ResultVerdict` out; no clock, no disk.

The rule, finding by finding (the most severe one decides):

* ``deny`` withholds the content;
* ``require_approval`` withholds it until a human approves;
* ``redact`` cuts the finding's span out and delivers the rest; a ``redact`` finding that cannot be located
  (no span, a mapping key, or a place that is not a text at all, such as where a bounded walk stopped)
  cannot be cut out, so it asks a human instead;
* ``label`` is only recorded.

Where nobody can be asked (``approvable=False``: model text mid-reply), what would need a human is cut out
when it can be located and withholds the content when it cannot: never delivered uncut.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from warded.core.types import Reason, Verdict
from warded.core.walk import Text
from warded.scan.pipeline import Applied
from warded.scan.types import SEVERITY, Finding, Response

__all__ = ["ResultVerdict", "decide_result"]

_VERDICT = {Response.DENY: Verdict.DENY, Response.REQUIRE_APPROVAL: Verdict.REQUIRE_APPROVAL}


@dataclass(frozen=True, slots=True)
class ResultVerdict:
    """What may become of the content, and why.

    ``verdict``: ALLOW delivers it (with ``redactions`` cut out); DENY and REQUIRE_APPROVAL withhold it.
    ``response``: the most severe response as carried out (a ``redact`` that cannot be located counts as
    ``require_approval``, or ``deny`` where nobody can be asked); ``None`` when nothing was found.
    ``reasons``: one per finding, named by its rule id, its message prefixed with where it was found.
    ``redactions``: on ALLOW, the findings whose spans to cut, by the index of their text.
    ``deciding``: the findings that withhold the content (empty on ALLOW).
    ``unlocated``: the ``redact`` findings that could not be located, whatever the verdict.
    """

    verdict: Verdict
    response: Response | None = None
    reasons: tuple[Reason, ...] = ()
    redactions: Mapping[int, tuple[Finding, ...]] = field(default_factory=dict)
    deciding: tuple[Applied, ...] = ()
    unlocated: tuple[Applied, ...] = ()


def decide_result(findings: Iterable[tuple[Text, Applied]], *, approvable: bool = True) -> ResultVerdict:
    """Judge content from its findings: each the text it was found in and the response policy gives it.

    ``approvable`` says whether a human can be asked (a tool result: yes; model text mid-reply: no).
    """
    found = list(findings)
    if not found:
        return ResultVerdict(Verdict.ALLOW)
    reasons = tuple(Reason(a.finding.rule_id, f"{text.path}: {a.finding.message}") for text, a in found)
    unlocated = tuple(a for text, a in found if a.response is Response.REDACT and not _locatable(text, a))
    carried = [(text, a, _carried_out(text, a, approvable)) for text, a in found]
    worst = max((response for _, _, response in carried), key=SEVERITY.__getitem__)
    verdict = _VERDICT.get(worst, Verdict.ALLOW)
    if verdict is not Verdict.ALLOW:
        deciding = tuple(a for _, a, response in carried if response is worst)
        return ResultVerdict(verdict, worst, reasons, {}, deciding, unlocated)
    cut: dict[int, list[Finding]] = {}
    for text, a, response in carried:
        if response is Response.REDACT:
            cut.setdefault(text.index, []).append(a.finding)
    redactions = {index: tuple(spans) for index, spans in cut.items()}
    return ResultVerdict(verdict, worst, reasons, redactions, (), unlocated)


def _locatable(text: Text, applied: Applied) -> bool:
    """Can this finding be cut out of its text? Only a span inside a text that is a value, not a key."""
    return applied.finding.span is not None and not text.key and text.index >= 0


def _carried_out(text: Text, applied: Applied, approvable: bool) -> Response:
    """The response this one finding gets once located (or not): what the module docstring says."""
    response = applied.response
    if response is Response.REQUIRE_APPROVAL and not approvable:
        return Response.REDACT if _locatable(text, applied) else Response.DENY
    if response is Response.REDACT and not _locatable(text, applied):
        return Response.REQUIRE_APPROVAL if approvable else Response.DENY
    return response
