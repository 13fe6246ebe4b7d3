"""What a BOM lists, read back from its CycloneDX JSON: the runtime's view of the manifest. Pure.

``warded bom generate`` marks every component and service it writes with a ``warded:kind`` property
(``tool``, ``agent``, ``policy``, ``mcp-server``, ``mcp-tool``, ``model``, ``model-file``, ``detector``,
``dataset``, ``warded``, ``dependency``) and the facts warded checks (``warded:constraints-sha256``,
``warded:definition-sha256``, ``warded:public-key-sha256``, ``warded:approved``). :func:`read_manifest` reads
exactly those back; a component without ``warded:kind`` (one a person added by hand) is kept in the BOM but
grants nothing at run time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from warded.errors import WardedError

__all__ = ["BomError", "Difference", "Manifest", "diff_manifests", "read_manifest"]

RULE_OUT_OF_MANIFEST = "bom.out_of_manifest"


class BomError(WardedError):
    """A BOM cannot be read, its signature does not verify, or the deployment is not what it lists."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything a BOM lists that warded checks, keyed for lookups."""

    tools: Mapping[str, str] = field(default_factory=dict)  # name -> constraints sha256
    tiers: Mapping[str, str] = field(default_factory=dict)  # tool name -> tier
    agents: Mapping[str, str] = field(default_factory=dict)  # id -> public key sha256 ("" without a key)
    servers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # server key -> tool -> definition sha256
    models: Mapping[str, bool] = field(default_factory=dict)  # model name -> approved
    model_files: Mapping[str, str] = field(default_factory=dict)  # path -> sha256
    policy: str = ""  # the policy's sha256 (with its Cedar files)
    detector: str = ""  # the injection classifier's sha256
    dependencies: Mapping[str, str] = field(default_factory=dict)  # distribution -> version

    def sections(self) -> Iterator[tuple[str, Mapping[str, object]]]:
        """Each section as a flat mapping, for diffs."""
        yield "tool", {k: f"{self.tiers.get(k, '?')}:{v}" for k, v in self.tools.items()}
        yield "agent", dict(self.agents)
        yield "mcp-server", {k: len(v) for k, v in self.servers.items()}
        yield "mcp-tool", {f"{s} {t}": d for s, tools in self.servers.items() for t, d in tools.items()}
        yield "model", dict(self.models)
        yield "model-file", dict(self.model_files)
        yield "policy", {"sha256": self.policy} if self.policy else {}
        yield "detector", {"sha256": self.detector} if self.detector else {}
        yield "dependency", dict(self.dependencies)


@dataclass(frozen=True, slots=True)
class Difference:
    """One way two manifests differ: ``old`` is what the BOM lists, ``new`` what was found (``None``: absent)."""

    section: str
    name: str
    old: object
    new: object

    @property
    def change(self) -> str:
        return "added" if self.old is None else "removed" if self.new is None else "changed"

    def line(self) -> str:
        if self.old is None:
            return f"+ {self.section} {self.name}: {self.new} (not in the BOM)"
        if self.new is None:
            return f"- {self.section} {self.name}: {self.old} (in the BOM, not deployed)"
        return f"~ {self.section} {self.name}: {self.old} -> {self.new}"

    def to_json(self) -> dict[str, object]:
        return {"section": self.section, "name": self.name, "change": self.change, "old": self.old, "new": self.new}


def diff_manifests(old: Manifest, new: Manifest) -> list[Difference]:
    """What changed from ``old`` (the BOM) to ``new`` (another BOM, or the deployment), section by section."""
    out: list[Difference] = []
    for (section, a), (_, b) in zip(old.sections(), new.sections(), strict=True):
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                out.append(Difference(section, name, a.get(name), b.get(name)))
    return out


def _props(item: Mapping[str, Any]) -> dict[str, str]:
    props = item.get("properties") or []
    if not isinstance(props, list):
        raise BomError(f"{item.get('name')!r}: properties must be a list")
    out: dict[str, str] = {}
    for p in props:
        if isinstance(p, Mapping) and isinstance(p.get("name"), str) and isinstance(p.get("value"), str):
            out[p["name"]] = p["value"]
    return out


def _sha256(item: Mapping[str, Any]) -> str:
    for h in item.get("hashes") or []:
        if isinstance(h, Mapping) and h.get("alg") == "SHA-256" and isinstance(h.get("content"), str):
            return str(h["content"])
    return ""


def _walk(items: object, key: str) -> Iterator[Mapping[str, Any]]:
    stack = [items]
    while stack:
        current = stack.pop()
        if not isinstance(current, list):
            continue
        for item in current:
            if isinstance(item, Mapping):
                yield item
                stack.append(item.get(key))


def read_manifest(bom: Mapping[str, Any]) -> Manifest:
    """The manifest of a parsed CycloneDX BOM (raises :class:`BomError` on a malformed warded entry)."""
    tools: dict[str, str] = {}
    tiers: dict[str, str] = {}
    agents: dict[str, str] = {}
    servers: dict[str, dict[str, str]] = {}
    models: dict[str, bool] = {}
    files: dict[str, str] = {}
    deps: dict[str, str] = {}
    policy = detector = ""
    for comp in _walk(bom.get("components"), "components"):
        props = _props(comp)
        kind, name = props.get("warded:kind"), str(comp.get("name", ""))
        if kind == "agent":
            agents[name] = props.get("warded:public-key-sha256", "")
        elif kind == "policy":
            policy = _sha256(comp)
        elif kind == "model":
            models[name] = props.get("warded:approved") == "true"
        elif kind == "model-file":
            files[props.get("warded:path", name)] = _sha256(comp)
        elif kind == "detector":
            detector = _sha256(comp)
        elif kind in ("dependency", "warded"):
            deps[name] = str(comp.get("version", ""))
    metadata = bom.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("component"), Mapping):
        top = metadata["component"]
        if _props(top).get("warded:kind") == "warded":
            deps[str(top.get("name", ""))] = str(top.get("version", ""))
    for svc in _walk(bom.get("services"), "services"):
        props = _props(svc)
        kind, name = props.get("warded:kind"), str(svc.get("name", ""))
        if kind == "tool":
            if "warded:constraints-sha256" not in props:
                raise BomError(f"tool {name!r} has no warded:constraints-sha256")
            tools[name] = props["warded:constraints-sha256"]
            tiers[name] = props.get("warded:tier", "")
        elif kind == "mcp-server":
            listed = servers.setdefault(name, {})
            for sub in svc.get("services") or []:
                sub_props = _props(sub) if isinstance(sub, Mapping) else {}
                if sub_props.get("warded:kind") == "mcp-tool":
                    digest = sub_props.get("warded:definition-sha256")
                    if not digest:
                        raise BomError(f"MCP tool {sub.get('name')!r} of {name!r} has no warded:definition-sha256")
                    listed[str(sub.get("name", ""))] = digest
    return Manifest(tools, tiers, agents, servers, models, files, policy, detector, deps)
