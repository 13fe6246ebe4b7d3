"""Plan locking (plan-then-execute): once untrusted data has entered a session, a sensitive call to a tool
outside the session's plan needs a human.

An agent framework that plans from the user's request alone, before it reads any tool output, declares the
tools its plan needs (``Gateway.plan``, ``POST /v1/plan``, the MCP proxy's ``warded_plan`` tool). Injected
text read later cannot add a tool of another kind: the call is held as ``flow.plan``. A plan can be declared
only while the session has seen no untrusted data (later, it could have been written by the injection). A
session without a declared plan takes its agent's default from the policy (``flow.plans``); with neither,
no plan lock applies.

``off_plan`` is pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from warded.flow.taint import Seen, TaintFinding
from warded.flow.values import Kind, Value


def off_plan(tool: str, plan: frozenset[str] | None, untrusted: Iterable[str]) -> TaintFinding | None:
    """The plan-lock finding for a call to ``tool``, or ``None`` (no plan, in the plan, or nothing untrusted
    has entered the session)."""
    entered = sorted(set(untrusted))
    if plan is None or tool in plan or not entered:
        return None
    planned = ", ".join(sorted(plan)) or "no tools"
    reason = (
        f"outside the session's plan ({planned}) after untrusted data entered the session: "
        "plan lock (a tool the user's request did not call for)"
    )
    sources = tuple(Seen(label, False, "") for label in entered)
    return TaintFinding("flow.plan", "", Value(Kind.TOOL, tool, tool), sources, reason)
