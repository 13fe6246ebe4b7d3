"""The MCP proxy: warded between an MCP client and an MCP server, on stdio or Streamable HTTP.

``warded mcp -- <server command>`` runs :func:`run_stdio_proxy`; ``warded mcp --upstream URL`` runs
:func:`run_http_proxy`. The agent's client sees one MCP server, ``warded``, whose tools are the upstream's
that survive vetting:

* ``tools/list``: each whole definition (description, schemas, ``annotations``, ``_meta``, icons, extra
  fields: all the client is shown) is pinned (``_mcp_pins``); a changed one (rug pull) is hidden and an
  alert recorded; every text in it, keys included, is scanned by the content guard plus the tool-metadata
  rules (``tool_metadata`` scanner: credential paths, secrecy, cross-tool orders, exfiltration addresses,
  fake authority), and poisoned tools are hidden; tools the agent's policy does not grant are hidden.
* ``tools/call``: the full decision (``Gateway.check``) comes first, and nothing is forwarded before it.
  On ALLOW the call goes upstream (with its single-use capability token in ``_meta``), and the result is
  scanned and labelled ``tool:<name>`` before the client sees it. REQUIRE_APPROVAL and DENY come back
  as tool errors (``isError: true``) naming the approval request or the reasons.

Anything that goes wrong (upstream down, hung, talking nonsense; a scanner failing) fails closed as a
tool error or a JSON-RPC error, and is recorded in the audit log. Run as a module for the same thing
from the CLI: ``warded mcp --policy warded.yaml --agent NAME [--mcp-config F] -- <server command>``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from mcp import types
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.session import ServerSession
from mcp.shared.exceptions import McpError

from warded import __version__
from warded.config.mcp import McpSpec
from warded.core.inputs import bad_text
from warded.core.types import Action, Decision, Reason, Verdict
from warded.core.walk import RESULT_DEPTH, Text, walk
from warded.decide.result import ResultVerdict, decide_result
from warded.errors import ApprovalRequired, InvalidArgument, ResultBlocked, StoreError, WardedError
from warded.flow.taint import PlanLocked
from warded.gateway._stores import open_pins
from warded.gateway.gateway import Gateway
from warded.proxy._pending import PendingApprovals
from warded.proxy.mcp._pins import PinCheck, PinRecord, PinStatus, PinStore, tool_definition, tool_digest
from warded.proxy.mcp._upstream import (
    Connector,
    Incoming,
    Upstream,
    UpstreamUnavailable,
    http_connector,
    stdio_connector,
)
from warded.proxy.mcp._wire import BadInput, GuardedHttpApp, stdio_transport
from warded.scan.pipeline import Applied, ScanPipeline
from warded.scan.scanners.hidden import HiddenTextScanner
from warded.scan.scanners.tool_metadata import ToolMetadataScanner
from warded.scan.types import Category, Source
from warded.store.pins import PinStore as PinStoreLike

__all__ = [
    "META_APPROVAL",
    "META_CAPABILITY",
    "McpProxy",
    "approve_tool",
    "list_tool_pins",
    "run_http_proxy",
    "run_stdio_proxy",
]

#: ``_meta`` key of a ``tools/call`` naming a signed approval request for exactly this call.
META_APPROVAL = "warded.dev/approval"
#: ``_meta`` key under which an allowed call carries its single-use capability token upstream.
META_CAPABILITY = "warded.dev/capability"
#: A client declares its session's plan (the tools it needs, plan-then-execute) in a call's ``_meta`` under this
#: key, on or before its first call; once untrusted data has entered the session the plan is locked.
META_PLAN = "warded.dev/plan"
#: With the plan, its argument sources (``{"tool.argument": ["source_tool", ...]}``, see ``warded.flow.plan``).
META_PLAN_SOURCES = "warded.dev/plan_sources"

# What makes a tool description poisoned: injected instructions, hidden text, a scanner that failed (fail
# closed), strong jailbreak matches, and what ``decide_result`` withholds outright (DENY) or cannot honour (a
# redaction without a span). Weak jailbreak rules are left out: tool descriptions legitimately say things
# like "overwrites files without warning".
_POISON = frozenset({Category.PROMPT_INJECTION, Category.HIDDEN_TEXT, Category.SCANNER_ERROR})
_JAILBREAK_MIN_SCORE = 0.8
_MAX_TOOLS = 2000
_MAX_PAGES = 50
_INLINE_SCAN_CHARS = 64 * 1024  # larger results are scanned on a worker thread, off the event loop
_SCAN_COST_CHARS = 256  # what one more distinct text weighs against _INLINE_SCAN_CHARS
_REFRESH_EVERY = 1.0  # at most one upstream re-listing per second for calls to unknown tools


@dataclass(frozen=True, slots=True)
class VettedTool:
    """One upstream tool after vetting. ``blocked`` says why it is hidden and its calls refused."""

    tool: types.Tool
    digest: str
    granted: bool  # the agent's policy lists it
    blocked: Reason | None = None

    @property
    def visible(self) -> bool:
        return self.granted and self.blocked is None


class McpProxy:
    """The guard between the client side and one upstream: vetting ``tools/list``, deciding ``tools/call``."""

    def __init__(
        self,
        gateway: Gateway,
        agent_id: str,
        spec: McpSpec,
        upstream: Upstream,
        *,
        server_key: str,
        pins: PinStoreLike,
        session_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not agent_id:
            raise WardedError("the MCP proxy needs an agent id")
        self.gw = gateway
        self.agent_id = agent_id
        self.spec = spec
        self.upstream = upstream
        self.server_key = server_key
        self.pins = pins
        self.session_id = session_id
        self._clock = clock
        self._tools: dict[str, VettedTool] = {}
        self._stale = True
        self._listed_at = 0.0
        self._alerted: set[tuple[str, str, str]] = set()
        self._pending = PendingApprovals()
        self._sessions: weakref.WeakSet[ServerSession] = weakref.WeakSet()
        self._refresh_lock = anyio.Lock()
        self._garbage_seen = 0
        self._garbage_logged = 0.0
        self._definitions = _definition_scanner(gateway.scanner)

    # -- audit ------------------------------------------------------------------------------------

    def audit(self, kind: str, body: Mapping[str, Any], action: Action | None = None) -> None:
        """Record an event (scrubbed of what the policy hides for ``action``, which an upstream may echo);
        a failing audit write is reported on stderr (the call still fails closed)."""
        try:
            self.gw.record_event(kind, {"agent_id": self.agent_id, "server": self.server_key, **body}, action)
        except WardedError as exc:
            print(f"warded mcp: could not record {kind}: {exc}", file=sys.stderr)

    def on_bad_input(self, bad: BadInput) -> None:
        self.audit("mcp_bad_input", {"session_id": self.session_id, **bad.to_json()})

    async def on_upstream_message(self, message: Incoming) -> None:
        if isinstance(message, Exception):
            self._garbage_seen += 1
            now = self._clock()
            if now - self._garbage_logged >= 1.0:  # one record a second at most: no audit floods
                self._garbage_logged = now
                self.audit(
                    "mcp_upstream_error",
                    {"error": "upstream sent a message that is not JSON-RPC", "count": self._garbage_seen},
                )
                self._garbage_seen = 0
            return
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ToolListChangedNotification
        ):
            self._stale = True
            for session in list(self._sessions):
                with contextlib.suppress(Exception):
                    await session.send_tool_list_changed()

    def on_upstream_connect(self) -> None:
        self._stale = True
        self.audit("mcp_upstream_connected", {"connection": self.upstream.connections})

    # -- tools/list -------------------------------------------------------------------------------

    async def list_tools(self) -> list[types.Tool]:
        """The tools the agent may see: upstream's, vetted. Raises ``McpError`` if the upstream fails."""
        await self._refresh()
        return [v.tool for v in self._tools.values() if v.visible]

    async def _refresh(self) -> None:
        async with self._refresh_lock:
            session = await self._session()
            tools: list[types.Tool] = []
            cursor: str | None = None
            try:
                with anyio.fail_after(self.spec.list_timeout):
                    for _ in range(_MAX_PAGES):
                        page = await session.list_tools(cursor=cursor)
                        tools.extend(page.tools)
                        cursor = page.nextCursor
                        if not cursor or len(tools) >= _MAX_TOOLS:
                            break
            except Exception as exc:
                self._upstream_failed(session, exc, "tools/list")
                raise McpError(types.ErrorData(code=types.INTERNAL_ERROR, message=_upstream_message(exc))) from None
            self._tools = self._vet(tools[:_MAX_TOOLS])
            self._stale = False
            self._listed_at = self._clock()

    def _vet(self, tools: Sequence[types.Tool]) -> dict[str, VettedTool]:
        granted = self.gw.policy.agents.get(self.agent_id, frozenset())
        names = [t.name for t in tools]
        out: dict[str, VettedTool] = {}
        now = self._clock()
        for tool in tools:
            name = tool.name
            allowed = name in granted and name in self.gw.policy.tools
            try:
                definition = tool_definition(tool)
                digest = tool_digest(definition)
            except StoreError as exc:
                out[name] = VettedTool(tool, "", allowed, Reason("mcp.tool_unreadable", str(exc)))
                continue
            outside = self._out_of_manifest(name, digest)
            if outside is not None:  # the bound BOM does not list this definition: hidden, refused, alerted
                out[name] = VettedTool(tool, digest, allowed, outside)
                continue
            if names.count(name) > 1:
                out[name] = VettedTool(
                    tool, digest, allowed, Reason("mcp.tool_duplicate", f"tool {name!r} is listed twice")
                )
                continue
            poison = self._poisoned(name, definition) if self.spec.scan_descriptions else None
            try:
                pin = self.pins.observe(self.server_key, name, digest, definition, now, pin=self._pin_new(poison))
            except StoreError as exc:
                out[name] = VettedTool(tool, digest, allowed, Reason("mcp.pin_unavailable", str(exc)))
                continue
            blocked = self._pin_reason(name, pin)
            if poison is not None and not pin.operator_approved and pin.status is not PinStatus.CHANGED:
                blocked = poison  # a poisoned tool is never pinned on sight: say why it waits
            blocked = self.gw.controls.denied_digest(digest) or blocked  # denied by an incident feed: always
            if (
                blocked is not None
                and (name, digest, blocked.rule_id) not in self._alerted
                and (pin.alert or pin.new or poison)
            ):
                self._alerted.add((name, digest, blocked.rule_id))
                self.audit(
                    "alert",
                    {
                        "rule_id": blocked.rule_id,
                        "message": blocked.message,
                        "tool": name,
                        "digest": digest,
                        "pinned": pin.pinned,
                    },
                )
            elif pin.new:
                self.audit("mcp_tool_pinned", {"tool": name, "digest": digest, "by": pin.pinned_by})
            out[name] = VettedTool(tool, digest, allowed, blocked)
        return out

    def _out_of_manifest(self, name: str, digest: str) -> Reason | None:
        """The bound BOM's verdict on this tool definition (issue 12); one alert per definition."""
        bom = self.gw.bom
        reason = bom.check_mcp_tool(self.server_key, name, digest) if bom is not None else None
        if reason is not None and (name, digest, reason.rule_id) not in self._alerted:
            self._alerted.add((name, digest, reason.rule_id))
            body = {"rule_id": reason.rule_id, "agent_id": self.agent_id, "server": self.server_key, "tool": name}
            try:
                self.gw.alert({**body, "digest": digest, "message": f"agent {self.agent_id}: {reason.message}"})
            except WardedError as exc:
                print(f"warded mcp: could not record an alert: {exc}", file=sys.stderr)
        return reason

    def _pin_new(self, poison: Reason | None) -> bool:
        return poison is None and self.spec.pin.value == "first_sight"

    def _pin_reason(self, name: str, pin: PinCheck) -> Reason | None:
        if pin.status is PinStatus.CHANGED:
            return Reason(
                "mcp.tool_changed",
                f"the definition of tool {name!r} changed since it was pinned (digest {pin.pinned} -> {pin.digest}); "
                f"it stays blocked until an operator approves the new definition",
            )
        if pin.status is PinStatus.UNAPPROVED:
            return Reason("mcp.tool_unapproved", f"tool {name!r} has not been approved by an operator yet")
        return None

    def vet_definition(self, name: str, definition: dict[str, Any]) -> Reason | None:
        """Why ``tools/list`` would block this definition on its content (poisoned, or denied by an imported
        incident control), or None; pins aside. The red team's ``content`` family asks it."""
        denied = self.gw.controls.denied_digest(tool_digest(definition))
        if denied is not None:
            return denied
        return self._poisoned(name, definition) if self.spec.scan_descriptions else None

    def _poisoned(self, name: str, definition: Mapping[str, Any]) -> Reason | None:
        """Every text of the whole definition (the one pinned), keys included, through the content guard and
        the tool-metadata rules. Runs even with the content guard off: a definition is not a user's text."""
        walked = walk(definition, self.gw.result_limits())
        if walked.overflow is not None:  # what was not read cannot be vouched for
            message = f"the definition of tool {name!r} is too large to vet: {walked.overflow.message}"
            return Reason("mcp.tool_poisoned", message)
        text = "\n".join(t.text for t in walked.texts)
        result = self._definitions.scan(text, Source.TOOL_OUTPUT, tool=name)
        judged = decide_result((Text(text), a) for a in result.applied)
        hits = [a for a in result.applied if _poisons(a, judged)]
        if not hits:
            return None
        ids = ", ".join(sorted({a.finding.rule_id for a in hits}))
        return Reason("mcp.tool_poisoned", f"the definition of tool {name!r} was flagged by the content guard ({ids})")

    # -- tools/call -------------------------------------------------------------------------------

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any] | None, *, session_id: str, meta: Mapping[str, Any] | None = None
    ) -> types.CallToolResult:
        """Decide, forward on ALLOW, scan the result. Never raises: failures are tool errors, audited."""
        arguments = dict(arguments or {})
        problem = bad_text(name) or bad_text(session_id)  # a lone surrogate, a NUL: refused before anything
        if problem is not None:
            reason = Reason(problem, "the tool name or session id is not valid text")
            return self._refuse(_escaped(name), _escaped(session_id), reason)
        vetted = await self._vetted(name, session_id)
        if isinstance(vetted, types.CallToolResult):
            return vetted
        if vetted.blocked is not None:
            return self._refuse(name, session_id, vetted.blocked)
        action = Action(self.agent_id, session_id, name, arguments)
        refused = self._declare_plan(session_id, name, meta)
        if refused is not None:
            return refused
        approval = self._approval_for(action, meta)
        decision = self.gw.check(action, approval=approval, with_token=True)
        self._pending.settle(action, decision, approval)
        if decision.verdict is Verdict.REQUIRE_APPROVAL:
            return _approval_error(decision, decision.request_id)
        if decision.verdict is not Verdict.ALLOW:
            return _tool_error(f"warded denied this call (decision {decision.id}):\n{_reasons(decision)}")
        upstream_meta = {META_CAPABILITY: decision.capability} if self.spec.forward_capability else None
        try:
            session = await self._session()
        except McpError as exc:
            self.audit(
                "mcp_upstream_error", {"tool": name, "decision": decision.id, "error": exc.error.message}, action
            )
            return _tool_error(f"warded allowed this call, but {exc.error.message}")
        try:
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.id": decision.id,
                "gen_ai.agent.id": self.agent_id,
                "gen_ai.conversation.id": session_id,
                "server.address": self.server_key,
            }
            with (
                self.gw.telemetry.span(f"execute_tool {name}", attributes, client=True),
                anyio.fail_after(self.spec.call_timeout),
            ):
                result = await _forward_call(session, name, arguments, upstream_meta)
        except McpError as exc:
            if exc.error.code == types.CONNECTION_CLOSED:
                self.upstream.lost(session, exc.error.message)
            error = {"tool": name, "decision": decision.id, "error": exc.error.message[:500]}
            self.audit("mcp_upstream_error", error, action)
            text = f"upstream error {exc.error.code}: {exc.error.message}"
            result = types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=True)
        except anyio.get_cancelled_exc_class():
            self.audit("mcp_call_abandoned", {"tool": name, "decision": decision.id, "session_id": session_id})
            raise
        except Exception as exc:
            self._upstream_failed(session, exc, "tools/call", decision.id, name, action=action)
            return _tool_error(f"warded allowed this call, but {_upstream_message(exc)}; the result is withheld")
        return await self._guard(action, decision, result)

    async def _vetted(self, name: str, session_id: str) -> VettedTool | types.CallToolResult:
        known = self._tools.get(name)
        recent = self._clock() - self._listed_at < _REFRESH_EVERY
        if self._stale or (known is None and not recent):
            try:
                await self._refresh()
            except McpError as exc:
                reason = Reason("mcp.upstream_unavailable", f"cannot vet tool {name!r}: {exc.error.message}")
                return self._refuse(name, session_id, reason)
            known = self._tools.get(name)
        if known is None:
            return self._refuse(name, session_id, Reason("mcp.unknown_tool", f"the upstream lists no tool {name!r}"))
        return known

    def _refuse(self, name: str, session_id: str, reason: Reason) -> types.CallToolResult:
        self.audit(
            "mcp_call_refused",
            {"session_id": session_id, "tool": name, "rule_id": reason.rule_id, "message": reason.message},
        )
        return _tool_error(
            f"warded refused this call before it reached the server:\n  - [{reason.rule_id}] {reason.message}"
        )

    async def _guard(self, action: Action, decision: Decision, result: types.CallToolResult) -> types.CallToolResult:
        view, size, duplicates = _scan_view(result)
        try:
            if size > _INLINE_SCAN_CHARS:
                guarded = await anyio.to_thread.run_sync(self.gw.guard_result, action, view)
            else:
                guarded = self.gw.guard_result(action, view)
        except ApprovalRequired as exc:
            self._pending.remember(action, exc.request_id)
            return _approval_error(exc.decision, exc.request_id, result=True)
        except ResultBlocked as exc:
            return _tool_error(
                f"warded withheld the result of this call (decision {exc.decision.id}):\n{_reasons(exc.decision)}"
            )
        except Exception as exc:  # fail closed: an unscanned result never reaches the agent
            error = {"tool": action.tool, "decision": decision.id, "error": repr(exc)[:300]}
            self.audit("mcp_result_error", error, action)
            return _tool_error("warded could not check the result of this call; it is withheld")
        return _apply_view(result, guarded, duplicates) if guarded is not view else result

    def _declare_plan(self, session_id: str, name: str, meta: Mapping[str, Any] | None) -> types.CallToolResult | None:
        """Declare the plan a call's ``_meta`` carries (``META_PLAN``); a refusal if it cannot be declared."""
        if not meta or META_PLAN not in meta:
            return None
        tools = meta[META_PLAN]
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            return self._refuse(name, session_id, Reason("flow.bad_plan", f"{META_PLAN} must be a list of tool names"))
        sources = meta.get(META_PLAN_SOURCES)
        if sources is not None and not isinstance(sources, Mapping):
            reason = Reason("flow.bad_plan", f"{META_PLAN_SOURCES} must map 'tool.argument' to tool names")
            return self._refuse(name, session_id, reason)
        try:
            self.gw.plan(self.agent_id, session_id, tools, sources)
        except PlanLocked as exc:
            return self._refuse(name, session_id, Reason("flow.plan_locked", str(exc)[:300]))
        except InvalidArgument as exc:
            return self._refuse(name, session_id, Reason("flow.bad_plan", str(exc)[:300]))
        return None

    def _approval_for(self, action: Action, meta: Mapping[str, Any] | None) -> str | None:
        given = (meta or {}).get(META_APPROVAL)
        if isinstance(given, str) and given:
            return given
        return self._pending.approved(self.gw.approvals, action)

    # -- upstream ---------------------------------------------------------------------------------

    async def _session(self) -> Any:
        try:
            return await self.upstream.session()
        except UpstreamUnavailable as exc:
            self.audit("mcp_upstream_error", {"error": str(exc)})
            raise McpError(types.ErrorData(code=types.INTERNAL_ERROR, message=str(exc))) from None

    def _upstream_failed(
        self,
        session: Any,
        exc: BaseException,
        method: str,
        decision: str = "",
        tool: str = "",
        *,
        action: Action | None = None,
    ) -> None:
        message = _upstream_message(exc)
        if not isinstance(exc, TimeoutError):
            self.upstream.lost(session, message)
        error = {"method": method, "tool": tool, "decision": decision, "error": message}
        self.audit("mcp_upstream_error", error, action)

    # -- the MCP server side ----------------------------------------------------------------------

    def build_server(self, session_for: Callable[[Server[Any, Any]], str]) -> Server[Any, Any]:
        """A low-level SDK server answering ``tools/list`` and ``tools/call`` through this proxy."""
        server: Server[Any, Any] = Server("warded", version=__version__, instructions=self._instructions())

        async def on_list(_: types.ListToolsRequest) -> types.ServerResult:
            self._sessions.add(server.request_context.session)
            return types.ServerResult(types.ListToolsResult(tools=await self.list_tools()))

        async def on_call(req: types.CallToolRequest) -> types.ServerResult:
            self._sessions.add(server.request_context.session)
            meta = req.params.meta.model_dump(by_alias=True) if req.params.meta is not None else None
            result = await self.call_tool(
                req.params.name, req.params.arguments, session_id=session_for(server), meta=meta
            )
            return types.ServerResult(result)

        server.request_handlers[types.ListToolsRequest] = on_list
        server.request_handlers[types.CallToolRequest] = on_call
        return server

    def _instructions(self) -> str | None:
        """The upstream's instructions, passed on only if the content guard finds nothing in them."""
        init = self.upstream.initialize_result
        text = init.instructions if init is not None else None
        if not text or self.gw.scanner is None:
            return None
        if self._definitions.scan(text, Source.TOOL_OUTPUT).applied:
            self.audit("alert", {"rule_id": "mcp.instructions_flagged", "message": "upstream instructions withheld"})
            return None
        return text


