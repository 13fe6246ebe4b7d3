"""Service tokens with a distinctive prefix or shape: GitHub, GitLab, Slack (tokens and webhooks), Stripe,
OpenAI, Anthropic, Hugging Face, Twilio, SendGrid, npm and PyPI. Each row is judged by the default
validator: the secret (group 1) must not be a placeholder such as ``ghp_xxxx...``."""

from __future__ import annotations

from warded.scan.scanners.secrets._base import Detector

DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="github_token",
        rule="secret.github_token",
        pattern=r"\b(gh[pousr]_[A-Za-z0-9]{36,251})\b",
        score=0.97,
        message="GitHub token",
    ),
    Detector(
        id="github_pat",
        rule="secret.github_token",
        pattern=r"\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
        score=0.97,
        message="GitHub fine-grained personal access token",
    ),
    Detector(
        id="gitlab_token",
        rule="secret.gitlab_token",
        pattern=(
            r"\b(gl(?:pat|dt|rt|ptt|soat|cbt|imt|ft|oas|agent)-[0-9A-Za-z_\-]{20,64}(?:\.[0-9a-z]{2}\.[0-9a-z]{9})?)"
            r"(?:[^0-9A-Za-z_\-.]|$)"
        ),
        score=0.95,
        message="GitLab token",
    ),
    Detector(
        id="gitlab_runner",
        rule="secret.gitlab_token",
        pattern=r"\b(GR1348941[0-9A-Za-z_\-]{20,})",
        score=0.95,
        message="GitLab runner registration token",
    ),
    Detector(
        id="slack_token",
        rule="secret.slack_token",
        pattern=r"\b(xox[abposer]-(?:[0-9]+-)+[0-9A-Za-z\-]{6,})",
        score=0.95,
        message="Slack token",
    ),
    Detector(
        id="slack_app_token",
        rule="secret.slack_token",
        pattern=r"\b(xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]{32,})",
        score=0.95,
        message="Slack app-level token",
    ),
    Detector(
        id="slack_webhook",
        rule="secret.slack_webhook",
        pattern=(
            r"(https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_]+/[A-Za-z0-9_]+/"
            r"[A-Za-z0-9_]{16,})"
        ),
        score=0.9,
        message="Slack incoming webhook URL",
    ),
    Detector(
        id="stripe_key",
        rule="secret.stripe_key",
        pattern=r"\b((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,247})\b",
        score=0.95,
        message="Stripe secret or restricted key",
    ),
    Detector(
        id="stripe_webhook",
        rule="secret.stripe_key",
        pattern=r"\b(whsec_[A-Za-z0-9+/=]{32,})",
        score=0.9,
        message="Stripe webhook signing secret",
    ),
    Detector(
        id="openai_key",
        rule="secret.openai_key",
        pattern=r"\b(sk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_\-]{10,}T3BlbkFJ[A-Za-z0-9_\-]{10,})",
        score=0.97,
        message="OpenAI API key",
    ),
    Detector(
        id="openai_project_key",
        rule="secret.openai_key",
        pattern=r"\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,})",
        score=0.95,
        message="OpenAI API key",
    ),
    Detector(
        id="openai_legacy_key",
        rule="secret.openai_key",
        pattern=r"\b(sk-[A-Za-z0-9]{48})\b",
        score=0.85,
        message="OpenAI-style API key",
    ),
    Detector(
        id="anthropic_key",
        rule="secret.anthropic_key",
        pattern=r"\b(sk-ant-(?:api|admin|oat|sid)\d{2}-[A-Za-z0-9_\-]{32,})",
        score=0.97,
        message="Anthropic API key",
    ),
    Detector(
        id="huggingface_token",
        rule="secret.huggingface_token",
        pattern=r"\b(hf_[A-Za-z0-9]{34,40})\b",
        score=0.9,
        message="Hugging Face access token",
    ),
    Detector(
        id="huggingface_org_token",
        rule="secret.huggingface_token",
        pattern=r"\b(api_org_[A-Za-z]{34})\b",
        score=0.9,
        message="Hugging Face organisation API token",
    ),
    Detector(
        id="twilio_api_key",
        rule="secret.twilio_key",
        pattern=r"\b(SK[0-9a-f]{32})\b",
        score=0.8,
        message="Twilio API key SID",
    ),
    Detector(
        id="twilio_auth_token",
        rule="secret.twilio_key",
        pattern=(r"(?i)\btwilio[a-z_ \-]{0,20}?(?:auth)?[_ \-]?token[\"']?\s*(?::=|=>|=|:)\s*[\"']?([0-9a-f]{32})\b"),
        score=0.85,
        message="Twilio auth token",
    ),
    Detector(
        id="sendgrid_key",
        rule="secret.sendgrid_key",
        pattern=r"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})(?:[^A-Za-z0-9_\-]|$)",
        score=0.97,
        message="SendGrid API key",
    ),
    Detector(
        id="npm_token",
        rule="secret.npm_token",
        pattern=r"\b(npm_[A-Za-z0-9]{36})\b",
        score=0.95,
        message="npm access token",
    ),
    Detector(
        id="npm_authtoken",
        rule="secret.npm_token",
        pattern=r":_authToken\s*=\s*[\"']?([A-Za-z0-9_\-.=+/]{16,})",
        score=0.85,
        message="npm registry auth token",
    ),
    Detector(
        id="pypi_token",
        rule="secret.pypi_token",
        pattern=r"\b(pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,})",
        score=0.97,
        message="PyPI upload token",
    ),
)
