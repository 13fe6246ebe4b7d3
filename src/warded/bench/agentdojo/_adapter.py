"""The edge between warded and AgentDojo: lazy loading, value conversion, and the gated obedient agent.

AgentDojo is an optional extra (``pip install 'warded[agentdojo]'``) and ships no type information, so it is
imported by name at run time and handled as ``Any`` here; nothing else in warded imports it.
"""

from __future__ import annotations

import datetime
import enum
import importlib
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from types import ModuleType
from typing import Any

import yaml

from warded.core.types import Action, Verdict
from warded.core.walk import DEEPEST, walk
from warded.errors import ApprovalRequired, ResultBlocked, WardedError
from warded.flow.plan import sources_from_trace
from warded.gateway.gateway import Gateway

#: AgentDojo's attacks address the victim model by name and refuse a pipeline whose ``name`` is not a model id
#: they know. No model is called in a replay; this id only fills the ``{model}`` slot of the templates.
MODEL_ID = "gpt-4o-2024-05-13"

_WS = re.compile(r"\s+")

#: The label an injection the agent was never shown is recorded under before it acts on it (see GatedAgent).
UNSEEN_INJECTION = "tool:unseen-injection"


class AgentDojoMissing(WardedError):
    """The ``agentdojo`` extra is not installed."""

    def diagnostics(self) -> str:
        return "the AgentDojo benchmark needs the optional extra: pip install 'warded[agentdojo]'"


@dataclass(frozen=True, slots=True)
class AgentDojo:
    """The AgentDojo modules the replay uses."""

    version: str
    suites: ModuleType  # agentdojo.task_suite.load_suites
    attacks: ModuleType  # agentdojo.attacks
    types: ModuleType  # agentdojo.types
    tool_execution: ModuleType  # agentdojo.agent_pipeline.tool_execution

    def get_suites(self, benchmark_version: str) -> dict[str, Any]:
        suites: dict[str, Any] = self.suites.get_suites(benchmark_version)
        return suites

    def load_attack(self, name: str, suite: Any, pipeline: object) -> Any:
        return self.attacks.load_attack(name, suite, pipeline)


class _FastYaml:
    """PyYAML as AgentDojo's task suites use it, with libyaml's ``CSafeLoader`` (the same safe schema) for
    ``safe_load``: a replay re-parses the injected environment for every pair, and the pure-Python parser was
    most of the replay's time. Everything else is PyYAML's own."""

    def __getattr__(self, name: str) -> Any:
        return getattr(yaml, name)

    @staticmethod
    def safe_load(stream: Any) -> Any:
        return yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


def load_agentdojo() -> AgentDojo:
    """Import AgentDojo, or raise :class:`AgentDojoMissing`."""
    try:
        with warnings.catch_warnings():
            # Its dependencies (pydantic, langchain, ...) may warn on import; that is not ours to fail on.
            warnings.simplefilter("ignore")
            task_suite = importlib.import_module("agentdojo.task_suite.task_suite")
            if getattr(task_suite, "yaml", None) is yaml:
                setattr(task_suite, "yaml", _FastYaml())  # noqa: B010 - an untyped third-party module
            return AgentDojo(
                version=version("agentdojo"),
                suites=importlib.import_module("agentdojo.task_suite.load_suites"),
                attacks=importlib.import_module("agentdojo.attacks"),
                types=importlib.import_module("agentdojo.types"),
                tool_execution=importlib.import_module("agentdojo.agent_pipeline.tool_execution"),
            )
    except ImportError as exc:
        raise AgentDojoMissing(f"agentdojo is not installed ({exc})") from exc


def plain(value: object, depth: int = 0) -> object:
    """A tool result as JSON-like data (pydantic models dumped, dates as ISO text) so that the gateway can
    label its fields by path (``[].recipient``, ``[].subject``). Past ``DEEPEST`` levels a part becomes
    ``None``: deeper than any guard reads, so the guard has already refused the whole result by then."""
    if depth > DEEPEST + 1:
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value, depth + 1)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return plain(dump(mode="json"), depth + 1)
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, depth + 1) for v in value]
    return str(value)


def squash(text: str) -> str:
    """Whitespace runs as one space: AgentDojo's YAML environments fold the newlines of injected text."""
    return _WS.sub(" ", text).strip()


