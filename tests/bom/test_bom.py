"""The AI bill of materials: generated as CycloneDX 1.6 (schema-valid), signed, verified, diffed, and bound to
runtime (refused at start-up, denied and alerted at run time); model files hashed and pickle-scanned."""

from __future__ import annotations

import json
import os
import pickle
import re
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from warded.audit.keys import generate_keypair
from warded.bom.artefacts import ScanStatus, scan_model_file
from warded.bom.binding import ENV_BOM, ENV_BOM_KEY, load_binding
from warded.bom.commands import bom_diff, bom_generate, bom_verify
from warded.bom.generate import DETECTOR_SOURCES
from warded.bom.manifest import BomError
from warded.bom.sign import load_signed_bom
from warded.cli import main
from warded.config.serve import ServeSpec
from warded.core.types import Action, Verdict
from warded.gateway.gateway import Gateway
from warded.policy.compile import load_policy
from warded.proxy.api.app import check_serve_config

ROOT = Path(__file__).resolve().parents[2]

POLICY = """
version: 1
agents:
  coder-1:
    tools: [read_file, write_file]
    public_key: coder.key.pub
tools:
  read_file:
    tier: read
    args:
      path: {type: string, required: true, path: {roots: ["/srv/app"]}}
  write_file:
    tier: write
    args:
      path: {type: string, required: true, path: {roots: ["/srv/app/out"]}}
audit: {path: audit.db, key: audit.key}
scan: {enabled: false}
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deployment with a signed BOM (generated once for the module: it hashes every installed package)."""
    d = tmp_path_factory.mktemp("bom")
    (d / "warded.yaml").write_text(POLICY, encoding="utf-8")
    generate_keypair(d / "coder.key")
    generate_keypair(d / "bom.key")
    (d / "chat.yaml").write_text(
        json.dumps(
            {
                "upstream_url": "https://api.openai.example/v1",
                "models": ["gpt-4o", "gpt-4o-mini"],
                "clients": [{"key": "client-key-0123456789abcdef", "agent": "coder-1"}],
            }
        ),
        encoding="utf-8",
    )
    made = bom_generate(
        str(d / "warded.yaml"),
        str(d / "bom.json"),
        key=str(d / "bom.key"),
        chat_configs=[str(d / "chat.yaml")],
        model_files=[_clean_pickle(d)],
    )
    assert made.signature == str(d / "bom.json") + ".sig" and not made.unsafe
    return d


def _clean_pickle(d: Path) -> str:
    path = d / "weights.pkl"
    path.write_bytes(pickle.dumps({"w": [0.5, 1.5], "b": 0.1}))
    return str(path)


def test_the_bom_lists_the_deployment_and_is_valid_cyclonedx(deployment: Path) -> None:
    bom = json.loads((deployment / "bom.json").read_text(encoding="utf-8"))
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    kinds: dict[str, list[dict[str, Any]]] = {}
    for item in [*bom["components"], *bom["services"]]:
        kind = next(p["value"] for p in item["properties"] if p["name"] == "warded:kind")
        kinds.setdefault(kind, []).append(item)
    assert {t["name"] for t in kinds["tool"]} == {"read_file", "write_file"}
    assert {m["name"] for m in kinds["model"]} == {"gpt-4o", "gpt-4o-mini"}
    assert all(m["type"] == "machine-learning-model" and m["publisher"] == "api.openai.example" for m in kinds["model"])
    (agent,) = kinds["agent"]
    assert re.fullmatch(r"[0-9a-f]{16}", next(p["value"] for p in agent["properties"] if "public-key" in p["name"]))
    (policy,) = kinds["policy"]
    assert policy["hashes"][0]["content"] == load_policy(deployment / "warded.yaml").digest
    (detector,) = kinds["detector"]
    assert {c["name"] for c in detector["components"]} == {n for n, _, _ in DETECTOR_SOURCES}
    (weights,) = kinds["model-file"]
    assert {"name": "warded:pickle-scan", "value": "clean"} in weights["properties"]
    names = {c["name"] for c in kinds["dependency"]}
    assert {"cedarpy", "pydantic", "cryptography", "mcp"} <= names
    assert bom["metadata"]["component"]["name"] == "warded"


def test_detector_sources_are_the_wheels_data_md_names() -> None:
    text = (ROOT / "DATA.md").read_text(encoding="utf-8")
    section = text.split("## Wheels", 1)[1].split("##", 1)[0]
    rows = {
        tuple(c.strip() for c in line.strip("|").split("|")[:3])
        for line in section.splitlines()
        if line.startswith("| ")
    }
    assert {(n, v, lic) for n, v, lic in DETECTOR_SOURCES} <= rows


