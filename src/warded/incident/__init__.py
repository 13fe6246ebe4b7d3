"""Incident and vulnerability records: ``warded incident create|list|show|export|import``.

A record (``model.Incident``) says what happened (from an audit range, an alert or a red-team finding),
what was affected, the evidence (the audit sequence range and the signed checkpoint covering it), severity,
status and timeline, and the indicators other deployments can act on. Records live behind
``store.IncidentStore`` (SQLite next to the policy, or the policy's PostgreSQL). ``osv.py`` exports a
record in the OSV schema, validated, and signs it (Ed25519); ``feed.py`` verifies imported feeds against
trusted keys and turns their indicators into controls (``warded.controls``) that the gateway enforces.
"""
