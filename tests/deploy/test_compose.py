"""deploy/compose.yaml and deploy/haproxy.cfg, checked without a container engine (none runs in the tests)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from warded.policy.compile import load_policy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPLICAS = ["warded-1", "warded-2", "warded-3"]
POLICY_IN_CONTAINER = "/etc/warded/warded.yaml"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def test_the_services_are_the_stores_a_migration_three_replicas_and_haproxy() -> None:
    assert set(_services()) == {"postgres", "redis", "migrate", *REPLICAS, "haproxy"}


def test_every_container_is_non_root_on_a_read_only_root_filesystem() -> None:
    for name, service in _services().items():
        assert service.get("read_only") is True, name
        user = str(service.get("user", ""))
        assert user and user.split(":", maxsplit=1)[0] not in ("root", "0"), (
            f"{name} runs as {user or 'the image default'}"
        )


def test_images_are_pinned_by_version_tag() -> None:
    for name, service in _services().items():
        image = service["image"]
        _, _, tag = image.partition(":")
        assert re.match(r"\d+\.\d+(\.\d+)?", tag), f"{name}: {image!r} is not pinned to a release"


def test_start_order_waits_on_health_and_on_the_migration() -> None:
    services = _services()
    for store in ("postgres", "redis"):
        assert services[store]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert services["migrate"]["command"] == ["store", "migrate", "--policy", POLICY_IN_CONTAINER]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in REPLICAS:
        replica = services[name]
        assert replica["command"][:3] == ["serve", "--policy", POLICY_IN_CONTAINER]
        assert replica["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert replica["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert any("/healthz" in part for part in replica["healthcheck"]["test"])
        assert "./warded.yaml:/etc/warded/warded.yaml:ro" in replica["volumes"]
    assert services["haproxy"]["depends_on"] == {name: {"condition": "service_healthy"} for name in REPLICAS}
    assert services["haproxy"]["ports"] == ["127.0.0.1:8080:8080"], "published on loopback only"


def test_secrets_come_from_files_and_the_environment_never_from_the_file() -> None:
    compose = _compose()
    declared = set(compose["secrets"])
    for name, service in compose["services"].items():
        assert set(service.get("secrets", [])) <= declared, name
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key and not key.endswith("_FILE"):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{name}.{key} must be a required variable"
    env = compose["services"]["warded-1"]["environment"]
    assert "${WARDED_PG_PASSWORD:?" in env["WARDED_PG_DSN"]
    assert "${WARDED_REDIS_PASSWORD:?" in env["WARDED_REDIS_URL"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/pg_password"
    assert "warded_audit_key" in compose["services"]["warded-1"]["secrets"]


def test_haproxy_balances_exactly_the_replicas_with_healthz_checks() -> None:
    text = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server\s+(\S+)\s+(\S+)", text, re.MULTILINE)
    assert servers == [(name, f"{name}:8080") for name in REPLICAS]
    assert "http-check send meth GET uri /healthz" in text
    assert re.search(r"default-server .*\bcheck\b", text)


def test_haproxy_accepts_its_configuration() -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed here (Debian: apt-get install haproxy)")
    done = subprocess.run(
        [haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Configuration file is valid" in done.stdout + done.stderr
    # The only warnings allowed: the replicas' names resolve inside compose's network, not here.
    for line in done.stderr.splitlines():
        if "[WARNING]" in line:
            assert "could not resolve address 'warded-" in line, line
        assert "[ALERT]" not in line, line


def test_the_deployed_policy_loads_with_shared_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDED_PG_DSN", "postgresql://warded@postgres:5432/warded")
    monkeypatch.setenv("WARDED_REDIS_URL", "redis://redis:6379/0")
    policy = load_policy(DEPLOY / "warded.yaml")
    store = policy.spec.store
    assert store is not None
    assert store.postgres == "${WARDED_PG_DSN}" and store.redis == "${WARDED_REDIS_URL}"
    assert policy.spec.audit.key == "/run/secrets/warded_audit_key"  # where compose mounts the secret
    # The audit spool (next to audit.path) is on the replicas' writable volume, not the read-only policy mount.
    assert policy.audit_path(policy.spec.audit.path).startswith("/var/lib/warded/")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert "warded_spool:/var/lib/warded" in compose["services"]["warded-1"]["volumes"]
    assert policy.spec.serve.port == 8080 and policy.spec.serve.allow_public_bind
