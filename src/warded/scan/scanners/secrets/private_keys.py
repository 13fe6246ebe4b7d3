"""PEM private keys (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP): a whole block, or a block cut short.
A key inside a GCP service-account file is reported as ``secret.gcp_service_account``."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.secrets._base import Detector, Hit, Tier, Variant

GCP_SERVICE_ACCOUNT = Variant("secret.gcp_service_account", 0.99, "GCP service-account private key")


def _has_key_material(block: str) -> bool:
    """At least 32 base64 characters between the BEGIN line and the END line (or the end of a truncated
    block), making up most of it."""
    header_end = block.find("-----", len("-----BEGIN ")) + 5
    footer = block.find("-----END", header_end)
    body = block[header_end : footer if footer != -1 else len(block)].replace("\\n", "\n").replace("\\r", "")
    body = "".join(line for line in body.splitlines() if ":" not in line)  # Proc-Type / DEK-Info headers
    body = "".join(body.split())
    material = sum(1 for ch in body if ch.isascii() and (ch.isalnum() or ch in "+/="))
    return material >= 32 and material >= 0.9 * len(body)


def _private_key(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m)
    header = p.text[start : start + 64]
    kind = header[len("-----BEGIN ") :].split("PRIVATE KEY", 1)[0].strip().lower() or "pkcs8"
    before = p.text[max(0, start - 40) : start]
    if '"private_key"' in before and "service_account" in p.text:
        return detector.variant_hit(GCP_SERVICE_ACCOUNT, start, end)
    if not _has_key_material(p.text[start:end]):
        return None  # a bare header or BEGIN/END lines with no key between them (docs, code, regexes)
    return detector.hit(start, end, detail={"key_type": kind.replace(" ", "_")})


DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="private_key",
        rule="secret.private_key",
        pattern=(
            r"-----BEGIN ([A-Z0-9]+ )?(?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----(?s:.)*?"
            r"-----END (?:[A-Z0-9]+ )?(?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----"
        ),
        score=0.99,
        message="private key",
        validate=_private_key,
        variants=(GCP_SERVICE_ACCOUNT,),
    ),
    Detector(
        id="private_key_header",
        rule="secret.private_key",
        pattern=(
            r"-----BEGIN ([A-Z0-9]+ )?(?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----"
            r"(?:(?:Proc-Type|DEK-Info): [A-Za-z0-9,\-]*(?:\r?\n|\\n))*(?:[A-Za-z0-9+/=\r\n]|\\[nr])*"
        ),
        score=0.9,
        message="private key (truncated block)",
        tier=Tier.CONNECTION,  # a whole block found by ``private_key`` wins over its truncated reading
        validate=_private_key,
        variants=(GCP_SERVICE_ACCOUNT,),
    ),
)