# -- helpers -------------------------------------------------------------------------------------------


def _definition_scanner(general: ScanPipeline | None) -> ScanPipeline:
    """The chain tool definitions and server instructions go through: the policy's scanners plus the
    tool-metadata rules (added once, even if the policy names them too), or, with the content guard off,
    hidden-text detection and the tool-metadata rules alone."""
    if general is None:
        return ScanPipeline([HiddenTextScanner(), ToolMetadataScanner()]).warm_up()
    scanners = list(general.scanners)  # already warmed by the gateway
    if not any(s.id == ToolMetadataScanner.id for s in scanners):
        added = ToolMetadataScanner()
        added.warm_up()
        scanners.append(added)
    return ScanPipeline(scanners, responses=general.responses, max_chars=general.max_chars)


def _poisons(applied: Applied, judged: ResultVerdict) -> bool:
    """Does this finding poison the definition? Its category may (see ``_POISON``), and so does what the
    verdict on the definition's text withholds outright (DENY) or could not honour (a redaction it cannot
    locate would need a human; for a definition, that human is the operator who approves it)."""
    finding = applied.finding
    if finding.category in _POISON:
        return True
    if finding.category is Category.JAILBREAK and finding.score >= _JAILBREAK_MIN_SCORE:
        return True
    if judged.verdict is Verdict.DENY and any(applied is a for a in judged.deciding):
        return True
    return any(applied is a for a in judged.unlocated)


