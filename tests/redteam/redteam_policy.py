"""A small policy every red-team test attacks (its own tools, one of each constraint family)."""

from __future__ import annotations

from pathlib import Path

POLICY = """\
version: 1
agents:
  bot:
    tools: [read_file, send_email, run_sql, list_folder, read_doc, delete_doc]
tools:
  read_file:
    tier: read
    args:
      path: {type: string, required: true, path: {roots: ["./files"]}}
  send_email:
    tier: external
    args:
      to: {type: string, required: true, email: {allow: ["*@example.com"], deny: ["all-staff@example.com"]}}
      body: {type: string, max_length: 2000}
  run_sql:
    tier: read
    args:
      query: {type: string, required: true, sql: {dialect: sqlite, tables: [orders]}}
  list_folder:
    tier: read
    args:
      folder: {type: string, values: {allow: [inbox, archive]}}
      count: {type: integer, number: {min: 1, max: 50}}
  read_doc:
    tier: read
    args: {}
  delete_doc:
    tier: destructive
    args:
      id: {type: integer, required: true, number: {min: 1}}
limits:
  - {id: burst, tools: [delete_doc], scope: session, max_calls: 3, window: 10m, on_exceed: deny}
scan:
  scanners: [injection_rules]
audit:
  path: audit.db
  key: audit.key
  checkpoint_every: 8
"""


def write(directory: Path, text: str = POLICY) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "files").mkdir(exist_ok=True)
    path = directory / "warded.yaml"
    path.write_text(text, encoding="utf-8")
    return path
