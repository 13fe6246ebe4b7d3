"""Creating records (from an audit range, an alert, a red-team finding), exporting and importing them.

Every function takes the policy file: it names the audit log, the incident store and, for imports, where
the controls file goes and which approver keys are trusted by default.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warded import __version__
from warded.audit.keys import Signer, load_public_keys
from warded.controls import Control, controls_path, load_controls, write_controls
from warded.errors import WardedError
from warded.incident import evidence as ev
from warded.incident.model import CONTROL_OF, Event, Incident, Indicator, Severity, Source, Status, new_id
from warded.incident.osv import FeedError, from_osv, open_feed, sign_feed, to_osv
from warded.incident.store import open_incident_store
from warded.jsonio import loads
from warded.policy.compile import load_policy


def create(
    policy_path: str,
    *,
    title: str,
    severity: Severity = "medium",
    audit_range: tuple[int, int] | None = None,
    alert_seq: int | None = None,
    redteam_report: str | None = None,
    finding: str | None = None,
    indicators: Sequence[Indicator] = (),
    now: float | None = None,
) -> Incident:
    """A new record from exactly one source; stored, and returned."""
    sources = [audit_range is not None, alert_seq is not None, redteam_report is not None]
    if sum(sources) != 1:
        raise WardedError("name exactly one source: --audit FROM..TO, --alert SEQ or --redteam REPORT")
    now = time.time() if now is None else now
    found = list(indicators)
    details = ""
    if audit_range is not None or alert_seq is not None:
        seq = alert_seq or 0
        first, last = audit_range if audit_range is not None else (seq, seq)
        evidence, affected, bodies = ev.from_audit(policy_path, first, last)
        if alert_seq is not None and not any("rule_id" in b for b in bodies):
            raise WardedError(f"audit entry {alert_seq} is not an alert")
        source = Source(kind="audit" if audit_range is not None else "alert", ref=f"{first}..{last}")
        details = "; ".join(str(b.get("message", "")) for b in bodies if isinstance(b.get("message"), str))[:2000]
    else:
        assert redteam_report is not None
        evidence, (affected, hit) = None, _from_report(redteam_report, finding)
        source = Source(kind="redteam", ref=f"{redteam_report}#{hit['key']}")
        details = f"warded redteam found: {hit['key']}; smallest input: {json.dumps(hit['input'])[:1500]}"
        found.append(
            Indicator(
                kind="bypass_pattern", value=f"{hit['family']}:{hit['technique']}:{json.dumps(hit['input'])}"[:4096]
            )
        )
    affected = affected.model_copy(update={"policy_sha256": affected.policy_sha256 or load_policy(policy_path).digest})
    incident = Incident(
        id=new_id(now),
        title=title,
        severity=severity,
        status="open",
        created=now,
        updated=now,
        source=source,
        affected=affected,
        evidence=evidence,
        indicators=found,
        timeline=[Event(ts=now, status="open", note=f"created from {source.kind} {source.ref}")],
        details=details,
    )
    store = open_incident_store(policy_path)
    try:
        store.put(incident)
    finally:
        store.close()
    return incident


def _from_report(path: str, key: str | None) -> tuple[Any, Mapping[str, Any]]:
    from warded.incident.model import Affected  # noqa: PLC0415

    with open(path, "rb") as fh:
        report = loads(fh.read())
    if not isinstance(report, Mapping) or report.get("tool") != "warded-redteam":
        raise WardedError(f"{path} is not a warded red-team report")
    hits = [*report.get("bypasses", []), *report.get("evasions", [])]
    chosen = [h for h in hits if key is None or h.get("key") == key]
    if not chosen:
        raise WardedError(f"{path}: no finding {key!r}" if key else f"{path}: the report has no findings")
    hit = chosen[0]
    affected = Affected(
        agent=hit["agent"] if hit["agent"] != "*" else None,
        tool=hit["tool"] if hit["tool"] != "*" else None,
        policy_sha256=report.get("policy_sha256"),
    )
    return affected, hit


def set_status(
    policy_path: str, incident_id: str, status: Status, note: str = "", now: float | None = None
) -> Incident:
    store = open_incident_store(policy_path)
    try:
        incident = store.get(incident_id)
        if incident is None:
            raise WardedError(f"no incident {incident_id!r}")
        now = time.time() if now is None else now
        updated = incident.model_copy(
            update={
                "status": status,
                "updated": now,
                "timeline": [*incident.timeline, Event(ts=now, status=status, note=note)],
            }
        )
        store.put(updated)
        return updated
    finally:
        store.close()


def add_indicator(policy_path: str, incident_id: str, indicator: Indicator) -> Incident:
    store = open_incident_store(policy_path)
    try:
        incident = store.get(incident_id)
        if incident is None:
            raise WardedError(f"no incident {incident_id!r}")
        updated = incident.model_copy(update={"indicators": [*incident.indicators, indicator], "updated": time.time()})
        store.put(updated)
        return updated
    finally:
        store.close()


def export(policy_path: str, incident_id: str, keys: Sequence[str]) -> dict[str, Any]:
    """The signed feed of one record (OSV, validated; one signature per key file)."""
    store = open_incident_store(policy_path)
    try:
        incident = store.get(incident_id)
    finally:
        store.close()
    if incident is None:
        raise WardedError(f"no incident {incident_id!r}")
    return sign_feed(to_osv(incident), [Signer.from_file(k) for k in keys])


def trusted_keys(policy_path: str, extra: Sequence[str]) -> dict[str, Ed25519PublicKey]:
    """The keys an import trusts: the policy's approvers (the approvals' key set) and ``--trust`` files."""
    policy = load_policy(policy_path)
    keys = {kid: key for kid, (_, key) in policy.approvers.items()}
    keys.update(load_public_keys(extra))
    return keys


@dataclass(frozen=True, slots=True)
class Imported:
    incidents: tuple[Incident, ...]
    added: tuple[Control, ...]
    refused: tuple[tuple[str, str], ...]  # (file, why)
    warnings: tuple[str, ...]


def _feed_files(path: str) -> list[str]:
    if os.path.isdir(path):
        return sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".json"))
    return [path]


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def import_feeds(policy_path: str, feed: str, trust: Sequence[str] = (), now: float | None = None) -> Imported:
    """Verify every feed file at ``feed`` (a file or a folder), then turn the accepted records' indicators
    into controls: recorded in the audit log first, then written to the controls file the gateway loads.
    A feed that is unsigned, signed by no trusted key, tampered with or not valid OSV is refused whole."""
    now = time.time() if now is None else now
    keys = trusted_keys(policy_path, trust)
    if not keys:
        raise WardedError("no trusted keys: the policy names no approvers and no --trust key was given")
    accepted: list[Incident] = []
    refused: list[tuple[str, str]] = []
    files = _feed_files(feed)
    if not files:
        raise WardedError(f"{feed}: no feed files (*.json)")
    for file in files:
        try:
            with open(file, "rb") as fh:
                raw = fh.read()
            record, signer = open_feed(raw, keys)
            accepted.append(from_osv(record, signer))
        except (OSError, FeedError) as exc:
            refused.append((file, str(exc.strerror) if isinstance(exc, OSError) else exc.diagnostics()))
    policy = load_policy(policy_path)
    existing = load_controls(policy.base_dir)
    have: set[tuple[str, str]] = {(c.kind, c.value) for c in existing.controls}
    added: list[Control] = []
    warnings: list[str] = []
    for incident in accepted:
        for indicator in incident.indicators:
            kind = CONTROL_OF.get(indicator.kind)
            if kind is None:
                if indicator.fixed_in and _version(__version__) < _version(indicator.fixed_in):
                    warnings.append(
                        f"{incident.id}: bypass {indicator.value[:80]!r} is fixed in warded {indicator.fixed_in}; "
                        f"this is {__version__}: upgrade"
                    )
                continue
            if (kind, indicator.value) in have:
                continue
            have.add((kind, indicator.value))
            added.append(Control(kind, indicator.value, incident.id, incident.signer or "", now))  # type: ignore[arg-type]
    merged = [*existing.controls, *added]
    from warded.controls import ControlSet  # noqa: PLC0415

    ControlSet.build(merged)  # refuse an unusable indicator (bad RE2, bad digest) before anything is written
    _record(policy_path, accepted, added, refused)
    if added:
        write_controls(policy.base_dir, merged)
    store = open_incident_store(policy_path)
    try:
        for incident in accepted:
            store.put(incident)
    finally:
        store.close()
    return Imported(tuple(accepted), tuple(added), tuple(refused), tuple(warnings))


def _record(
    policy_path: str, accepted: Sequence[Incident], added: Sequence[Control], refused: Sequence[tuple[str, str]]
) -> None:
    """One audit entry per control added and per refused feed, in the deployment's own log."""
    from warded.gateway.gateway import Gateway  # noqa: PLC0415

    gw = Gateway.from_file(policy_path)
    try:
        for control in added:
            gw.record_event("incident_control_added", {"control": control.to_json(), "rule_id": control.rule_id})
        for incident in accepted:
            gw.record_event("incident_imported", {"incident": incident.id, "signer": incident.signer or ""})
        for file, why in refused:
            gw.record_event("incident_feed_refused", {"file": file, "reason": why[:500]})
    finally:
        gw.close()


def controls_summary(policy_path: str) -> list[str]:
    policy = load_policy(policy_path)
    controls = load_controls(policy.base_dir)
    return [
        f"incident control {c.rule_id}: {c.kind} {c.value[:80]!r} (signer {c.signer})" for c in controls.controls
    ] + ([f"{controls_path(policy.base_dir)}: sha256 {controls.digest}"] if controls else [])