def _escaped(text: str) -> str:
    """``text`` with what UTF-8 cannot carry (lone surrogates) written as escapes, for the audit log."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _reasons(decision: Decision) -> str:
    return "\n".join(f"  - [{r.rule_id}] {r.message}" for r in decision.reasons) or "  - (no reason given)"


def _tool_error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=True)


def _approval_error(decision: Decision, request_id: str, *, result: bool = False) -> types.CallToolResult:
    what = "the result of this call needs" if result else "this call needs"
    return _tool_error(
        f"warded: {what} human approval (approval request {request_id}).\n"
        f"Ask an approver to approve request {request_id} (`warded approve {request_id}`), "
        f"then make exactly the same call again.\n{_reasons(decision)}"
    )


def _upstream_message(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the upstream MCP server did not answer in time"
    if isinstance(exc, McpError):
        return f"the upstream MCP server answered with error {exc.error.code}: {exc.error.message[:300]}"
    return f"the upstream MCP server failed ({type(exc).__name__})"


async def _forward_call(
    session: Any, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None
) -> types.CallToolResult:
    """``tools/call`` upstream. ``ClientSession.call_tool`` is not used: it validates structured output
    against the tool's schema on every call (the client behind warded does that itself) and raises a bare
    ``RuntimeError`` when it fails, which would read as a broken upstream."""
    params = types.CallToolRequestParams(
        name=name, arguments=arguments, _meta=types.RequestParams.Meta(**meta) if meta else None
    )
    request = types.ClientRequest(types.CallToolRequest(params=params))
    result: types.CallToolResult = await session.send_request(request, types.CallToolResult)
    return result


Path = tuple[str | int, ...]


def _scan_view(result: types.CallToolResult) -> tuple[dict[str, Any], int, list[tuple[Path, Path]]]:
    """The text a result carries, in a shape ``guard_result`` can scan and redact (binary data is not text).

    A string repeated in the result (FastMCP sends a tool's return value both as text and as structured
    content) is scanned once: later copies become ``None`` and are listed as ``(copy, original)`` paths.
    """
    blocks: list[dict[str, Any]] = []
    for block in result.content:
        item: dict[str, Any] = {}
        if isinstance(block, types.TextContent):
            item["text"] = block.text
        elif isinstance(block, types.EmbeddedResource) and isinstance(block.resource, types.TextResourceContents):
            item["resource"] = {"uri": str(block.resource.uri), "text": block.resource.text}
        elif isinstance(block, types.ResourceLink):
            item["link"] = {"uri": str(block.uri), "name": block.name, "description": block.description or ""}
        blocks.append(item)
    raw: dict[str, Any] = {"content": blocks}
    if result.structuredContent is not None:
        raw["structuredContent"] = result.structuredContent
    seen: dict[str, Path] = {}
    duplicates: list[tuple[Path, Path]] = []
    view = _dedupe(raw, (), seen, duplicates, 0)
    # Each distinct text is one scan: many short ones cost as much as one long one.
    return view, sum(len(s) + _SCAN_COST_CHARS for s in seen), duplicates


def _dedupe(value: Any, path: Path, seen: dict[str, Path], duplicates: list[tuple[Path, Path]], depth: int) -> Any:
    if isinstance(value, str):
        first = seen.get(value)
        if first is not None:
            duplicates.append((path, first))
            return None
        seen[value] = path
        return value
    if depth > RESULT_DEPTH:
        return value  # not deduplicated; the gateway's walk refuses what is deeper than it reads
    if isinstance(value, dict):
        return {k: _dedupe(v, (*path, k), seen, duplicates, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_dedupe(v, (*path, i), seen, duplicates, depth + 1) for i, v in enumerate(value)]
    return value


def _get(value: Any, path: Path) -> Any:
    for key in path:
        value = value[key]
    return value


def _apply_view(
    result: types.CallToolResult, view: Mapping[str, Any], duplicates: list[tuple[Path, Path]]
) -> types.CallToolResult:
    """``result`` with the (redacted) texts of ``view`` put back, repeated strings included."""
    for copy, original in duplicates:
        _get(view, copy[:-1])[copy[-1]] = _get(view, original)
    content: list[Any] = []
    for block, item in zip(result.content, view.get("content", []), strict=True):
        if isinstance(block, types.TextContent):
            content.append(block.model_copy(update={"text": item["text"]}))
        elif isinstance(block, types.EmbeddedResource) and isinstance(block.resource, types.TextResourceContents):
            resource = block.resource.model_copy(update={"text": item["resource"]["text"]})
            content.append(block.model_copy(update={"resource": resource}))
        elif isinstance(block, types.ResourceLink):
            content.append(block.model_copy(update={"description": item["link"]["description"] or None}))
        else:
            content.append(block)
    structured = view.get("structuredContent", result.structuredContent)
    return result.model_copy(update={"content": content, "structuredContent": structured})


# -- entry points ------------------------------------------------------------------------------------


def _spec_for(gw: Gateway, spec: McpSpec | None) -> McpSpec:
    if spec is not None:
        return spec
    configured = getattr(gw.policy.spec, "mcp", None)
    return configured if isinstance(configured, McpSpec) else McpSpec()


def _pin_store(gw: Gateway) -> PinStoreLike:
    """PostgreSQL with the policy's ``store.postgres`` (shared by every replica), else the SQLite audit file."""
    shared = open_pins(gw.policy)
    return shared if shared is not None else PinStore(gw.policy.audit_path(gw.policy.spec.audit.path))


