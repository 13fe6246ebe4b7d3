"""A BOM bound to runtime: what the signed BOM does not list is refused at start-up, and denied and alerted
(``bom.out_of_manifest``) at run time.

The gateway loads a :class:`BomBinding` from ``bom:`` in the policy, or from ``WARDED_BOM`` /
``WARDED_BOM_KEY`` (set by ``warded serve|mcp|chat --bom FILE [--bom-key PUB]``). At start-up
:meth:`BomBinding.startup_problems` compares the deployment with the BOM: a tool, agent, policy, detector
or model file that differs from what the BOM lists stops the start (a dependency version that differs is a
warning, recorded in the audit log). At run time the checks below return a :class:`Reason` that the caller
turns into a recorded DENY and an alert. They are pure lookups in frozen data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from warded.bom.manifest import RULE_OUT_OF_MANIFEST, BomError, Difference, Manifest, diff_manifests, read_manifest
from warded.bom.sign import load_signed_bom
from warded.config.monitor import BomSpec
from warded.core.types import Reason
from warded.policy.compile import CompiledPolicy

__all__ = ["ENV_BOM", "ENV_BOM_KEY", "BomBinding", "load_binding"]

ENV_BOM = "WARDED_BOM"
ENV_BOM_KEY = "WARDED_BOM_KEY"
#: Sections whose difference stops a start; the rest (dependencies) are warnings.
REFUSING = frozenset({"tool", "agent", "policy", "detector", "model-file"})


@dataclass(frozen=True, slots=True)
class BomBinding:
    """The manifest of a verified BOM and where it came from."""

    path: str
    manifest: Manifest
    serial: str = ""

    # -- start-up ----------------------------------------------------------------------------------

    def startup_problems(self, policy: CompiledPolicy) -> tuple[list[Difference], list[Difference]]:
        """(refusing, warnings): how the deployment of ``policy`` differs from the BOM. Collected fresh
        (hashing the policy, the detector, listed model files and the installed distributions); a listed
        model file whose pickle scan finds code execution refuses too, even if the BOM lists it."""
        from warded.bom.generate import collect, deployment_manifest  # noqa: PLC0415 - start-up only

        dep = collect(policy, model_files=list(self.manifest.model_files))
        found = deployment_manifest(dep)
        listed = Manifest(
            self.manifest.tools,
            self.manifest.tiers,
            self.manifest.agents,
            {},
            {},
            self.manifest.model_files,
            self.manifest.policy,
            self.manifest.detector,
            self.manifest.dependencies,
        )
        found = Manifest(
            found.tools,
            found.tiers,
            found.agents,
            {},
            {},
            found.model_files,
            found.policy,
            found.detector,
            found.dependencies,
        )
        refusing: list[Difference] = []
        warnings: list[Difference] = []
        for diff in diff_manifests(listed, found):
            (refusing if diff.section in REFUSING else warnings).append(diff)
        for art in dep.files:  # a listed model file that can execute code on load is never started with
            if not art.safe:
                refusing.append(Difference("model-file", art.path, "listed", f"unsafe: {'; '.join(art.findings)}"))
        return refusing, warnings

    def check_server(self, server: str) -> Reason | None:
        if server in self.manifest.servers:
            return None
        return Reason(RULE_OUT_OF_MANIFEST, f"MCP server {server!r} is not in the BOM {self.path!r}")

    def check_models(self, models: list[str]) -> Reason | None:
        """Start-up of the chat proxy: every model it may forward to is on the BOM's approved list."""
        missing = [m for m in models if not self.manifest.models.get(m, False)]
        if not missing:
            return None
        return Reason(RULE_OUT_OF_MANIFEST, f"models not approved in the BOM {self.path!r}: {', '.join(missing)}")

    # -- run time ------------------------------------------------------------------------------------

    def check_tool(self, tool: object) -> Reason | None:
        if isinstance(tool, str) and tool in self.manifest.tools:
            return None
        return Reason(RULE_OUT_OF_MANIFEST, f"tool {tool!r} is not in the BOM")

    def check_mcp_tool(self, server: str, tool: str, digest: str) -> Reason | None:
        listed = self.manifest.servers.get(server)
        if listed is None:
            return Reason(RULE_OUT_OF_MANIFEST, f"MCP server {server!r} is not in the BOM")
        pinned = listed.get(tool)
        if pinned is None:
            return Reason(
                RULE_OUT_OF_MANIFEST, f"MCP server {server!r} offers tool {tool!r}, which the BOM does not list"
            )
        if pinned != digest:
            return Reason(
                RULE_OUT_OF_MANIFEST,
                f"the definition of MCP tool {tool!r} is not the one in the BOM (digest {digest[:16]}..., "
                f"BOM {pinned[:16]}...)",
            )
        return None

    def check_model(self, model: object) -> Reason | None:
        if isinstance(model, str) and self.manifest.models.get(model, False):
            return None
        return Reason(RULE_OUT_OF_MANIFEST, f"model {model!r} is not on the BOM's approved list")


def load_binding(
    policy: CompiledPolicy, spec: BomSpec | None, environ: dict[str, str] | None = None
) -> BomBinding | None:
    """The binding asked for by ``WARDED_BOM``/``WARDED_BOM_KEY`` (which win) or ``spec``; ``None`` if neither.
    Raises :class:`BomError` when the BOM cannot be read or verified: a BOM that was asked for and cannot be
    checked stops the start."""
    env = os.environ if environ is None else environ
    path = env.get(ENV_BOM) or (policy.audit_path(spec.path) if spec is not None else None)
    if not path:
        return None
    key = env.get(ENV_BOM_KEY) or (policy.audit_path(spec.public_key) if spec is not None else None)
    if not key:
        raise BomError(f"the BOM {path!r} is bound to runtime but no public key is named to verify its signature")
    bom = load_signed_bom(path, key)
    return BomBinding(path, read_manifest(bom), str(bom.get("serialNumber", "")))


def bind_at_start_up(policy: CompiledPolicy) -> BomBinding | None:
    """The binding for ``policy`` (see :func:`load_binding`), once the deployment matches it: raises
    :class:`BomError` listing every refusing difference; warnings are printed on stderr."""
    import sys  # noqa: PLC0415

    bom = load_binding(policy, policy.spec.bom)
    if bom is None:
        return None
    refusing, warnings = bom.startup_problems(policy)
    for diff in warnings:
        print(f"warded: BOM {bom.path}: {diff.line()}", file=sys.stderr)
    if refusing:
        lines = "\n  ".join(d.line() for d in refusing)
        raise BomError(f"the deployment is not what the BOM {bom.path!r} lists:\n  {lines}")
    return bom


__all__ += ["BomError", "bind_at_start_up"]
