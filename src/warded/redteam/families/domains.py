"""``domain``: reach a host the policy does not allow, through a URL or a bare host. Look-alike and IDNA
hosts, subdomains and suffix tricks, trailing dots, user-info (``allowed@evil``), ports, schemes,
backslashes. Oracle: the host an HTTP client connects to (``urllib.parse``), IDNA-decoded."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from warded.redteam import oracles
from warded.redteam.families._context import Context, argument_plan, technique_of
from warded.redteam.families._hosts import variants
from warded.redteam.model import Plan

FAMILY = "domain"

FORMS = (
    "https://{d}/",
    "{d}",
    "https://{d}@evil.test/",
    "https://evil.test#@{d}/",
    "https://evil.test\\@{d}/",
    "https://{d}:443@evil.test/",
    "HTTPS://{d}/",
    "//{d}/",
    "https://{d}./",
    "ftp://{d}/",
)

TECHNIQUES = technique_of(
    {
        "userinfo": lambda v: "@" in v,
        "lookalike": lambda v: not v.isascii(),
        "idna": lambda v: "xn--" in v,
        "backslash": lambda v: "\\" in v,
        "subdomain": lambda v: "sub." in v or ".evil.test" in v,
        "trailing_dot": lambda v: ".:" in v or "./" in v,
    },
    "other_host",
)


def _breaks(value: object, allow: tuple[str, ...], deny: tuple[str, ...], schemes: tuple[str, ...]) -> bool:
    if not isinstance(value, str):
        return False
    host = oracles.url_host(value)
    if host is None:
        return False  # no client can connect anywhere
    if "://" in value and value.split("://", 1)[0].lower() not in schemes:
        return True
    return not oracles.host_allowed(host, allow or ("*",), deny)


def plans(ctx: Context) -> list[Plan]:
    out: list[Plan] = []
    for agent, tool, arg, spec in ctx.constrained("domain"):
        if ctx.allowed_baseline(agent, tool) is None:
            continue
        dom = spec.domain
        assert dom is not None
        allow, deny, schemes = tuple(dom.allow or ()), tuple(dom.deny), tuple(s.lower() for s in dom.schemes)
        hosts = list(dict.fromkeys(h for p in allow for h in variants(p.replace("*.", "")))) or ["evil.test"]
        strategy = st.builds(lambda form, host: form.format(d=host), st.sampled_from(FORMS), st.sampled_from(hosts))

        def oracle(value: str, a: Any = allow, d: Any = deny, s: Any = schemes) -> bool:
            return _breaks(value, a, d, s)

        out.append(
            argument_plan(
                ctx, FAMILY, (agent, tool, arg, spec), "domain", strategy=strategy, oracle=oracle, technique=TECHNIQUES
            )
        )
    return out
