"""The AI bill of materials: a signed CycloneDX 1.6 ML-BOM of a deployment, verified, diffed, and bound to
runtime (what it does not list is refused at start-up and denied with an alert at run time)."""

from warded.bom.binding import BomBinding, load_binding
from warded.bom.manifest import RULE_OUT_OF_MANIFEST, BomError, Difference, Manifest, diff_manifests, read_manifest

__all__ = [
    "RULE_OUT_OF_MANIFEST",
    "BomBinding",
    "BomError",
    "Difference",
    "Manifest",
    "diff_manifests",
    "load_binding",
    "read_manifest",
]