@dataclass(frozen=True, slots=True)
class _Setup:
    gw: Gateway
    agent_id: str
    spec: McpSpec
    connect: Connector
    server_key: str


@contextlib.asynccontextmanager
async def _proxy(setup: _Setup, session_id: str | None) -> Any:
    gw, agent_id, spec = setup.gw, setup.agent_id, setup.spec
    if gw.bom is not None:  # a server the bound BOM does not list is refused at start-up
        outside = gw.bom.check_server(setup.server_key)
        if outside is not None:
            raise WardedError(f"{outside.message}; refusing to start")
    pins = _pin_store(gw)
    proxy: McpProxy | None = None

    async def on_message(message: Incoming) -> None:
        if proxy is not None:
            await proxy.on_upstream_message(message)

    def on_connect() -> None:
        if proxy is not None:
            proxy.on_upstream_connect()

    upstream = Upstream(
        setup.connect, connect_timeout=spec.connect_timeout, on_message=on_message, on_connect=on_connect
    )
    proxy = McpProxy(gw, agent_id, spec, upstream, server_key=setup.server_key, pins=pins, session_id=session_id)
    try:
        async with anyio.create_task_group() as tg:
            upstream.bind(tg)
            try:
                await upstream.session()  # connect now, so the upstream's instructions can be vetted
            except UpstreamUnavailable as exc:
                proxy.audit("mcp_upstream_error", {"error": str(exc)})
                print(f"warded mcp: {exc}; calls will fail until it can be reached", file=sys.stderr)
            try:
                yield proxy
            finally:
                await upstream.aclose()
    finally:
        pins.close()


