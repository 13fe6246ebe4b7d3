"""Attack families, one module each. Every module exposes ``FAMILY`` (its permanent id) and
``plans(ctx)``, the plans it aims at the policy in ``ctx`` (an empty list when nothing applies)."""

from warded.redteam.families import (
    audit,
    cedar,
    content,
    domains,
    emails,
    length,
    limits,
    numbers,
    paths,
    patterns,
    sql,
    values,
)

#: Every family, in the order a run goes through them (audit last: it tampers with the run's own log).
FAMILIES = (paths, emails, domains, sql, numbers, values, patterns, length, cedar, limits, content, audit)
NAMES = tuple(m.FAMILY for m in FAMILIES)

__all__ = ["FAMILIES", "NAMES"]
