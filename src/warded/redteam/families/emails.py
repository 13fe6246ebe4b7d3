"""``email``: reach a mailbox the policy does not allow. Look-alike and IDNA domains, plus-addressing and
quoted local parts around denied mailboxes, subdomains, trailing dots, display names, several recipients in
one value, header injection. Oracle: the address as a mail agent parses it (``oracles.email_breaks``)."""

from __future__ import annotations

from hypothesis import strategies as st

from warded.redteam import oracles
from warded.redteam.families._context import Context, argument_plan, technique_of
from warded.redteam.families._hosts import variants
from warded.redteam.model import Plan

FAMILY = "email"

FORMS = (
    "{l}@{d}",
    "Name <{l}@{d}>",
    "{l}@{d}, x@evil.test",
    "{l}@evil.test@{d}",
    '"{l}@evil.test"@{d}',
    "{l}@{d}\n",
    "{l}@{d}\r\nBcc: x@evil.test",
    " {l}@{d} ",
    "{l}%evil.test@{d}",
    "{l}@[127.0.0.1]",
)

TECHNIQUES = technique_of(
    {
        "header_injection": lambda v: "\n" in v or "\r" in v,
        "multiple": lambda v: "," in v or v.count("@") > 1,
        "lookalike": lambda v: not v.isascii(),
        "idna": lambda v: "xn--" in v,
        "quoted": lambda v: '"' in v,
        "display_name": lambda v: "<" in v,
        "plus": lambda v: "+" in v.split("@")[0],
        "trailing_dot": lambda v: v.rstrip().endswith("."),
        "case": lambda v: v != v.lower(),
        "subdomain": lambda v: "@sub." in v or ".evil.test" in v,
    },
    "other_domain",
)


def _domains(allow: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for pattern in allow:
        domain = pattern.rpartition("@")[2].replace("*.", "")
        if domain and "*" not in domain:
            found += variants(domain)
    return list(dict.fromkeys(found)) or ["evil.test"]


def _locals(allow: tuple[str, ...], deny: tuple[str, ...]) -> list[str]:
    found = ["a"]
    for pattern in deny:
        local = pattern.rpartition("@")[0]
        if local and "*" not in local:
            found += [local, local.upper(), local + "+x", f'"{local}"', local.replace("-", ".")]
    for pattern in allow:
        local = pattern.rpartition("@")[0]
        if local and "*" not in local:
            found.append(local)
    return list(dict.fromkeys(found))


def plans(ctx: Context) -> list[Plan]:
    out: list[Plan] = []
    for agent, tool, arg, spec in ctx.constrained("email"):
        if ctx.allowed_baseline(agent, tool) is None:
            continue
        email = spec.email
        assert email is not None
        allow, deny = tuple(email.allow or ()), tuple(email.deny)
        strategy = st.builds(
            lambda form, local, domain: form.format(l=local, d=domain),
            st.sampled_from(FORMS),
            st.sampled_from(_locals(allow, deny)),
            st.sampled_from(_domains(allow)),
        )

        def oracle(value: str, a: tuple[str, ...] = allow, d: tuple[str, ...] = deny) -> bool:
            return oracles.email_breaks(value, a or ("*@*",), d)

        out.append(
            argument_plan(
                ctx, FAMILY, (agent, tool, arg, spec), "email", strategy=strategy, oracle=oracle, technique=TECHNIQUES
            )
        )
    return out