def run_stdio_proxy(
    policy_path: str | os.PathLike[str],
    agent_id: str,
    upstream_command: list[str],
    *,
    session_id: str | None = None,
    env: Mapping[str, str] | None = None,
    spec: McpSpec | None = None,
) -> None:
    """Serve MCP on this process's stdin/stdout in front of the stdio server ``upstream_command``.

    ``env`` is warded's environment from which ``${NAME}`` references in the config are resolved
    (default: ``os.environ``); the upstream process gets only the safe minimum plus what the config names.
    """
    gw = Gateway.from_file(policy_path)
    try:
        mcp_spec = _spec_for(gw, spec)
        command = list(upstream_command) or list(mcp_spec.command)
        connect = stdio_connector(command, mcp_spec.upstream_env(env))
        sid = session_id or f"mcp-{secrets.token_hex(8)}"
        setup = _Setup(gw, agent_id, mcp_spec, connect, mcp_spec.server_key(command=command))
        anyio.run(_serve_stdio, setup, sid)
    finally:
        gw.close()


async def _serve_stdio(setup: _Setup, session_id: str) -> None:
    spec = setup.spec
    async with _proxy(setup, session_id) as proxy:
        proxy.audit("mcp_proxy_started", {"transport": "stdio", "session_id": session_id})
        server = proxy.build_server(lambda _: session_id)
        options = server.create_initialization_options(NotificationOptions(tools_changed=True))
        async with stdio_transport(spec.max_message_bytes, proxy.on_bad_input) as (read, write):
            await server.run(read, write, options)
        proxy.audit("mcp_proxy_stopped", {"transport": "stdio", "session_id": session_id})


