"""``warded serve``: the decision API under uvicorn, on loopback unless asked otherwise.

Listening on a non-loopback address (``0.0.0.0``, a LAN address) is refused unless the caller passes
``allow_public=True`` (the CLI's ``--public``) or the policy's ``serve.allow_public_bind`` is true: an
exposed gateway should be a decision, not a default. With ``workers > 1`` each worker is its own process with
its own Gateway; they share approvals, pauses, the audit chain and the sliding windows of limits and
breakers through the policy's SQLite file. Each worker's listener enforces ``serve.http_limits`` (header and
body read timeouts, connection caps; see :mod:`warded.config.http`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from warded.config.serve import ServeConfigError, ServeSpec, is_loopback
from warded.errors import WardedError
from warded.policy.compile import load_policy

__all__ = ["main", "serve"]

GRACEFUL_SHUTDOWN_S = 10


def serve(
    policy_path: str,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    *,
    allow_public: bool = False,
    spec: ServeSpec | None = None,
) -> None:
    """Run the decision API until interrupted. ``spec`` (the policy's ``serve:``) supplies the API keys and limits;
    ``host``, ``port`` and ``workers``, when given, override it. Raises :class:`ServeConfigError` for a public address
    without ``allow_public``, ``PolicyError`` for a bad policy, before any worker starts.
    """
    from warded.proxy._http_server import GuardedConfig, run  # noqa: PLC0415 (only the serving process needs it)
    from warded.proxy.api.app import check_serve_config  # noqa: PLC0415

    base = spec if spec is not None else load_policy(policy_path).spec.serve
    host = base.host if host is None else host
    port = base.port if port is None else port
    workers = base.workers if workers is None else workers
    public = allow_public or base.allow_public_bind
    if not public and not is_loopback(host):
        raise ServeConfigError(f"refusing to listen on {host!r}: not loopback (pass allow_public=True / --public)")
    try:
        spec = ServeSpec.model_validate(
            {**base.model_dump(), "host": host, "port": port, "workers": workers, "allow_public_bind": public}
        )
    except ValueError as exc:
        raise ServeConfigError(f"bad serve settings: {exc}") from exc
    check_serve_config(policy_path, spec)  # fail here, not in a worker that uvicorn would restart forever
    os.environ["WARDED_SERVE_POLICY"] = os.path.abspath(policy_path)
    os.environ["WARDED_SERVE_SPEC"] = spec.model_dump_json()
    config = GuardedConfig(
        "warded.proxy.api.app:app_from_environment",
        limits=spec.http_limits,
        factory=True,
        lifespan="on",  # a failing startup stops the server instead of serving without a gateway
        host=spec.host,
        port=spec.port,
        workers=spec.workers,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        log_level="warning",
    )
    run(config)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m warded.proxy.api.serve POLICY [--host H] [--port N] [--workers N] [--public] [--spec-json J]``.

    A stand-in for ``warded serve`` until the CLI wires it; ``--spec-json`` is a ``serve:`` section as JSON
    (API keys included), until the policy schema carries it.
    """
    parser = argparse.ArgumentParser(prog="python -m warded.proxy.api.serve")
    parser.add_argument("policy")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--public", action="store_true", help="allow a non-loopback address")
    parser.add_argument("--spec-json", default=None)
    args = parser.parse_args(argv)
    try:
        spec = _spec_from_json(args.spec_json) if args.spec_json else None
        serve(args.policy, args.host, args.port, args.workers, allow_public=args.public, spec=spec)
    except (WardedError, ValueError) as exc:
        message = exc.diagnostics() if isinstance(exc, WardedError) else str(exc)
        print(f"warded serve: {message}", file=sys.stderr)
        return 2
    return 0


def _spec_from_json(text: str) -> ServeSpec:
    try:
        return ServeSpec.model_validate_json(text)
    except ValidationError as exc:
        raise ServeConfigError(f"--spec-json is not a valid serve: section: {exc}") from None


if __name__ == "__main__":
    raise SystemExit(main())