def test_signature_verifies_and_any_change_or_another_key_is_refused(deployment: Path, tmp_path: Path) -> None:
    pub = deployment / "bom.key.pub"
    assert load_signed_bom(deployment / "bom.json", pub)["specVersion"] == "1.6"
    data = (deployment / "bom.json").read_bytes()
    forged = tmp_path / "bom.json"
    forged.write_bytes(data.replace(b'"gpt-4o-mini"', b'"gpt-4x-evil"'))
    (tmp_path / "bom.json.sig").write_bytes((deployment / "bom.json.sig").read_bytes())
    with pytest.raises(BomError, match="changed after signing"):
        load_signed_bom(forged, pub)
    generate_keypair(tmp_path / "other.key")
    with pytest.raises(BomError, match="signed by key"):
        load_signed_bom(deployment / "bom.json", tmp_path / "other.key.pub")
    (tmp_path / "bom.json.sig").unlink()
    with pytest.raises(BomError, match="cannot read BOM signature"):
        load_signed_bom(forged, pub)


def test_a_signed_bom_that_is_not_cyclonedx_is_refused(deployment: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": "nope"}), encoding="utf-8")
    assert main(["bom", "sign", str(bad), "--key", str(deployment / "bom.key")]) == 0
    with pytest.raises(BomError, match=r"not a valid CycloneDX 1\.6 BOM"):
        load_signed_bom(bad, deployment / "bom.key.pub")


def test_verify_and_diff_from_the_cli(deployment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bom, pub, policy = str(deployment / "bom.json"), str(deployment / "bom.key.pub"), str(deployment / "warded.yaml")
    assert main(["bom", "verify", bom, "--pubkey", pub, "--policy", policy]) == 0
    assert "matches the BOM" in capsys.readouterr().out
    other = json.loads((deployment / "bom.json").read_text(encoding="utf-8"))
    for comp in other["components"]:
        if comp["name"] == "gpt-4o-mini":
            comp["name"] = "gpt-5"
    (tmp_path / "new.json").write_text(json.dumps(other), encoding="utf-8")
    assert main(["bom", "diff", bom, str(tmp_path / "new.json")]) == 1
    out = capsys.readouterr().out
    assert "+ model gpt-5" in out and "- model gpt-4o-mini" in out
    assert [d.change for d in bom_diff(bom, bom)] == []


def test_a_changed_policy_is_refused_at_start_up(deployment: Path, tmp_path: Path) -> None:
    changed = POLICY.replace("tools: [read_file, write_file]", "tools: [read_file, write_file, shell]")
    changed = changed.replace("audit:", "  shell: {tier: privileged}\naudit:", 1)
    bound = f"bom: {{path: {deployment / 'bom.json'}, public_key: {deployment / 'bom.key.pub'}}}"
    for name in ("coder.key", "coder.key.pub"):
        (tmp_path / name).write_bytes((deployment / name).read_bytes())
    (tmp_path / "warded.yaml").write_text(
        changed + bound + "\n",
        encoding="utf-8",
    )
    with pytest.raises(BomError) as info:
        Gateway.from_file(tmp_path / "warded.yaml")
    text = info.value.diagnostics()
    assert "+ tool shell" in text and "~ policy sha256" in text
    with pytest.raises(BomError, match=r"\+ tool shell"):  # `warded serve` checks before any worker starts
        check_serve_config(str(tmp_path / "warded.yaml"), ServeSpec())
    refusing, _ = bom_verify(
        str(deployment / "bom.json"), str(deployment / "bom.key.pub"), str(tmp_path / "warded.yaml")
    )
    assert {d.section for d in refusing} >= {"tool", "policy"}


def test_runtime_calls_outside_the_bom_are_denied_and_alerted(
    deployment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_BOM, str(deployment / "bom.json"))
    monkeypatch.setenv(ENV_BOM_KEY, str(deployment / "bom.key.pub"))
    with Gateway.from_file(deployment / "warded.yaml") as gw:
        assert gw.bom is not None
        ok = gw.check(Action("coder-1", "s", "read_file", {"path": "/srv/app/a.txt"}))
        assert ok.verdict is Verdict.ALLOW
        outside = gw.check(Action("coder-1", "s", "curl", {"url": "https://x.example"}))
        assert outside.verdict is Verdict.DENY and outside.rule_ids == ("bom.out_of_manifest",)
        assert gw.bom.check_model("gpt-4o") is None
        assert gw.bom.check_model("llama-3-70b") is not None
        assert gw.bom.check_mcp_tool("stdio:x", "t", "0" * 64) is not None
    with sqlite3.connect(deployment / "audit.db") as db:
        rows = db.execute("SELECT kind, body FROM audit_entries ORDER BY seq").fetchall()
    alerts = [json.loads(b) for k, b in rows if k == "alert"]
    assert alerts[-1]["rule_id"] == "bom.out_of_manifest" and alerts[-1]["tool"] == "curl"
    started = [json.loads(b) for k, b in rows if k == "gateway_started"][-1]
    assert started["bom"]["path"] == str(deployment / "bom.json")


def test_a_bound_bom_without_a_key_or_signature_refuses_the_start(deployment: Path, tmp_path: Path) -> None:
    policy = load_policy(deployment / "warded.yaml")
    with pytest.raises(BomError, match="no public key"):
        load_binding(policy, None, {ENV_BOM: str(deployment / "bom.json")})
    (tmp_path / "unsigned.json").write_bytes((deployment / "bom.json").read_bytes())
    with pytest.raises(BomError, match="signature"):
        load_binding(
            policy, None, {ENV_BOM: str(tmp_path / "unsigned.json"), ENV_BOM_KEY: str(deployment / "bom.key.pub")}
        )
    assert load_binding(policy, None, {}) is None


# -- model artefacts: crafted pickles ------------------------------------------------------------


class _Gadget:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("echo pwned",))


class _Eval:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (eval, ("1+1",))


_ST_HEADER = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
_SAFETENSORS = len(_ST_HEADER).to_bytes(8, "little") + _ST_HEADER + b"\x00\x00\x80\x3f"


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    ("name", "make", "status", "finding"),
    [
        ("clean.pkl", lambda: pickle.dumps({"w": [1.0, 2.0]}), ScanStatus.CLEAN, None),
        ("reduce.pkl", lambda: pickle.dumps(_Gadget(), protocol=2), ScanStatus.UNSAFE, "system (dangerous)"),
        ("eval4.pkl", lambda: pickle.dumps(_Eval(), protocol=4), ScanStatus.UNSAFE, "builtins.eval (dangerous)"),
        ("truncated.pkl", lambda: pickle.dumps(_Gadget())[:18], ScanStatus.UNSAFE, "could not be parsed"),
        ("garbage.bin", lambda: b"\x00\x01not a pickle", ScanStatus.UNSAFE, "not a format warded recognises"),
        ("model.safetensors", lambda: _SAFETENSORS, ScanStatus.NO_PICKLE, None),
    ],
)
def test_pickle_scan_on_crafted_files(tmp_path: Path, name: str, make: Any, status: str, finding: str | None) -> None:
    art = scan_model_file(_write(tmp_path / name, make()))
    assert art.status == status
    assert len(art.sha256) == 64 and art.size > 0
    if finding is not None:
        assert any(finding in f for f in art.findings), art.findings


