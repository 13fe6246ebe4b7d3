"""The library behind ``warded bom generate|sign|verify|diff`` (the CLI only parses and prints)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from warded.bom.generate import ModelEntry, collect, models_from_chat, render_bom
from warded.bom.manifest import BomError, Difference, Manifest, diff_manifests, read_manifest
from warded.bom.sign import load_signed_bom, sign_bom
from warded.config._yaml import load_model
from warded.config.chat import ChatProxySpec
from warded.config.mcp import McpSpec
from warded.errors import WardedError
from warded.jsonio import loads
from warded.policy.compile import load_policy

__all__ = ["Generated", "bom_diff", "bom_generate", "bom_verify"]


@dataclass(frozen=True, slots=True)
class Generated:
    path: str
    signature: str | None
    manifest: Manifest
    unsafe: tuple[str, ...]  # model files the pickle scan flagged

    def summary(self) -> str:
        m = self.manifest
        mcp_tools = sum(len(t) for t in m.servers.values())
        lines = [
            f"wrote {self.path} (CycloneDX 1.6 ML-BOM, schema-valid)"
            + (f", signed: {self.signature}" if self.signature else ", UNSIGNED (pass --key to sign)"),
            f"  policy      sha256:{m.policy[:16]}...",
            f"  agents      {len(m.agents)}: {', '.join(sorted(m.agents))}",
            f"  tools       {len(m.tools)}: {', '.join(sorted(m.tools))}",
            f"  mcp servers {len(m.servers)} ({mcp_tools} pinned tool definitions)",
            f"  models      {len(m.models)} approved: {', '.join(sorted(k for k, v in m.models.items() if v)) or '-'}",
            f"  model files {len(m.model_files)}",
            f"  detector    sha256:{m.detector[:16]}...",
            f"  packages    {len(m.dependencies)} (warded and its installed dependencies)",
        ]
        lines += [f"  UNSAFE model file: {u}" for u in self.unsafe]
        return "\n".join(lines)


def _chat_models(paths: Sequence[str]) -> list[ModelEntry]:
    out: list[ModelEntry] = []
    for path in paths:
        spec = load_model(path, ChatProxySpec, what="chat proxy config")
        out.extend(models_from_chat(spec.upstream_url, spec.models))
    return out


def bom_generate(
    policy_path: str,
    out: str,
    *,
    key: str | None = None,
    chat_configs: Sequence[str] = (),
    mcp_configs: Sequence[str] = (),
    models: Sequence[str] = (),
    model_files: Sequence[str] = (),
) -> Generated:
    """Write the BOM of the deployment of ``policy_path`` to ``out`` (and sign it with ``key``)."""
    policy = load_policy(policy_path)
    mcp = [load_model(p, McpSpec, what="MCP config", allow_empty=True) for p in mcp_configs]
    entries = _chat_models(chat_configs) + [_model_entry(m) for m in models]
    dep = collect(policy, mcp_specs=mcp, models=entries, model_files=[os.path.abspath(f) for f in model_files])
    text = render_bom(dep)
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as exc:
        raise BomError(f"cannot write {out!r}: {exc.strerror or exc}") from exc
    signature = sign_bom(out, key) if key else None
    unsafe = tuple(f"{a.path}: {'; '.join(a.findings)}" for a in dep.files if not a.safe)
    return Generated(out, signature, read_manifest(json.loads(text)), unsafe)


def _model_entry(text: str) -> ModelEntry:
    """``NAME`` or ``NAME@PROVIDER`` or ``NAME@PROVIDER:VERSION`` from ``--model``."""
    name, _, rest = text.partition("@")
    provider, _, version = rest.partition(":")
    if not name:
        raise BomError(f"--model {text!r}: give NAME[@PROVIDER[:VERSION]]")
    return ModelEntry(name, provider, version)


def bom_verify(bom_path: str, public_key: str, policy_path: str) -> tuple[list[Difference], list[Difference]]:
    """Check the signature and schema of the BOM, then the deployment of ``policy_path`` against it:
    (refusing differences, warnings). Raises :class:`BomError` if the BOM itself does not verify."""
    from warded.bom.binding import BomBinding  # noqa: PLC0415
    from warded.bom.status import deployment_differences  # noqa: PLC0415

    bom = load_signed_bom(bom_path, public_key)
    binding = BomBinding(bom_path, read_manifest(bom), str(bom.get("serialNumber", "")))
    # MCP servers the policy's own mcp: section names must be listed too.
    return deployment_differences(binding, load_policy(policy_path))


def _manifest(path: str) -> Manifest:
    try:
        with open(path, "rb") as handle:
            data = loads(handle.read())
    except OSError as exc:
        raise BomError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
    except WardedError as exc:
        raise BomError(f"{path!r} is not JSON: {exc.diagnostics()}") from exc
    if not isinstance(data, dict):
        raise BomError(f"{path!r} is not a CycloneDX BOM")
    return read_manifest(data)


def bom_diff(old: str, new: str) -> list[Difference]:
    """What changed between two BOM files (signatures are not checked: use ``verify`` for that)."""
    return diff_manifests(_manifest(old), _manifest(new))
