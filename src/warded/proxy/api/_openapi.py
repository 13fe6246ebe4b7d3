"""The OpenAPI 3.0 document of the decision API (written by hand, served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_NAME = {"type": "string", "minLength": 1, "maxLength": 256}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
        "decision": {"$ref": "#/components/schemas/Decision"},
    },
}
_REASON = {
    "type": "object",
    "required": ["rule_id", "message"],
    "properties": {"rule_id": {"type": "string"}, "message": {"type": "string"}},
}
_DECISION = {
    "type": "object",
    "required": ["id", "request_id", "verdict", "tier", "reasons", "obligations", "effects"],
    "properties": {
        "id": {"type": "string", "description": "d<audit seq> of the recorded decision"},
        "request_id": {"type": "string", "description": "the approval request opened for require_approval"},
        "verdict": {"type": "string", "enum": ["allow", "require_approval", "deny"]},
        "tier": {"type": "string", "nullable": True},
        "reasons": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"}},
        "obligations": {"type": "array", "items": {"type": "object"}},
        "effects": {"type": "array", "items": {"type": "object"}},
        "capability": {"type": "string", "description": "single-use capability token (with_token and allow)"},
    },
}
_TIERS = ["read", "write", "destructive", "financial", "external", "privileged"]
_DECIDE_REQUEST = {
    "type": "object",
    "required": ["session_id", "tool"],
    "additionalProperties": False,
    "properties": {
        "agent_id": {**_NAME, "description": "optional; must equal the agent the API key is bound to"},
        "session_id": _NAME,
        "tool": _NAME,
        "arguments": {"type": "object"},
        "tier": {"type": "string", "enum": _TIERS, "nullable": True},
        "labels": {"type": "array", "maxItems": 64, "items": _NAME},
        "approval": {**_NAME, "nullable": True, "description": "id of a signed approval request for this action"},
        "with_token": {"type": "boolean", "description": "ask for a capability token on allow"},
    },
}
_RESULT_REQUEST = {
    "type": "object",
    "required": ["session_id", "tool", "result"],
    "additionalProperties": False,
    "properties": {
        "agent_id": _NAME,
        "session_id": _NAME,
        "tool": _NAME,
        "arguments": {"type": "object"},
        "result": {"description": "the tool's result: any JSON value"},
    },
}
_PLAN_REQUEST = {
    "type": "object",
    "required": ["session_id", "tools"],
    "additionalProperties": False,
    "properties": {
        "agent_id": _NAME,
        "session_id": _NAME,
        "tools": {"type": "array", "maxItems": 1000, "items": _NAME},
        "user_request": {"type": "string", "maxLength": 32000, "description": "the user's request (trusted)"},
        "sources": {
            "type": "object",
            "maxProperties": 1000,
            "description": (
                'argument sources: "tool.argument" -> the planned tools whose output may supply its values '
                "(a value seen in one of them is justified; everything else stays as strict)"
            ),
            "additionalProperties": {"type": "array", "minItems": 1, "items": _NAME},
        },
    },
}
_PLAN_RESPONSE = {
    "type": "object",
    "required": ["session_id", "tools"],
    "properties": {"session_id": {"type": "string"}, "tools": {"type": "array", "items": {"type": "string"}}},
}
_RESULT_RESPONSE = {
    "type": "object",
    "required": ["id", "response", "findings", "value", "redacted", "request_id", "reasons"],
    "properties": {
        "id": {"type": "string"},
        "response": {"type": "string", "enum": ["allow", "label", "redact", "require_approval", "deny"]},
        "findings": {"type": "array", "items": {"type": "object"}},
        "value": {"description": "the result as the agent may see it (null when withheld)", "nullable": True},
        "redacted": {"type": "boolean"},
        "request_id": {"type": "string"},
        "reasons": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"}},
    },
}
_APPROVAL = {
    "type": "object",
    "required": ["request", "status"],
    "properties": {
        "request": {"type": "object"},
        "status": {"type": "string", "enum": ["pending", "approved", "denied", "used", "void"]},
        "verdict": {"type": "object", "nullable": True},
    },
}


def _err(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_COMMON = {
    "400": _err("malformed request"),
    "401": _err("missing or unknown API key"),
    "403": _err("the key's agent may not do this"),
    "413": _err("request body too large"),
    "500": _err("internal error (never an allow)"),
    "503": _err("the gateway or its store is unavailable (never an allow)"),
}
_ID_PARAM = {
    "name": "request_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (a fresh dict each call)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "warded decision API",
            "version": "1",
            "description": "Deny-by-default decisions on agent tool calls. Every /v1 call needs an API key; "
            "the key names the agent (agent_id is never taken from the body).",
        },
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _ERROR,
                "Reason": _REASON,
                "Decision": _DECISION,
                "DecideRequest": _DECIDE_REQUEST,
                "ResultRequest": _RESULT_REQUEST,
                "PlanRequest": _PLAN_REQUEST,
                "PlanResponse": _PLAN_RESPONSE,
                "ResultResponse": _RESULT_RESPONSE,
                "Approval": _APPROVAL,
            },
        },
        "paths": {
            "/v1/decide": {
                "post": {
                    "operationId": "decide",
                    "summary": "Decide one tool call (and record it in the audit log)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DecideRequest"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Decision"}, "the decision"),
                        **_COMMON,
                    },
                }
            },
            "/v1/results": {
                "post": {
                    "operationId": "results",
                    "summary": "Label and scan a tool result before the agent sees it",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ResultRequest"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/ResultResponse"}, "scan outcome"),
                        **_COMMON,
                    },
                }
            },
            "/v1/plan": {
                "post": {
                    "operationId": "plan",
                    "summary": "Declare a session's plan (the tools it needs) before it reads untrusted data",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PlanRequest"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/PlanResponse"}, "the plan is in force"),
                        "409": _err("untrusted data has entered the session: its plan can no longer change"),
                        **_COMMON,
                    },
                }
            },
            "/v1/approvals": {
                "get": {
                    "operationId": "listApprovals",
                    "summary": "Pending approval requests of the caller's agent",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["approvals"],
                                "properties": {"approvals": {"type": "array", "items": {"type": "object"}}},
                            },
                            "pending requests, oldest first",
                        ),
                        **_COMMON,
                    },
                }
            },
            "/v1/approvals/{request_id}": {
                "get": {
                    "operationId": "getApproval",
                    "summary": "One approval request and its status (optionally waiting for a human)",
                    "parameters": [
                        _ID_PARAM,
                        {
                            "name": "wait",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "number", "minimum": 0, "maximum": 30},
                        },
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Approval"}, "the request"),
                        "404": _err("no such request"),
                        **_COMMON,
                    },
                },
                "post": {
                    "operationId": "submitApproval",
                    "summary": "Submit a signed approval file (warded-approval/1, canonical JSON and a newline)",
                    "parameters": [_ID_PARAM],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["request_id", "status"],
                                "properties": {"request_id": {"type": "string"}, "status": {"type": "string"}},
                            },
                            "recorded",
                        ),
                        "404": _err("no such request"),
                        "409": _err("already decided or expired"),
                        **_COMMON,
                    },
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "security": [],
                    "responses": {
                        "200": _json({"type": "object", "required": ["status"]}, "serving"),
                        "503": _err("not serving"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "503": _err("metrics unavailable"),
                    },
                }
            },
        },
    }
