"""``warded incident``: the CLI calls :func:`main_from_args`; the work is in ``records.py``.

Exit codes: 0 done; 1 a feed was refused (unsigned, untrusted, tampered, not OSV) or a record not found;
2 usage errors (bad flags, unreadable files).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from warded.errors import WardedError
from warded.incident import records
from warded.incident.model import Incident, Indicator


def _indicators(pairs: list[str]) -> list[Indicator]:
    out = []
    for pair in pairs:
        kind, sep, value = pair.partition("=")
        if not sep:
            raise WardedError(f"--indicator wants KIND=VALUE, got {pair[:40]!r}")
        try:
            out.append(Indicator.model_validate({"kind": kind, "value": value}))
        except ValueError as exc:
            raise WardedError(f"--indicator {kind}: {exc}") from None
    return out


def _range(text: str) -> tuple[int, int]:
    first, sep, last = text.partition("..")
    try:
        return (int(first), int(last)) if sep else (int(first), int(first))
    except ValueError:
        raise WardedError(f"--audit wants FROM..TO (entry numbers), got {text!r}") from None


def _line(i: Incident) -> str:
    return f"{i.id}  {i.severity:<8} {i.status:<13} {i.source.kind:<7} {i.title}"


def main_from_args(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    cmd = args.incident_cmd
    if cmd == "create":
        incident = records.create(
            args.policy,
            title=args.title,
            severity=args.severity,
            audit_range=_range(args.audit) if args.audit else None,
            alert_seq=args.alert,
            redteam_report=args.redteam,
            finding=args.finding,
            indicators=_indicators(args.indicator),
        )
        print(incident.model_dump_json(indent=2) if args.json else incident.id, file=out)
        return 0
    if cmd in ("list", "show", "update"):
        from warded.incident.store import open_incident_store  # noqa: PLC0415

        if cmd == "update":
            print(_line(records.set_status(args.policy, args.id, args.status, args.note)), file=out)
            return 0
        store = open_incident_store(args.policy)
        try:
            if cmd == "list":
                found = store.list()
                if args.json:
                    print(json.dumps([i.model_dump(mode="json") for i in found], indent=2), file=out)
                else:
                    for i in found:
                        print(_line(i), file=out)
                return 0
            one = store.get(args.id)
        finally:
            store.close()
        if one is None:
            print(f"warded incident: no incident {args.id!r}", file=err)
            return 1
        print(one.model_dump_json(indent=2), file=out)
        return 0
    if cmd == "export":
        feed = json.dumps(records.export(args.policy, args.id, args.key), indent=2)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(feed + "\n")
        else:
            print(feed, file=out)
        return 0
    result = records.import_feeds(args.policy, args.feed, args.trust)
    for incident in result.incidents:
        print(f"imported {incident.id} (signed by {incident.signer})", file=out)
    for control in result.added:
        print(f"control added: {control.rule_id} {control.kind} {control.value[:80]!r}", file=out)
    for warning in result.warnings:
        print(f"warning: {warning}", file=err)
    for file, why in result.refused:
        print(f"refused {file}: {why}", file=err)
    return 1 if result.refused else 0
