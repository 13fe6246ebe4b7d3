"""The policy sections of issue 12: ``bom:`` (the AI bill of materials bound to runtime), ``monitor:``
(behavioural drift and anomaly alerts) and ``telemetry:`` (OpenTelemetry export, off by default).

They live here, below the policy schema, so that ``policy/schema.py`` can embed them without importing the
packages that act on them (``warded.bom``, ``warded.monitor``, ``warded.telemetry``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["BomSpec", "MonitorSpec", "OnAnomaly", "TelemetrySpec"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BomSpec(_Strict):
    """Bind the gateway to a signed CycloneDX ML-BOM: what it does not list is refused at start-up and denied
    (and alerted, ``bom.out_of_manifest``) at run time. Paths are relative to the policy file."""

    path: str
    # The Ed25519 public key the BOM's detached signature (``<path>.sig``) must verify against.
    public_key: str


class OnAnomaly(StrEnum):
    ALERT = "alert"  # record and send the alert; decisions are unchanged
    REQUIRE_APPROVAL = "require_approval"  # and every non-read call of the agent needs a human until cleared
    PAUSE = "pause"  # and pause every session of the agent (`warded session resume AGENT --all-sessions`)


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


class MonitorSpec(_Strict):
    """Behavioural monitoring per agent: a baseline learnt from the first ``baseline`` calls, then alerts
    when a window of ``window`` calls is too unlikely under it (see docs/monitoring.md)."""

    enabled: bool = True
    baseline: int = Field(default=2000, ge=50, le=1_000_000)
    window: int = Field(default=20, ge=5, le=1000)
    # Per-window false-alarm probability of one signal under the baseline (smaller: fewer, later alerts).
    alpha: float = Field(default=1e-7, gt=0, lt=0.01)
    on_anomaly: Annotated[OnAnomaly, Field(strict=False)] = OnAnomaly.ALERT
    # Alerts are POSTed here as JSON (best effort, bounded queue; failures are reported, never block a call).
    webhook: str | None = None
    webhook_headers: dict[str, SecretStr] = Field(default_factory=dict)

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return _http_url(value)


class TelemetrySpec(_Strict):
    """OpenTelemetry traces, metrics and logs over OTLP/HTTP. Off by default: nothing leaves the machine
    unless ``enabled`` is set, and the endpoint is listed at start-up."""

    enabled: bool = False
    endpoint: str = "http://127.0.0.1:4318"  # the collector's OTLP/HTTP base URL (/v1/traces etc. appended)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    service_name: str = Field(default="warded", min_length=1, max_length=128)
    export_interval_s: float = Field(default=10.0, gt=0, le=3600)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        _http_url(value)
        return value
