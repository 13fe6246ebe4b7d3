"""The README's examples run, and its policy is the one the demo ships."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from warded.config.chat import ChatProxySpec
from warded.demo import write_demo_policy
from warded.policy.compile import load_policy

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "warded" / "examples" / "demo.yaml"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_python_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _blocks("python")
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "arg.send_email.to.email" in out
    assert "needs approval:" in out


def test_chat_config_example_validates() -> None:
    (config,) = [b for b in _blocks("yaml") if b.startswith("upstream_url:")]
    spec = ChatProxySpec.model_validate(yaml.safe_load(config))
    assert spec.mask_pii


def test_yaml_example_is_the_shipped_policy_and_loads(tmp_path: Path) -> None:
    policies = [b for b in _blocks("yaml") if b.startswith("# warded.yaml")]
    assert policies == [EXAMPLE.read_text(encoding="utf-8")]
    policy = load_policy(write_demo_policy(str(tmp_path)))
    assert "mail-assistant" in policy.agents