def run_http_proxy(
    policy_path: str | os.PathLike[str],
    agent_id: str,
    upstream_url: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    env: Mapping[str, str] | None = None,
    spec: McpSpec | None = None,
) -> None:
    """Serve Streamable HTTP at ``http://host:port/mcp`` in front of the Streamable HTTP server ``upstream_url``.

    Each client's MCP session id becomes its warded session. Listens on loopback unless told otherwise.
    """
    gw = Gateway.from_file(policy_path)
    try:
        mcp_spec = _spec_for(gw, spec)
        url = upstream_url or mcp_spec.url
        if not url:
            raise WardedError("no upstream URL: pass one or set mcp.url in the policy")
        connect = http_connector(url, mcp_spec.upstream_headers(env), mcp_spec.call_timeout)
        setup = _Setup(gw, agent_id, mcp_spec, connect, mcp_spec.server_key(url=url))
        anyio.run(_serve_http, setup, host, port)
    finally:
        gw.close()


async def _serve_http(setup: _Setup, host: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415 - only the HTTP proxy needs the server stack
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager  # noqa: PLC0415
    from mcp.server.transport_security import TransportSecuritySettings  # noqa: PLC0415

    from warded.proxy._http_server import GuardedConfig  # noqa: PLC0415

    spec, server_key = setup.spec, setup.server_key
    async with _proxy(setup, None) as proxy:

        def session_for(server: Server[Any, Any]) -> str:
            request = server.request_context.request
            headers = getattr(request, "headers", None)
            sid = headers.get("mcp-session-id") if headers is not None else None
            return f"mcp-{sid}" if sid else f"mcp-{secrets.token_hex(8)}"

        server = proxy.build_server(session_for)
        hosts = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=hosts,
            allowed_origins=[f"http://{h}" for h in hosts],
        )
        manager = StreamableHTTPSessionManager(
            app=server, security_settings=security, max_request_body_size=spec.max_message_bytes
        )
        inner = GuardedHttpApp(manager.handle_request, spec.max_message_bytes, proxy.on_bad_input)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    event = await receive()
                    kind = "startup" if event["type"] == "lifespan.startup" else "shutdown"
                    await send({"type": f"lifespan.{kind}.complete"})
                    if kind == "shutdown":
                        return
            if scope["type"] == "http" and scope["path"].rstrip("/") == "/mcp":
                await inner(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})

        config = GuardedConfig(app, limits=spec.http_limits, host=host, port=port, log_level="warning", lifespan="on")
        proxy.audit("mcp_proxy_started", {"transport": "http", "listen": f"{host}:{port}"})
        print(f"warded mcp: serving http://{host}:{port}/mcp in front of {server_key}", file=sys.stderr)
        async with manager.run():
            await uvicorn.Server(config).serve()
        proxy.audit("mcp_proxy_stopped", {"transport": "http"})


# -- operator functions (the CLI calls these) ------------------------------------------------------


def list_tool_pins(gateway: Gateway, server: str | None = None) -> list[PinRecord]:
    """Every pinned (or waiting) tool definition, optionally of one upstream."""
    pins = _pin_store(gateway)
    try:
        return pins.records(server)
    finally:
        pins.close()


def approve_tool(gateway: Gateway, server: str, tool: str, *, digest: str | None = None, by: str = "operator") -> str:
    """Pin the waiting definition of ``tool`` (after a change, or under ``pin: approval``); audited.

    Returns the digest now pinned. Raises :class:`~warded.errors.StoreError` if nothing waits.
    """
    pins = _pin_store(gateway)
    try:
        pinned = pins.approve(server, tool, time.time(), digest=digest, by=by)
    finally:
        pins.close()
    gateway.audit.append("mcp_tool_approved", {"server": server, "tool": tool, "digest": pinned, "by": by})
    return pinned
