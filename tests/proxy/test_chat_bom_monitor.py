"""The chat proxy and issue 12. Bound to a BOM, it forwards only to models on the BOM's approved list: a model
the config allows (by pattern) but the BOM does not approve is refused before the upstream is called, with an
alert; a config naming an unapproved model exactly does not start. With ``monitor:``, the completions it relays
feed the behavioural monitor: a model that starts refusing is alerted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import openai
import pytest
from servers.openai_upstream import MODEL, Upstream, completion, serve

from warded.audit.keys import generate_keypair
from warded.bom.binding import ENV_BOM, ENV_BOM_KEY
from warded.bom.commands import bom_generate
from warded.config.chat import ChatProxySpec
from warded.errors import WardedError
from warded.gateway.gateway import Gateway
from warded.proxy.chat.app import build_chat_app, create_chat_app

POLICY = """
version: 1
agents:
  agent-a: {tools: []}
audit: {path: audit.db, key: audit.key}
"""
CLIENT_KEY = "client-key-0123456789abcdef"


def test_only_models_the_bom_approves_are_forwarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "warded.yaml").write_text(POLICY, encoding="utf-8")
    generate_keypair(tmp_path / "bom.key")
    bom_generate(
        str(tmp_path / "warded.yaml"),
        str(tmp_path / "bom.json"),
        key=str(tmp_path / "bom.key"),
        models=["fake-model-1@upstream.test"],
    )
    monkeypatch.setenv(ENV_BOM, str(tmp_path / "bom.json"))
    monkeypatch.setenv(ENV_BOM_KEY, str(tmp_path / "bom.key.pub"))
    upstream = Upstream(script=lambda _: completion("hello"))
    with serve(upstream.app()) as url:
        spec = ChatProxySpec.model_validate(
            {
                "upstream_url": url + "/v1",
                "clients": [{"key": CLIENT_KEY, "agent": "agent-a"}],
                "models": ["fake-model-*"],
            }
        )
        gw = Gateway.from_file(tmp_path / "warded.yaml")
        try:
            with (
                serve(build_chat_app(gw, spec), lifespan="on") as proxy,
                openai.OpenAI(base_url=proxy + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10) as client,
            ):
                ok = client.chat.completions.create(model="fake-model-1", messages=[{"role": "user", "content": "hi"}])
                assert ok.choices[0].message.content == "hello"
                with pytest.raises(openai.PermissionDeniedError) as info:
                    client.chat.completions.create(model="fake-model-2", messages=[{"role": "user", "content": "hi"}])
                assert info.value.code == "bom.out_of_manifest" and "approved list" in str(info.value)
        finally:
            gw.close()
    assert [r["model"] for r in upstream.requests] == ["fake-model-1"]
    with sqlite3.connect(tmp_path / "audit.db") as db:
        alerts = [json.loads(b) for (b,) in db.execute("SELECT body FROM audit_entries WHERE kind = 'alert'")]
    assert [(a["rule_id"], a["model"]) for a in alerts] == [("bom.out_of_manifest", "fake-model-2")]
    exact = ChatProxySpec.model_validate(
        {
            "upstream_url": "http://127.0.0.1:9/v1",
            "clients": [{"key": CLIENT_KEY, "agent": "agent-a"}],
            "models": ["gpt-9"],
        }
    )
    with pytest.raises(WardedError, match="not approved in the BOM"):
        create_chat_app(tmp_path / "warded.yaml", exact)


def test_a_model_that_starts_refusing_is_alerted(tmp_path: Path) -> None:
    (tmp_path / "warded.yaml").write_text(POLICY + "monitor: {baseline: 60, window: 10}\n", encoding="utf-8")
    answers = iter([completion("fine") for _ in range(60)] + [_refusal() for _ in range(10)])
    upstream = Upstream(script=lambda _: next(answers))
    with serve(upstream.app()) as url:
        spec = ChatProxySpec.model_validate(
            {"upstream_url": url + "/v1", "clients": [{"key": CLIENT_KEY, "agent": "agent-a"}], "models": [MODEL]}
        )
        gw = Gateway.from_file(tmp_path / "warded.yaml")
        try:
            with (
                serve(build_chat_app(gw, spec), lifespan="on") as proxy,
                openai.OpenAI(base_url=proxy + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10) as client,
            ):
                for i in range(70):
                    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i % 5}"}])
        finally:
            gw.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        alerts = [json.loads(b) for (b,) in db.execute("SELECT body FROM audit_entries WHERE kind = 'alert'")]
    assert len(alerts) == 1 and alerts[0]["rule_id"] == "monitor.anomaly"
    assert "model completions that refused" in alerts[0]["message"]


def _refusal() -> Any:
    reply = completion(None)
    reply.body["choices"][0]["message"]["refusal"] = "I'm sorry, I can't help with that."
    return reply
