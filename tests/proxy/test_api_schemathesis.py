"""Schemathesis against the decision API's OpenAPI document, served by a real uvicorn on loopback: every
documented operation, generated inputs (valid and invalid), every response checked against the document."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from warded.audit.keys import generate_keypair
from warded.config.serve import hash_api_key
from warded.proxy.api._openapi import openapi_document

POLICY = """\
version: 1
agents:
  mailer:
    tools: [read_inbox, pay]
tools:
  read_inbox:
    tier: read
    args:
      folder: {type: string}
  pay:
    tier: financial
    args:
      amount: {type: number, required: true, number: {min: 0, max: 1000}}
approval:
  tiers: [financial]
  approvers: {alice: alice.key.pub}
input:
  decision_timeout_ms: 10000
"""

KEY = "wdk_schemathesis-key"
_DOC = openapi_document()["paths"]
OPERATIONS = [(path, method) for path, item in _DOC.items() for method in item]
# Negative cases need something to break: a parameter or a body.
CASES = [
    pytest.param(path, method, mode, id=f"{method.upper()} {path} {mode.value}")
    for path, method in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or {"parameters", "requestBody"} & set(_DOC[path][method])
]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("schemathesis")
    generate_keypair(root / "alice.key")
    (root / "warded.yaml").write_text(POLICY, encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # A generous handler timeout: a loaded CI machine must not turn a slow answer into a 503 and a flake.
    spec = json.dumps({"api_keys": {"mailer": hash_api_key(KEY)}, "request_timeout_s": 120})
    command = [sys.executable, "-m", "warded.proxy.api.serve", str(root / "warded.yaml"), "--port", str(port)]
    process = subprocess.Popen([*command, "--spec-json", spec], cwd=root, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def api_schema(base_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_api_conforms_to_its_openapi_document(
    api_schema: Any, base_url: str, path: str, method: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"})

    check()
