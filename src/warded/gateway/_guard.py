"""Reading a call's content: the argument and result scans, the taint trace, and what the audit must hide.

``Guard`` holds the policy, the content-guard pipeline and the flow index. It gathers, for one call, the
findings on its arguments (every text, keys too, within bounds), the arguments whose values were seen only
in untrusted data, and every plaintext of the call the audit log must not keep. What it finds while
scanning the arguments is remembered for the same call's result, so nothing is scanned twice.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from warded.audit.format import hide_spans
from warded.audit.redact import secret_texts
from warded.core.inputs import check_arguments
from warded.core.types import Action
from warded.core.walk import ARGUMENT_ITEMS, MAX_ITEMS, RESULT_DEPTH, Limits, Text, walk
from warded.decide.action import ArgumentFindings
from warded.flow.justify import (
    allowed_keys,
    copied,
    flagged,
    forgotten,
    overflowed,
    unjustified,
    unjustified_addresses,
    unreadable,
)
from warded.flow.plan import from_declared_sources, off_plan
from warded.flow.taint import FlowIndex, TaintFinding, trace
from warded.flow.values import Kind
from warded.policy.compile import CompiledPolicy
from warded.scan.pipeline import Applied, ScanPipeline
from warded.scan.types import Category, Finding, Response, Source

#: Calls whose hidden texts (see :meth:`Guard.hidden_for`) are remembered between ``check`` and
#: ``inspect_result``.
HIDDEN_CACHE = 64

Scanned = list[tuple[Text, Applied]]


class Guard:
    """The content guard and the taint trace, as one call's gathering needs them. Thread-safe."""

    def __init__(self, policy: CompiledPolicy, scanner: ScanPipeline | None, flow: FlowIndex | None) -> None:
        self.policy = policy
        self.scanner = scanner
        self.flow = flow
        self._flow_kinds = frozenset(Kind(k) for k in policy.spec.flow.kinds)
        self._allowed = allowed_keys(list(policy.spec.flow.allow_values))
        self._lock = threading.Lock()
        # Plaintext the policy says to hide, found while scanning a call's arguments: {id(action): (action,
        # {text: rule id})}. Kept so the result of the same call is audited without scanning them again.
        self._hidden_cache: dict[int, tuple[Action, dict[str, str]]] = {}

    # -- bounds --------------------------------------------------------------------------------

    def argument_limits(self) -> Limits:
        """See :meth:`warded.gateway.gateway.Gateway.argument_limits`."""
        spec = self.policy.spec
        scanned = self.scanner is not None and spec.scan.scan_arguments
        items = ARGUMENT_ITEMS if scanned else 2 * MAX_ITEMS  # nodes: every value and every key
        return Limits(spec.input.max_argument_depth, items, spec.input.max_argument_bytes)

    def result_limits(self) -> Limits:
        """See :meth:`warded.gateway.gateway.Gateway.result_limits`."""
        policy = self.policy.spec
        depth = max(RESULT_DEPTH, policy.input.max_argument_depth)
        return Limits(depth, MAX_ITEMS, 4 * max(policy.scan.max_chars, policy.input.max_argument_bytes))

    # -- scanning ------------------------------------------------------------------------------

    def scan_arguments(self, action: Action) -> ArgumentFindings:
        """Content-guard findings on every text in the arguments (named by their path)."""
        if self.scanner is None or not self.policy.spec.scan.scan_arguments:
            return ()
        if not isinstance(action, Action) or not isinstance(action.arguments, Mapping):
            return ()  # decide() refuses these on its own
        limits = self.policy.spec.input
        if check_arguments(action.arguments, limits.max_argument_bytes, limits.max_argument_depth) is not None:
            return ()  # malformed or oversized: decide() denies it without anyone reading it
        tool = action.tool if isinstance(action.tool, str) else None
        found = scan_value(self.scanner, action.arguments, Source.ARGUMENT, tool=tool, bounds=self.argument_limits())
        self._remember_hidden(action, found)
        return tuple((t.path, a) for t, a in found)

    def scan_result(self, action: Action, value: object) -> Scanned:
        """Content-guard findings on every text in a tool's result (none when results are not scanned)."""
        if self.scanner is None or not self.policy.spec.scan.scan_results:
            return []
        return scan_value(
            self.scanner, value, Source.TOOL_OUTPUT, tool=action.tool, bounds=self.result_limits(), root="result"
        )

    def trace(self, action: Action) -> tuple[TaintFinding, ...]:
        """Once untrusted data has entered the session, the flow findings on a call to a sensitive tool: values
        seen only in untrusted data, values from a flagged output, unjustified values, copied untrusted text,
        and a tool outside the session's plan (``warded.flow``)."""
        if self.flow is None or not isinstance(action, Action) or not isinstance(action.arguments, Mapping):
            return ()
        tool = self.policy.tools.get(action.tool) if isinstance(action.tool, str) else None
        if tool is None or tool.tier not in self.policy.spec.flow.sensitive_tiers:
            return ()
        if not isinstance(action.agent_id, str) or not isinstance(action.session_id, str):
            return ()
        evidence = self.flow.evidence(action.agent_id, action.session_id)
        lost = forgotten(evidence)  # evicted, or never tracked: not a fresh, clean session
        if not evidence.untrusted:
            # nothing untrusted has entered this session: nothing can be tainted, unjustified or off-plan
            return () if lost is None else (lost,)
        spec = self.policy.spec.flow
        ignore = frozenset(spec.ignore_arguments.get(tool.name, ()))
        names = frozenset(spec.justify.get(tool.name, ()))
        found = unreadable(action.arguments, ignore=ignore - names)  # a bound reached: not read, so not clean
        found.extend(trace(action.arguments, evidence.table, kinds=self._flow_kinds, ignore=ignore))
        found.extend(flagged(action.arguments, evidence, ignore=ignore))
        found.extend(
            unjustified(
                action.arguments,
                evidence,
                names=names,
                numbers=tool.tier in spec.justify_numbers,
                allowed=self._allowed,
            )
        )
        if tool.tier in spec.free_text_tiers:
            found.extend(copied(action.arguments, evidence, ignore=ignore))
            named = ignore | frozenset(spec.justify.get(tool.name, ()))  # those were judged whole above
            found.extend(unjustified_addresses(action.arguments, evidence, ignore=named, allowed=self._allowed))
        if evidence.sources:
            found, _ = from_declared_sources(found, tool.name, action.arguments, evidence)
        plan = evidence.plan
        if plan is None and action.agent_id in spec.plans:
            plan = frozenset(spec.plans[action.agent_id])
        lock = off_plan(tool.name, plan, evidence.untrusted)
        if lock is not None:
            found.append(lock)
        full = overflowed(evidence)
        if full is not None:
            found.append(full)
        if lost is not None:
            found.append(lost)
        return tuple(found)

    # -- what the policy says to hide ----------------------------------------------------------

    def secret_args(self, action: object) -> frozenset[str]:
        """The names of the arguments the policy marks ``secret`` for this call's tool."""
        if not isinstance(action, Action) or not isinstance(action.tool, str):
            return frozenset()
        tool = self.policy.tools.get(action.tool)
        return tool.secret_args if tool is not None else frozenset()

    def secret_texts(self, action: object) -> dict[str, str]:
        """The values of the arguments policy marks ``secret`` (each string in them), to hide everywhere."""
        hidden: dict[str, str] = {}
        if isinstance(action, Action) and isinstance(action.arguments, Mapping):
            for name in self.secret_args(action):
                if name in action.arguments:
                    secret_texts(action.arguments[name], f"arg.{action.tool}.{name}.secret", hidden)
        return hidden

    def hidden_for(self, action: object, taint: tuple[TaintFinding, ...] = ()) -> dict[str, str]:
        """Every plaintext of this call that must not be written: the spans of secret and PII findings and of
        findings the policy answers with ``redact`` (from the argument scan; scanned now if it has not been),
        the values of secret-marked arguments, and what taint explanations quote of them."""
        if not isinstance(action, Action):
            return {}
        with self._lock:
            cached = self._hidden_cache.get(id(action))
        if cached is None or cached[0] is not action:
            self.scan_arguments(action)  # remembers what it finds
            with self._lock:
                cached = self._hidden_cache.get(id(action))
        hidden = dict(cached[1]) if cached is not None and cached[0] is action else {}
        secrets_ = self.secret_args(action)
        hidden.update(self.secret_texts(action))
        for finding in taint:
            if finding.argument in secrets_:
                # The explanation quotes the value: hide the whole sentence, and the value where long enough.
                rule = f"arg.{action.tool}.{finding.argument}.secret"
                hidden.setdefault(finding.message, rule)
                secret_texts(finding.value.shown, rule, hidden)
        return hidden

    def _remember_hidden(self, action: Action, scanned: Scanned) -> None:
        hidden: dict[str, str] = {}
        hide_found(scanned, hidden)
        with self._lock:
            self._hidden_cache.pop(id(action), None)
            self._hidden_cache[id(action)] = (action, hidden)
            while len(self._hidden_cache) > HIDDEN_CACHE:
                del self._hidden_cache[next(iter(self._hidden_cache))]


