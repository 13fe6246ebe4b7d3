"""decide_result(): the one verdict on content passed back to an agent (pure, table driven)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from warded.core.types import Verdict
from warded.core.walk import Text
from warded.decide.result import ResultVerdict, decide_result
from warded.scan.pipeline import Applied
from warded.scan.types import Category, Finding, Response

R = Response


def _found(
    rule: str, response: Response, span: tuple[int, int] | None = (0, 4), *, index: int = 0, key: bool = False
) -> tuple[Text, Applied]:
    finding = Finding(rule, Category.PII, 0.9, f"found {rule}", span=span)
    return Text("text of the finding", index=index, key=key, root=f"result.t{index}"), Applied(finding, response)


LABEL = _found("pii.email", R.LABEL)
REDACT = _found("pii.card", R.REDACT, (5, 9))
REDACT_OTHER_TEXT = _found("pii.iban", R.REDACT, (1, 3), index=2)
REDACT_NO_SPAN = _found("pii.name", R.REDACT, None)
REDACT_IN_KEY = _found("pii.phone", R.REDACT, (0, 2), key=True)
REDACT_NOT_A_TEXT = _found("scan.too_deep", R.REDACT, None, index=-1)
APPROVAL = _found("injection.rule", R.REQUIRE_APPROVAL)
APPROVAL_NO_SPAN = _found("injection.model", R.REQUIRE_APPROVAL, None)
DENY = _found("secret.key", R.DENY)


@dataclass(frozen=True)
class Case:
    findings: list[tuple[Text, Applied]]
    verdict: Verdict
    response: Response | None
    deciding: list[tuple[Text, Applied]] = field(default_factory=list)
    redactions: dict[int, list[str]] = field(default_factory=dict)  # text index -> rule ids cut
    unlocated: list[tuple[Text, Applied]] = field(default_factory=list)


CASES = {
    "no-findings": Case([], Verdict.ALLOW, None),
    "label-only": Case([LABEL], Verdict.ALLOW, R.LABEL),
    "redact-with-spans": Case(
        [REDACT, LABEL, REDACT_OTHER_TEXT], Verdict.ALLOW, R.REDACT, redactions={0: ["pii.card"], 2: ["pii.iban"]}
    ),
    "redact-without-span-asks-a-human": Case(
        [REDACT, REDACT_NO_SPAN],
        Verdict.REQUIRE_APPROVAL,
        R.REQUIRE_APPROVAL,
        deciding=[REDACT_NO_SPAN],
        unlocated=[REDACT_NO_SPAN],
    ),
    "redact-in-a-key-asks-a-human": Case(
        [REDACT_IN_KEY], Verdict.REQUIRE_APPROVAL, R.REQUIRE_APPROVAL, [REDACT_IN_KEY], unlocated=[REDACT_IN_KEY]
    ),
    "redact-where-no-text-is-asks-a-human": Case(
        [REDACT_NOT_A_TEXT],
        Verdict.REQUIRE_APPROVAL,
        R.REQUIRE_APPROVAL,
        [REDACT_NOT_A_TEXT],
        unlocated=[REDACT_NOT_A_TEXT],
    ),
    "approval": Case([LABEL, APPROVAL], Verdict.REQUIRE_APPROVAL, R.REQUIRE_APPROVAL, [APPROVAL]),
    "deny": Case([DENY], Verdict.DENY, R.DENY, [DENY]),
    "mixed-deny-wins": Case(
        [LABEL, REDACT, APPROVAL, DENY, REDACT_NO_SPAN], Verdict.DENY, R.DENY, [DENY], unlocated=[REDACT_NO_SPAN]
    ),
    "mixed-approval-and-unlocated-redaction": Case(
        [REDACT_NO_SPAN, APPROVAL, REDACT],
        Verdict.REQUIRE_APPROVAL,
        R.REQUIRE_APPROVAL,
        [REDACT_NO_SPAN, APPROVAL],
        unlocated=[REDACT_NO_SPAN],
    ),
}

#: Where nobody can be asked (model text mid-reply): what needs a human is cut out, or withheld if it can't be.
UNAPPROVABLE = {
    "no-findings": Case([], Verdict.ALLOW, None),
    "label-only": Case([LABEL], Verdict.ALLOW, R.LABEL),
    "redact-with-spans": Case([REDACT], Verdict.ALLOW, R.REDACT, redactions={0: ["pii.card"]}),
    "approval-with-span-is-cut": Case(
        [APPROVAL, REDACT], Verdict.ALLOW, R.REDACT, redactions={0: ["injection.rule", "pii.card"]}
    ),
    "approval-without-span-denies": Case([APPROVAL_NO_SPAN, REDACT], Verdict.DENY, R.DENY, [APPROVAL_NO_SPAN]),
    "redact-without-span-denies": Case(
        [REDACT_NO_SPAN], Verdict.DENY, R.DENY, [REDACT_NO_SPAN], unlocated=[REDACT_NO_SPAN]
    ),
    "deny": Case([LABEL, DENY], Verdict.DENY, R.DENY, [DENY]),
}


def _check(case: Case, judged: ResultVerdict) -> None:
    assert judged.verdict is case.verdict
    assert judged.response is case.response
    assert [r.rule_id for r in judged.reasons] == [a.finding.rule_id for _, a in case.findings]
    assert judged.deciding == tuple(a for _, a in case.deciding)
    assert judged.unlocated == tuple(a for _, a in case.unlocated)
    assert {i: [f.rule_id for f in fs] for i, fs in judged.redactions.items()} == case.redactions


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decide_result(case: Case) -> None:
    _check(case, decide_result(case.findings))


@pytest.mark.parametrize("case", UNAPPROVABLE.values(), ids=UNAPPROVABLE.keys())
def test_decide_result_where_nobody_can_approve(case: Case) -> None:
    _check(case, decide_result(case.findings, approvable=False))


def test_reasons_name_the_place_and_the_rule() -> None:
    judged = decide_result([REDACT_OTHER_TEXT])
    assert [(r.rule_id, r.message) for r in judged.reasons] == [("pii.iban", "result.t2: found pii.iban")]


def test_withheld_content_is_never_cut() -> None:
    """Spans to cut are given only with ALLOW: withheld content is not delivered in any form."""
    for findings in ([REDACT, DENY], [REDACT, APPROVAL], [REDACT, REDACT_NO_SPAN]):
        assert decide_result(findings).redactions == {}