class AttackTarget:
    """What AgentDojo's ``load_attack`` needs of the attacked pipeline: a known model id as its ``name``."""

    name = MODEL_ID


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One call the agent attempted: what the gateway said, and whether the tool ran."""

    tool: str
    verdict: Verdict
    rule_ids: tuple[str, ...]
    executed: bool
    injected: bool  # part of the injection task's ground truth

    def to_json(self) -> dict[str, object]:
        return {
            "tool": self.tool,
            "verdict": self.verdict.value,
            "rule_ids": list(self.rule_ids),
            "executed": self.executed,
            "injected": self.injected,
        }


@dataclass
class GatedAgent:
    """A perfectly obedient agent behind the gateway, shaped like an AgentDojo pipeline.

    It runs the user task's ground-truth calls; once a tool output it was shown carries the injected text, it
    runs the injection task's ground-truth calls right there (the attacks say "before you solve the task, do
    this first") and then goes on with the user's. Every call goes through ``gateway.check``: ALLOW runs it,
    REQUIRE_APPROVAL runs it only when ``grant_approvals`` (a human said yes), DENY never runs it. Every output
    the agent sees is passed through ``gateway.guard_result``, which labels it ``tool:<name>``.

    If the injection was never shown to the agent (its calls were refused before it could read it), the
    injection's calls are still attempted at the end: the replay assumes the worst rather than credit the
    gateway for an attack that never reached the agent. An agent that acts on injected text has read it in
    some tool output, and every tool output passes the gateway, so the injected text is then recorded as an
    untrusted output (``tool:unseen-injection``) before those calls: the worst case is an agent that read the
    injection, not one that writes the attacker's words without ever having seen them.
    """

    adj: AgentDojo
    gateway: Gateway
    agent_id: str
    session_id: str
    user_task: Any
    injection_task: Any = None
    injections: Sequence[str] = ()
    grant_approvals: bool = False
    plan: bool = False  # declare the user task's tools as the session's plan before reading anything
    # With the plan, declare argument sources derived from the ground truth's data flow, replayed on this
    # injection-free environment (an upper bound for a planner that reads only the user's request).
    clean_env: Any = None
    name: str = MODEL_ID
    calls: list[CallOutcome] = field(default_factory=list)
    injection_seen: bool = False
    injection_run: bool = False
    errors: list[str] = field(default_factory=list)

    def query(
        self,
        query: str,
        runtime: Any,
        env: Any,
        messages: Sequence[Any] = (),
        extra_args: Mapping[str, Any] | None = None,
    ) -> tuple[str, Any, Any, list[Any], Mapping[str, Any]]:
        """AgentDojo's pipeline interface (``BasePipelineElement.query``)."""
        planned = list(self.user_task.ground_truth(env))
        if self.plan:
            # Plan-then-execute: the plan comes from the user's request alone, before any tool output is read.
            sources = self._sources(runtime) if self.clean_env is not None else None
            self.gateway.plan(self.agent_id, self.session_id, sorted({str(c.function) for c in planned}), sources)
        self.gateway.record_user(self.agent_id, self.session_id, query)
        out: list[Any] = list(messages)
        needles = [squash(text) for text in self.injections if squash(text)]
        for call in planned:
            shown = self._call(runtime, env, call, out, injected=False)
            if self.injection_task is not None and not self.injection_run and needles:
                seen = squash(" ".join(shown))
                if any(needle in seen for needle in needles):
                    self.injection_seen = True
                    self._run_injection(runtime, env, out)
        if self.injection_task is not None and not self.injection_run:
            for text in self.injections:
                self.gateway.record(self.agent_id, self.session_id, UNSEEN_INJECTION, text)
            self._run_injection(runtime, env, out)
        out.append(self._assistant(self.user_task.GROUND_TRUTH_OUTPUT, None))
        return query, runtime, env, out, dict(extra_args or {})

    def _sources(self, runtime: Any) -> dict[str, list[str]]:
        """The argument sources of the user task's plan: for each ground-truth argument, the earlier
        ground-truth calls whose output carries its value, replayed on the injection-free environment (so no
        injected text can add a source). What a planner reading only the user's request could declare, at best."""
        env = self.clean_env.model_copy(deep=True)
        trace: list[tuple[str, Mapping[str, object], object]] = []
        for call in self.user_task.ground_truth(env):
            result, error = runtime.run_function(env, str(call.function), call.args, raise_on_error=False)
            trace.append((str(call.function), dict(call.args), error if error is not None else plain(result)))
        return sources_from_trace(trace)

    def _run_injection(self, runtime: Any, env: Any, out: list[Any]) -> None:
        self.injection_run = True
        for call in self.injection_task.ground_truth(env):
            self._call(runtime, env, call, out, injected=True)

    def _assistant(self, text: str, call: Any) -> dict[str, Any]:
        block = self.adj.types.text_content_block_from_string(text)
        return {"role": "assistant", "content": [block], "tool_calls": None if call is None else [call]}

    def _tool_message(self, call: Any, text: str, error: str | None) -> dict[str, Any]:
        block = self.adj.types.text_content_block_from_string(text)
        return {"role": "tool", "content": [block], "tool_call": call, "tool_call_id": None, "error": error}

    def _call(self, runtime: Any, env: Any, call: Any, out: list[Any], *, injected: bool) -> list[str]:
        """Check, maybe run, and record one call; returns the texts of the output the agent was shown."""
        tool = str(call.function)
        action = Action(self.agent_id, self.session_id, tool, dict(call.args))
        decision = self.gateway.check(action)
        rule_ids = tuple(r.rule_id for r in decision.reasons)
        run = decision.verdict is Verdict.ALLOW or (
            decision.verdict is Verdict.REQUIRE_APPROVAL and self.grant_approvals
        )
        self.calls.append(CallOutcome(tool, decision.verdict, rule_ids, run, injected))
        if not run:
            refusal = f"warded: {decision.verdict.value} ({', '.join(rule_ids)})"
            out.append(self._tool_message(call, "", refusal))
            return [refusal]
        # Only executed calls appear in the trace that AgentDojo's checks read.
        out.append(self._assistant("", call))
        result, error = runtime.run_function(env, tool, call.args, raise_on_error=False)
        value: object = error if error is not None else plain(result)
        try:
            value = self.gateway.guard_result(action, value)
        except ApprovalRequired:
            if not self.grant_approvals:
                value = "warded: output withheld pending approval"
        except ResultBlocked:
            value = "warded: output withheld"
        if error is not None:
            text = str(value)
        elif value is result or value == plain(result):
            text = str(self.adj.tool_execution.tool_result_to_str(result))
        else:
            text = str(value)
        out.append(self._tool_message(call, text, error))
        # What the guard let through, read with the guard's own walk (keys too).
        return [text, *(t.text for t in walk(value, self.gateway.result_limits()).texts)]
