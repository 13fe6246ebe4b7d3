"""Alerts leave the gateway three ways: the audit log (always, kind ``alert``), a webhook (when
``monitor.webhook`` is set) and the OpenTelemetry log pipeline (when ``telemetry`` is enabled).

The webhook is best effort by design: a slow or dead receiver must never hold up a decision, so alerts go
through a bounded queue to one sender thread. Nothing is lost silently: a full queue or a failed delivery
is counted and reported on stderr, and the audit log has every alert regardless. ``warded alerts list``
reads them back from the audit log (:func:`list_alerts`).
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from warded.audit.chain import AuditEntry

__all__ = ["ALERT_KIND", "AlertView", "WebhookSender", "list_alerts"]

ALERT_KIND = "alert"
_QUEUE = 1000
_STOP = object()


class WebhookSender:
    """POSTs each alert as JSON to ``url`` from one background thread (bounded queue, 5 s timeout, one retry)."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_QUEUE)
        import httpx  # noqa: PLC0415 - only a gateway with a webhook needs the HTTP client

        self._http_error = httpx.HTTPError
        self._client = httpx.Client(timeout=timeout_s, headers=dict(headers or {}), follow_redirects=False)
        self._thread = threading.Thread(target=self._run, name="warded-alert-webhook", daemon=True)
        self._thread.start()

    def send(self, alert: Mapping[str, Any]) -> None:
        try:
            self._queue.put_nowait(dict(alert))
        except queue.Full:
            self.dropped += 1
            print(
                f"warded: alert webhook queue full; alert not sent (in the audit log): {alert.get('message')}",
                file=sys.stderr,
            )

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, dict)
            for attempt in (1, 2):
                try:
                    response = self._client.post(self.url, json=item)
                    if response.status_code < 300:
                        self.sent += 1
                        break
                    problem = f"HTTP {response.status_code}"
                except self._http_error as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if attempt == 2:
                    self.failed += 1
                    print(
                        f"warded: alert webhook {self.url} failed ({problem}); the alert is in the audit log",
                        file=sys.stderr,
                    )

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (waiting at most ``timeout_s``), then stop."""
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout_s)
        self._thread.join(timeout_s)
        self._client.close()


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as ``warded alerts list`` shows it."""

    seq: int
    ts: float
    rule_id: str
    agent_id: str
    message: str
    body: Mapping[str, Any]

    def line(self) -> str:
        import time  # noqa: PLC0415 - formatting only

        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.ts))
        return f"{self.seq:>6}  {when}Z  [{self.rule_id}]  {self.agent_id or '-'}: {self.message}"


def list_alerts(
    entries: Iterable[AuditEntry], *, agent_id: str | None = None, rule: str | None = None
) -> list[AlertView]:
    """The alerts among audit ``entries`` (every source: monitor, BOM, breakers, MCP pins), oldest first."""
    out: list[AlertView] = []
    for entry in entries:
        if entry.kind != ALERT_KIND or not isinstance(entry.body, Mapping):
            continue
        body = entry.body
        agent = str(body.get("agent_id") or "")
        rule_id = str(body.get("rule_id") or "")
        if (agent_id is not None and agent != agent_id) or (rule is not None and not rule_id.startswith(rule)):
            continue
        message = str(body.get("message") or "")
        out.append(AlertView(entry.seq, entry.ts, rule_id, agent, message, body))
    return out
