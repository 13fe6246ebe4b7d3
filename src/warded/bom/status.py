"""The BOM a policy is bound to, as an operator sees it: is one configured, does its signature verify, what
does it list, and how does the running deployment differ from it (``warded bom verify``'s checks, as data).

The console's BOM page renders :func:`bom_status`; ``warded bom verify`` shares :func:`deployment_differences`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from warded.bom.binding import BomBinding, load_binding
from warded.bom.manifest import BomError, Difference, Manifest
from warded.policy.compile import CompiledPolicy

__all__ = ["BomStatus", "bom_status", "deployment_differences"]


@dataclass(frozen=True, slots=True)
class BomStatus:
    """``configured`` False: the policy has no ``bom:`` (and no ``WARDED_BOM``). ``error`` set: the BOM was asked
    for but cannot be read or its signature does not verify (``manifest`` is then None: nothing in it is
    trusted). Otherwise ``refusing`` differences would stop a start; ``warnings`` would not."""

    configured: bool
    path: str = ""
    public_key: str = ""
    serial: str = ""
    error: str = ""
    manifest: Manifest | None = None
    refusing: list[Difference] = field(default_factory=list)
    warnings: list[Difference] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.configured and not self.error and self.manifest is not None

    @property
    def matches(self) -> bool:
        return self.verified and not self.refusing and not self.warnings


def deployment_differences(binding: BomBinding, policy: CompiledPolicy) -> tuple[list[Difference], list[Difference]]:
    """(refusing, warnings): how the deployment of ``policy`` differs from ``binding``'s BOM, including MCP
    servers the policy's own ``mcp:`` section names that the BOM does not list."""
    from warded.bom.generate import collect, deployment_manifest  # noqa: PLC0415 - hashes the deployment

    refusing, warnings = binding.startup_problems(policy)
    found = deployment_manifest(collect(policy))
    for server in sorted(set(found.servers) - set(binding.manifest.servers)):
        refusing.append(Difference("mcp-server", server, None, "configured"))
    return refusing, warnings


def bom_status(policy: CompiledPolicy, environ: dict[str, str] | None = None) -> BomStatus:
    """The BOM ``policy`` is bound to (``bom:`` or ``WARDED_BOM``), verified, and diffed against the deployment.
    Never raises :class:`BomError`: a BOM that does not verify is reported in ``error``."""
    spec = policy.spec.bom
    path = policy.audit_path(spec.path) if spec is not None else ""
    key = policy.audit_path(spec.public_key) if spec is not None else ""
    try:
        binding = load_binding(policy, spec, environ)
    except BomError as exc:
        return BomStatus(True, path, key, error=str(exc))
    if binding is None:
        return BomStatus(False)
    try:
        refusing, warnings = deployment_differences(binding, policy)
    except BomError as exc:
        return BomStatus(True, binding.path, key, binding.serial, f"cannot compare the deployment: {exc}")
    return BomStatus(True, binding.path, key, binding.serial, "", binding.manifest, refusing, warnings)
