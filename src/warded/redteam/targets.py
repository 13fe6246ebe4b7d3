"""Where the cases go: the whole gateway in-process, or a running decision API over HTTP.

A target answers one question per case: did the gateway let it through? ``decide`` returns the verdict
string (``allow``, ``deny``, ``require_approval``); anything that is not a clean ALLOW (an HTTP error, a
refused request, a timeout) counts as held: a run can only under-report what got through, never invent it.
``inspect_result`` says whether a tool result would be delivered to the agent unflagged.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from warded.core.types import Action, Verdict
from warded.errors import WardedError
from warded.gateway._stores import open_stores
from warded.gateway.gateway import Gateway
from warded.policy.compile import load_policy
from warded.redteam.sandbox import Sandbox, build_sandbox


class Target(Protocol):
    """What a run needs from the thing under test."""

    name: str

    def decide(self, agent: str, session: str, tool: str, arguments: Mapping[str, Any]) -> str: ...

    def result_delivered(self, agent: str, session: str, tool: str, value: object) -> bool: ...

    def close(self) -> None: ...


class FakeClock:
    """A clock the run moves by hand, so limit and budget windows are exercised without waiting."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class InProcessTarget:
    """The gateway itself (constraints, content guard, flow control, approvals, limits, audit) on a
    sandboxed copy of the policy (``sandbox.py``). ``fresh()`` opens another gateway with empty state."""

    def __init__(self, policy_path: str, workdir: str) -> None:
        self.policy_path = policy_path
        self.sandbox: Sandbox = build_sandbox(policy_path, workdir)
        self.clock = FakeClock()
        self.gateway = Gateway.from_file(self.sandbox.policy_file, clock=self.clock)
        self.name = f"in-process:{policy_path}"
        self._spares = itertools.count()
        self.closers: list[Callable[[], None]] = []

    def decide(self, agent: str, session: str, tool: str, arguments: Mapping[str, Any]) -> str:
        return self.gateway.check(Action(agent, session, tool, dict(arguments))).verdict.value

    def result_delivered(self, agent: str, session: str, tool: str, value: object) -> bool:
        check = self.gateway.inspect_result(Action(agent, session, tool, {}), value)
        return check.decision.verdict is Verdict.ALLOW and check.response is None

    def fresh(self, *, audit: Mapping[str, Any] | None = None) -> tuple[Gateway, FakeClock]:
        """Another gateway on the same sandboxed policy with empty windows and state (its own files), sharing
        the warmed content guard. ``audit`` overrides audit settings (the audit family's own small log)."""
        n = next(self._spares)
        clock = FakeClock()
        spare = os.path.join(self.sandbox.workdir, f"spare{n}")
        os.makedirs(spare, exist_ok=True)
        copy = build_sandbox(self.policy_path, spare, audit=audit)
        policy = load_policy(copy.policy_file)
        stores = open_stores(policy, clock=clock)
        gateway = Gateway(
            policy,
            stores.audit,
            stores.state,
            clock=clock,
            scanner=self.gateway.scanner,
            approvals=stores.approvals,
            windows=stores.windows,
            waker=stores.waker,
        )
        return gateway, clock

    @property
    def audit_db(self) -> str:
        return os.path.join(self.sandbox.workdir, "audit.db")

    @property
    def audit_pub(self) -> str:
        return os.path.join(self.sandbox.workdir, "audit.key.pub")

    def close(self) -> None:
        for close in self.closers:
            close()
        self.closers.clear()
        self.gateway.close()


class HttpTarget:
    """A running decision API (``warded serve``). ``keys`` maps agent ids to their API keys."""

    def __init__(self, url: str, keys: Mapping[str, str], *, timeout_s: float = 10.0) -> None:
        if not keys:
            raise WardedError("an HTTP target needs at least one --api-key AGENT=KEY")
        self.url = url.rstrip("/")
        self.keys = dict(keys)
        self.name = self.url
        self._client = httpx.Client(timeout=timeout_s)
        self.errors = 0

    def _post(self, agent: str, path: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        key = self.keys.get(agent)
        if key is None:
            return None  # no key for this agent: cannot act as it, so nothing got through
        try:
            response = self._client.post(self.url + path, json=body, headers={"Authorization": f"Bearer {key}"})
        except (httpx.HTTPError, ValueError):
            self.errors += 1
            return None
        if response.status_code != 200:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def decide(self, agent: str, session: str, tool: str, arguments: Mapping[str, Any]) -> str:
        data = self._post(agent, "/v1/decide", {"session_id": session, "tool": tool, "arguments": dict(arguments)})
        verdict = data.get("verdict") if data else None
        return verdict if isinstance(verdict, str) else "error"

    def result_delivered(self, agent: str, session: str, tool: str, value: object) -> bool:
        body = {"session_id": session, "tool": tool, "arguments": {}, "result": value}
        data = self._post(agent, "/v1/results", body)
        if not data:
            return False
        return data.get("response") == "allow"  # delivered, and the content guard found nothing in it

    def close(self) -> None:
        self._client.close()


def session_ids(prefix: str) -> Callable[[], str]:
    """A fresh session id per case, so one case's pauses and windows never colour the next."""
    counter = itertools.count()
    return lambda: f"{prefix}-{next(counter)}"
