"""Where the cases go: the whole gateway in-process, or a running decision API over HTTP.

A target answers one question per case: did the gateway let it through? ``decide`` returns the verdict
string (``allow``, ``deny``, ``require_approval``, or ``refused`` when the API refused the request itself
with a 400 or 413); ``result_delivered`` says whether a tool result would be delivered to the agent
unflagged. A target that does not judge the case (it is down, times out, answers 401, 404, 429 or 5xx, or
answers 200 without a verdict; or the run has no API key for the agent) raises :class:`TargetError`: an
error is neither held nor through, and the run counts it as an error that makes the run incomplete.
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


class TargetError(WardedError):
    """The target did not judge a case: the attempt is an error, never a pass."""


#: Statuses with which the decision API refuses a request as such (malformed, too large): the case is held.
REFUSED_STATUSES = frozenset({400, 413})


class Target(Protocol):
    """What a run needs from the thing under test. ``decide`` and ``result_delivered`` raise
    :class:`TargetError` when the target did not judge the case."""

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
        """The API's JSON answer; ``None`` when it refused the request as such (400, 413): the case is held.
        Raises :class:`TargetError` on anything else that is not a 200 JSON object."""
        key = self.keys.get(agent)
        if key is None:
            self.errors += 1
            raise TargetError(f"no --api-key for agent {agent!r}: the run cannot act as it")
        try:
            response = self._client.post(self.url + path, json=body, headers={"Authorization": f"Bearer {key}"})
        except (httpx.HTTPError, ValueError) as exc:
            self.errors += 1
            raise TargetError(f"{self.url}{path} did not answer: {type(exc).__name__}: {str(exc)[:200]}") from None
        if response.status_code in REFUSED_STATUSES:
            return None
        if response.status_code != 200:
            self.errors += 1
            raise TargetError(f"{self.url}{path} answered HTTP {response.status_code}: {response.text[:200]!r}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.errors += 1
            raise TargetError(f"{self.url}{path} answered 200 without a JSON object: {response.text[:200]!r}")
        return data

    def decide(self, agent: str, session: str, tool: str, arguments: Mapping[str, Any]) -> str:
        data = self._post(agent, "/v1/decide", {"session_id": session, "tool": tool, "arguments": dict(arguments)})
        if data is None:
            return "refused"
        verdict = data.get("verdict")
        if verdict not in ("allow", "deny", "require_approval"):
            self.errors += 1
            raise TargetError(f"{self.url}/v1/decide answered without a verdict: {str(data)[:200]}")
        return str(verdict)

    def result_delivered(self, agent: str, session: str, tool: str, value: object) -> bool:
        body = {"session_id": session, "tool": tool, "arguments": {}, "result": value}
        data = self._post(agent, "/v1/results", body)
        if data is None:
            return False
        response = data.get("response")
        if not isinstance(response, str):
            self.errors += 1
            raise TargetError(f"{self.url}/v1/results answered without a response: {str(data)[:200]}")
        return response == "allow"  # delivered, and the content guard found nothing in it

    def close(self) -> None:
        self._client.close()


def session_ids(prefix: str) -> Callable[[], str]:
    """A fresh session id per case, so one case's pauses and windows never colour the next."""
    counter = itertools.count()
    return lambda: f"{prefix}-{next(counter)}"