def test_pickle_inside_a_torch_style_zip_is_scanned(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(_Gadget(), protocol=2))
        z.writestr("archive/version", "3\n")
    art = scan_model_file(path)
    assert art.status == ScanStatus.UNSAFE and any("system" in f for f in art.findings)


def test_generate_flags_an_unsafe_model_file_and_exits_1(
    deployment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = _write(tmp_path / "evil.pkl", pickle.dumps(_Gadget()))
    code = main(
        [
            "bom",
            "generate",
            "--policy",
            str(deployment / "warded.yaml"),
            "--out",
            str(tmp_path / "b.json"),
            "--model-file",
            evil,
        ]
    )
    out = capsys.readouterr().out
    assert code == 1 and "UNSAFE model file" in out and "UNSIGNED" in out


def test_a_bom_listing_an_unsafe_model_file_refuses_the_start(deployment: Path, tmp_path: Path) -> None:
    evil = _write(tmp_path / "evil.pkl", pickle.dumps(_Gadget()))
    for name in ("warded.yaml", "coder.key", "coder.key.pub"):
        (tmp_path / name).write_bytes((deployment / name).read_bytes())
    bom_generate(
        str(tmp_path / "warded.yaml"), str(tmp_path / "b.json"), key=str(deployment / "bom.key"), model_files=[evil]
    )
    refusing, _ = bom_verify(str(tmp_path / "b.json"), str(deployment / "bom.key.pub"), str(tmp_path / "warded.yaml"))
    assert [(d.section, d.name) for d in refusing] == [("model-file", evil)]
    assert "system (dangerous)" in str(refusing[0].new)
