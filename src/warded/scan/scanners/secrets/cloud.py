"""Google Cloud and Azure credentials: GCP API keys, Google OAuth client secrets and tokens, Azure storage
account keys, shared access signatures and AD client secrets."""

from __future__ import annotations

from warded.scan.scanners.secrets._base import Detector

DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="gcp_api_key",
        rule="secret.gcp_api_key",
        pattern=r"\b(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|$)",
        score=0.9,
        message="Google Cloud API key",
    ),
    Detector(
        id="google_oauth_client_secret",
        rule="secret.google_oauth",
        pattern=r"\b(GOCSPX-[A-Za-z0-9_\-]{28})(?:[^A-Za-z0-9_\-]|$)",
        score=0.95,
        message="Google OAuth client secret",
    ),
    Detector(
        id="google_oauth_token",
        rule="secret.google_oauth",
        pattern=r"\b(ya29\.[0-9A-Za-z_\-]{20,}|1//0[0-9A-Za-z_\-]{30,})",
        score=0.85,
        message="Google OAuth access or refresh token",
    ),
    Detector(
        id="azure_storage_key",
        rule="secret.azure_storage_key",
        pattern=r"(?i)\bAccountKey\s*=\s*([A-Za-z0-9+/]{86}==)",
        score=0.95,
        message="Azure storage account key",
    ),
    Detector(
        id="azure_sas",
        rule="secret.azure_sas_token",
        pattern=(r"\b(?:sv|se|sp|sr|ss|srt|spr|st|skoid)=[^\s\"'<>]*?[?&;]sig=([A-Za-z0-9%+/]{20,}(?:%3[Dd]|=){0,2})"),
        score=0.9,
        message="Azure shared access signature",
    ),
    Detector(
        id="azure_sas_reversed",
        rule="secret.azure_sas_token",
        pattern=r"[?&;]sig=([A-Za-z0-9%+/]{20,}(?:%3[Dd]|=){0,2})&[^\s\"'<>]*?\bsv=\d{4}-\d{2}-\d{2}",
        score=0.9,
        message="Azure shared access signature",
    ),
    Detector(
        id="azure_client_secret",
        rule="secret.azure_client_secret",
        pattern=(r"(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)"),
        score=0.85,
        message="Azure AD client secret",
    ),
)
