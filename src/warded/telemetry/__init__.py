"""OpenTelemetry for warded: traces, metrics and logs over OTLP/HTTP, off by default.

``telemetry: {enabled: true, endpoint: http://collector:4318}`` in the policy turns it on; nothing leaves the
machine otherwise, and the endpoint is written in the audit log's ``gateway_started`` entry and on stderr.

* **Traces.** One span per decision (``warded.decide <tool>``), per content-guard scan (``warded.scan``) and per
  proxied tool call (``execute_tool <tool>``, the GenAI semantic conventions' tool-execution span:
  ``gen_ai.operation.name = execute_tool``, ``gen_ai.tool.name``, ``gen_ai.tool.type``,
  ``gen_ai.tool.call.id``, ``gen_ai.agent.id``, ``gen_ai.conversation.id``). warded's own facts carry the
  ``warded.`` prefix (``warded.verdict``, ``warded.rule_ids``, ``warded.decision_id``). Chat completions have
  no span yet.
* **Metrics.** ``warded.decisions`` (counter, by verdict), ``warded.decision.duration`` (histogram, seconds),
  ``warded.alerts`` (counter, by rule id).
* **Logs.** Every alert is emitted as a log record (severity WARN, event ``warded.alert``).

Providers are this object's own (never the process-global ones), so two gateways in one process, or a test,
do not share exporters. Disabled, every call is a no-op that costs a few attribute lookups.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from warded.config.monitor import TelemetrySpec

__all__ = ["DISABLED", "Telemetry", "start_telemetry"]

AttributeValue = str | bool | int | float | list[str]


class Telemetry:
    """Tracer, meter and logger of one gateway (or a no-op when ``enabled`` is false)."""

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
        endpoint: str | None = None,
    ) -> None:
        self.enabled = tracer_provider is not None
        self.endpoint = endpoint
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._logger_provider = logger_provider
        self._tracer: Any = None
        self._logger: Any = None
        self._decisions: Any = None
        self._duration: Any = None
        self._alerts: Any = None
        if tracer_provider is not None:
            self._tracer = tracer_provider.get_tracer("warded")
        if meter_provider is not None:
            meter = meter_provider.get_meter("warded")
            self._decisions = meter.create_counter("warded.decisions", description="Decisions, by verdict.")
            self._duration = meter.create_histogram(
                "warded.decision.duration", unit="s", description="Time to gather, decide and commit one call."
            )
            self._alerts = meter.create_counter("warded.alerts", description="Alerts raised, by rule id.")
        if logger_provider is not None:
            self._logger = logger_provider.get_logger("warded")

    @contextlib.contextmanager
    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None, *, client: bool = False
    ) -> Iterator[Any]:
        """A span around the block (``None`` when disabled); set more attributes on it inside."""
        if self._tracer is None:
            yield None
            return
        from opentelemetry.trace import SpanKind  # noqa: PLC0415 - loaded only when telemetry is on

        kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
        with self._tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {})) as span:
            yield span

    def decided(self, verdict: str, seconds: float) -> None:
        if self._decisions is not None:
            self._decisions.add(1, {"verdict": verdict})
            self._duration.record(seconds, {"verdict": verdict})

    def alert(self, body: Mapping[str, Any]) -> None:
        """An alert to the log pipeline (and the alert counter)."""
        rule_id = str(body.get("rule_id", ""))
        if self._alerts is not None:
            self._alerts.add(1, {"rule_id": rule_id})
        if self._logger is not None:
            from opentelemetry._logs import SeverityNumber  # noqa: PLC0415

            attributes = {
                "warded.rule_id": rule_id,
                "gen_ai.agent.id": str(body.get("agent_id", "")),
                "warded.session_id": str(body.get("session_id", "")),
            }
            self._logger.emit(
                severity_number=SeverityNumber.WARN,
                severity_text="WARN",
                body=str(body.get("message", "")),
                attributes=attributes,
                event_name="warded.alert",
            )

    def flush(self) -> None:
        for provider in (self._tracer_provider, self._meter_provider, self._logger_provider):
            if provider is not None:
                provider.force_flush()

    def shutdown(self) -> None:
        for provider in (self._tracer_provider, self._meter_provider, self._logger_provider):
            if provider is not None:
                with contextlib.suppress(Exception):  # exporters report their own failures; shutdown must finish
                    provider.shutdown()


DISABLED = Telemetry()


def start_telemetry(
    spec: TelemetrySpec,
    *,
    span_exporter: Any = None,
    metric_reader: Any = None,
    log_exporter: Any = None,
) -> Telemetry:
    """The providers ``spec`` asks for (``DISABLED`` when off). The exporters default to OTLP/HTTP at
    ``spec.endpoint``; tests pass in-memory ones. Spans and logs are batched, metrics read every
    ``export_interval_s``; none of it blocks a decision."""
    if not spec.enabled:
        return DISABLED
    # Loaded only when telemetry is on: `warded --help` and a gateway without telemetry never import them.
    from opentelemetry.sdk._logs import LoggerProvider  # noqa: PLC0415
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: PLC0415

    headers = {k: v.get_secret_value() for k, v in spec.headers.items()}
    base = spec.endpoint.rstrip("/")
    resource = Resource.create({"service.name": spec.service_name})
    tracer_provider = TracerProvider(resource=resource)
    if span_exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{base}/v1/traces", headers=headers)))
    else:
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    if metric_reader is None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415

        metric_reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(f"{base}/v1/metrics", headers=headers),
            export_interval_millis=spec.export_interval_s * 1000,
        )
    meter_provider = MeterProvider(resource=resource, metric_readers=[metric_reader])
    logger_provider = LoggerProvider(resource=resource)
    if log_exporter is None:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: PLC0415

        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(f"{base}/v1/logs", headers=headers))
        )
    else:
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    print(f"warded: telemetry on: OTLP/HTTP to {base} (traces, metrics, alert logs)", file=sys.stderr)
    return Telemetry(
        tracer_provider=tracer_provider, meter_provider=meter_provider, logger_provider=logger_provider, endpoint=base
    )