def hide_found(scanned: Scanned, out: dict[str, str]) -> None:
    """Add to ``out`` the plaintext of every finding the audit must not keep: whatever the policy answers
    with ``redact``, and credentials (``secret`` findings) whatever the response, since a working key is
    never evidence worth keeping (the finding's fingerprint names it). A finding without a span hides its
    whole text."""
    hide_spans(
        (
            (item, applied.finding.span, applied.finding.rule_id)
            for item, applied in scanned
            if applied.response is Response.REDACT or applied.finding.category is Category.SECRET
        ),
        out,
    )


def scan_value(
    scanner: ScanPipeline, value: object, source: Source, *, tool: str | None, bounds: Limits, root: str = ""
) -> Scanned:
    """Scan every text in ``value`` (keys too; each distinct text once) within ``bounds``; past a bound,
    one more finding (``scan.too_deep``, ``scan.too_many_items``, ``scan.too_large``) that denies."""
    walked = walk(value, bounds, root)
    found: Scanned = []
    seen: dict[str, tuple[Applied, ...]] = {}
    for item in walked.texts:
        applied = seen.get(item.text)
        if applied is None:
            applied = seen[item.text] = scanner.scan(item.text, source, tool=tool).applied
        found.extend((item, a) for a in applied)
    if walked.overflow is not None:
        over = walked.overflow
        finding = Finding(
            f"scan.{over.bound.value}",
            Category.SCANNER_ERROR,
            1.0,
            f"the content guard stopped reading: {over.message}",
            suggested=Response.DENY,
        )
        where = Text("", index=-1, root=over.path)  # the place the walk stopped; not a text
        found.append((where, Applied(finding, scanner.respond(finding, source))))
    return found
