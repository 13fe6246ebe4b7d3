"""Shared fixtures. Tests are sealed: no outbound network."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from warded.policy.compile import CompiledPolicy, load_policy

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
        return _real_connect(self, address)  # type: ignore[arg-type]
    raise RuntimeError(f"tests are sealed: outbound connection to {address!r} blocked")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "warded.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def compile_policy(write_policy: Callable[[str], Path]) -> Callable[[str], CompiledPolicy]:
    def compile_(text: str) -> CompiledPolicy:
        return load_policy(write_policy(text))

    return compile_
