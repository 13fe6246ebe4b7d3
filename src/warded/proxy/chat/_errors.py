"""OpenAI-style error bodies for the chat proxy: ``{"error": {"message", "type", "code", "param"}}``."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from warded.errors import WardedError


class ChatError(WardedError):
    """A request the chat proxy refuses or cannot complete; becomes an OpenAI-style error response."""

    def __init__(
        self, status: int, message: str, code: str, *, kind: str = "invalid_request_error", **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.kind = kind
        self.extra = extra

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code, "param": None}
        if self.extra:
            error["warded"] = self.extra
        return {"error": error}

    def response(self) -> JSONResponse:
        headers = {"www-authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(message: str, code: str = "invalid_request", **extra: Any) -> ChatError:
    return ChatError(400, message, code, **extra)


def upstream_error(status: int, message: str, code: str) -> ChatError:
    return ChatError(status, message, code, kind="upstream_error")
