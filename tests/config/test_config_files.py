"""Chat and MCP configuration files go through the policy's safe YAML loader: refused whole, located."""

from __future__ import annotations

from pathlib import Path

import pytest

from warded.config._keys import hash_api_key
from warded.config._yaml import load_model
from warded.config.chat import ChatProxySpec
from warded.config.mcp import McpSpec
from warded.errors import ConfigError

GOOD = """\
upstream_url: https://api.example/v1
models: [gpt-4o-mini]
clients:
  - {key: "a-long-random-client-key-1", agent: support-bot}
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chat.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_chat_config_loads(tmp_path: Path) -> None:
    spec = load_model(_file(tmp_path, GOOD), ChatProxySpec, what="chat proxy config")
    assert spec.clients[0].key_sha256 == hash_api_key("a-long-random-client-key-1")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (GOOD + "models: [x]\n", 5, "duplicate key 'models'"),
        (GOOD.replace("models: [gpt-4o-mini]", "models: &m [gpt-4o-mini]") + "x: *m\n", 2, "anchors"),
        (GOOD + "mask_pii: !!python/object:os.system x\n", 5, "tags"),
        (GOOD + "mask_pii: maybe\n", 5, "mask_pii"),
        (GOOD + "colour: blue\n", 5, "unknown key"),
        (GOOD + "  - {key: short, agent: a}\n", 5, "clients.1"),
        ("", 1, "is empty"),
        ("[1, 2]\n", 1, "must be a mapping"),
        (GOOD + "a: [\n", 6, "YAML syntax error"),
    ],
    ids=["duplicate", "alias", "tag", "bad-type", "unknown-key", "short-key", "empty", "list", "syntax"],
)
def test_a_bad_chat_config_is_a_located_refusal(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_model(path, ChatProxySpec, what="chat proxy config")
    problems = info.value.problems
    assert any(p.line == line and words in p.message for p in problems), problems
    assert all(p.file == str(path) for p in problems)
    assert info.value.diagnostics().startswith("chat proxy config refused")


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chat proxy config refused"):
        load_model(tmp_path / "missing.yaml", ChatProxySpec, what="chat proxy config")


def test_an_empty_mcp_config_is_the_defaults(tmp_path: Path) -> None:
    assert load_model(_file(tmp_path, ""), McpSpec, what="MCP config", allow_empty=True) == McpSpec()
