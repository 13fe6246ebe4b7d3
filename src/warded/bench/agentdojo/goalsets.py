"""The injection goal sets replayed besides AgentDojo's own, and their attack wordings.

* ``agentdojo``: AgentDojo's injection tasks (known when the example policies were written).
* ``development``: :mod:`warded.bench.agentdojo.novel`, written apart from AgentDojo's goals and from the
  policies, but one flow rule (a delegated account must be unambiguous) was added after seeing four of its
  pairs succeed, so it is a development set, not a held-out one. ``novel`` is kept as an alias.
* ``heldout``: :mod:`warded.bench.agentdojo.heldout`, written by an independent red-teamer who had not read the
  flow rules or the policies; measured once, with no rule changed after seeing the result.

Each set other than AgentDojo's is a module with ``WORDINGS`` (its attack templates), ``injection_tasks(suite)``
(its goals as AgentDojo injection tasks) and ``attacker_values()`` (for the check that no policy names them).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from warded.bench.agentdojo import heldout, novel
from warded.bench.agentdojo.options import GOAL_ALIASES, GOAL_SETS

__all__ = ["canonical", "injection_tasks", "module", "wording_attack", "wordings"]

_MODULES: dict[str, ModuleType] = {"development": novel, "heldout": heldout}


def canonical(goals: str) -> str:
    """The goal set's name with aliases resolved (``novel`` is ``development``); ``ValueError`` if unknown."""
    name = GOAL_ALIASES.get(goals, goals)
    if name not in GOAL_SETS:
        raise ValueError(f"unknown goal set {goals!r} ({', '.join(GOAL_SETS)})")
    return name


def module(goals: str) -> ModuleType:
    """The module that defines a goal set other than AgentDojo's own."""
    name = canonical(goals)
    if name not in _MODULES:
        raise ValueError(f"goal set {name!r} is AgentDojo's own: it has no module here")
    return _MODULES[name]


def injection_tasks(goals: str, suite: str) -> dict[str, Any]:
    """The goals of a set (not AgentDojo's) for one suite, as AgentDojo injection tasks."""
    tasks: dict[str, Any] = module(goals).injection_tasks(suite)
    return tasks


def wordings(goals: str) -> tuple[str, ...]:
    """The attack wordings a goal set brings besides AgentDojo's three (none for AgentDojo's own goals)."""
    name = canonical(goals)
    return tuple(_MODULES[name].WORDINGS) if name in _MODULES else ()


def all_wordings() -> dict[str, str]:
    """Every wording of every goal set, by name; ``ValueError`` if two sets use one name for different texts."""
    out: dict[str, str] = {}
    for mod in _MODULES.values():
        for name, template in mod.WORDINGS.items():
            if out.setdefault(name, template) != template:
                raise ValueError(f"attack wording {name!r} is defined twice, differently")
    return out


def wording_attack(name: str, suite: Any, target: object) -> Any:
    """A wording of one of the goal sets as an AgentDojo attack (a fixed template over the injection slots)."""
    return novel.fixed_attack(all_wordings()[name], suite, target)
