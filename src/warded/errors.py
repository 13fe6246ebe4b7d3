"""One error family for everything warded raises on purpose."""

from __future__ import annotations

from dataclasses import dataclass

from warded.core.types import Decision


class WardedError(Exception):
    """Base of every error warded raises deliberately."""

    def diagnostics(self) -> str:
        """A human explanation of what went wrong and what to do about it."""
        return str(self)


class InvalidArgument(WardedError, ValueError):
    """A library function was given an argument it refuses (a bound that is not positive, an unknown
    mode). Also a ``ValueError``, as Python callers expect of a bad value."""


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One problem found in a policy file, with its location."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PolicyError(WardedError):
    """A policy file could not be loaded. The policy is refused whole."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"policy refused: {len(self.problems)} problem(s)")

    def diagnostics(self) -> str:
        lines = [f"policy refused ({len(self.problems)} problem(s)); the gateway will not start:"]
        lines.extend(f"  {p}" for p in self.problems)
        return "\n".join(lines)


class ConfigError(WardedError):
    """A configuration file (the chat proxy's ``--config``, the MCP proxy's ``--mcp-config``) could not be
    loaded. It is refused whole and nothing starts with it."""

    def __init__(self, problems: list[PolicyProblem], what: str = "configuration") -> None:
        self.problems = tuple(problems)
        self.what = what
        super().__init__(f"{what} refused: {len(self.problems)} problem(s)")

    def diagnostics(self) -> str:
        lines = [f"{self.what} refused ({len(self.problems)} problem(s)); nothing was started:"]
        lines.extend(f"  {p}" for p in self.problems)
        return "\n".join(lines)


class AuditError(WardedError):
    """The audit log could not be written or read."""


class VerificationError(AuditError):
    """The audit log failed verification."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        self.seq = seq
        super().__init__(message)


class StoreError(WardedError):
    """The state store failed."""


class KeyFileError(WardedError):
    """A signing or verification key could not be loaded."""


class ToolDenied(WardedError):
    """A tool call was denied by the gateway; the tool did not run."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        super().__init__(decision.summary())

    def diagnostics(self) -> str:
        return self.decision.explain()


class ResultBlocked(ToolDenied):
    """The tool ran, but the content guard withheld its result from the agent."""


class ApprovalRequired(WardedError):
    """A tool call needs human approval; the request was recorded and the tool did not run."""

    def __init__(self, decision: Decision, request_id: str) -> None:
        self.decision = decision
        self.request_id = request_id
        super().__init__(f"approval required (request {request_id}): {decision.summary()}")

    def diagnostics(self) -> str:
        return f"approval request {self.request_id}\n{self.decision.explain()}"
