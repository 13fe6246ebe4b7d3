"""Finding scanners by name. Built-ins register exactly like third-party scanners: as entry points in
the ``warded.scanners`` group (see ``pyproject.toml``). Nothing is imported until a policy names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from warded.errors import WardedError
from warded.scan.types import Scanner

GROUP = "warded.scanners"

#: The built-in scanners a policy gets when it does not list its own.
DEFAULT_SCANNERS = (
    "hidden_text",
    "injection_rules",
    "injection_classifier",
    "pii",
    "secrets",
    "exfiltration",
)


#: Named by a policy to add the sentence-encoder injection detector (``injection_encoder``, gated: it reads only
#: texts that hold a cue addressed to an AI or that the n-gram model finds uncertain). Not a default: a text that
#: opens the gate costs tens of milliseconds of CPU per window read, and the pipeline's warm-up seconds
#: (see docs/scanning.md).
ENCODER_SCANNERS = (*DEFAULT_SCANNERS[:3], "injection_encoder", *DEFAULT_SCANNERS[3:])


class ScannerLoadError(WardedError):
    """A scanner named in the policy could not be found or built."""


def available() -> dict[str, str]:
    """Scanner name -> ``module:attr`` for every installed scanner (nothing is imported)."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def check_scanner_options(name: str, options: Mapping[str, Any] | None = None) -> None:
    """Refuse, before anything is built, options the scanner registered as ``name`` cannot honour: its
    factory's ``check_options(options)`` runs if it declares one (an optional model that is not installed,
    an unknown region). Raises :class:`ScannerLoadError`; a scanner without the hook is checked when built."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if len(matches) != 1:
        return  # reported by the name check (none) or by load_scanner (several)
    try:
        factory = matches[0].load()
        check = getattr(factory, "check_options", None)
        if callable(check):
            check(dict(options or {}))
    except Exception as exc:
        raise ScannerLoadError(f"scanner {name!r}: {exc}") from exc


def load_scanner(name: str, options: Mapping[str, Any] | None = None) -> Scanner:
    """Import and build the scanner registered as ``name``, passing ``options`` as keyword arguments."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        known = ", ".join(sorted(available())) or "none"
        raise ScannerLoadError(f"no scanner named {name!r} is installed (installed: {known})")
    if len(matches) > 1:
        raise ScannerLoadError(f"scanner name {name!r} is registered by more than one package; refusing to guess")
    try:
        factory = matches[0].load()
        scanner = factory(**dict(options or {}))
    except Exception as exc:
        raise ScannerLoadError(f"scanner {name!r} failed to load: {type(exc).__name__}: {exc}") from exc
    for attr in ("id", "category", "on_error", "budget_ms", "scan"):
        if not hasattr(scanner, attr):
            raise ScannerLoadError(f"scanner {name!r} does not implement the Scanner contract (missing {attr!r})")
    return scanner  # type: ignore[no-any-return]
