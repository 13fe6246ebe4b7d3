"""The Helm chart, rendered by a tiny explicit renderer and validated against the Kubernetes JSON schemas.

``helm`` is not installable from the package registries this project uses, so ``helm template`` cannot run
here. The templates are written to need only this subset of Go templates, and :func:`render` refuses
anything else, so a template that outgrows it fails here instead of being half-checked:

* ``{{ .Values.a.b }}``, ``{{ .Release.Name }}``, ``{{ .Chart.AppVersion }}``;
* the pipes ``| quote`` and ``| nindent N``;
* ``{{-`` / ``-}}`` whitespace trimming.

What this does not check: Helm's own ``helm lint`` rules and the exact output of real Go templates beyond
that subset (conditionals, ranges and functions are refused, not emulated).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from warded.policy.compile import load_policy

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "warded"
RELEASE = "gw"
K8S_VERSION = "1.30.0"
_ACTION = re.compile(r"(\s*)\{\{(-?)\s*(.*?)\s*(-?)\}\}(\s*)", re.DOTALL)
_PATH = re.compile(r"^\.(Values|Release|Chart)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)$")


class TemplateError(Exception):
    pass


def _lookup(context: dict[str, Any], expr: str) -> Any:
    match = _PATH.match(expr)
    if match is None:
        raise TemplateError(f"unsupported template expression {expr!r}")
    value: Any = context[match.group(1)]
    for key in match.group(2).split(".")[1:]:
        if not isinstance(value, dict) or key not in value:
            raise TemplateError(f"{expr} is not set")
        value = value[key]
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TemplateError(f"cannot print {type(value).__name__} without a supported function")


def _evaluate(context: dict[str, Any], action: str) -> str:
    head, *pipes = [part.strip() for part in action.split("|")]
    text = _scalar(_lookup(context, head))
    for pipe in pipes:
        if pipe == "quote":
            text = json.dumps(text)
        elif (m := re.fullmatch(r"nindent (\d+)", pipe)) is not None:
            pad = " " * int(m.group(1))
            text = "\n" + "\n".join(pad + line if line else line for line in text.rstrip("\n").split("\n"))
        else:
            raise TemplateError(f"unsupported template function {pipe!r}")
    return text


def render(template: str, values: dict[str, Any]) -> str:
    context = {"Values": values, "Release": {"Name": RELEASE}, "Chart": {"AppVersion": _chart()["appVersion"]}}

    def one(match: re.Match[str]) -> str:
        before, trim_left, action, trim_right, after = match.groups()
        return ("" if trim_left else before) + _evaluate(context, action) + ("" if trim_right else after)

    rest = _ACTION.sub(" ", template)
    if "{{" in rest or "}}" in rest:
        raise TemplateError("a template action the renderer does not recognise")
    return _ACTION.sub(one, template)


def _chart() -> dict[str, Any]:
    data = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _values() -> dict[str, Any]:
    data = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _manifests() -> dict[str, dict[str, Any]]:
    """kind -> rendered manifest (the chart has one of each kind)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((CHART / "templates").glob("*.yaml")):
        doc = yaml.safe_load(render(path.read_text(encoding="utf-8"), _values()))
        assert isinstance(doc, dict), path.name
        assert doc["kind"] not in out, f"two {doc['kind']} templates"
        out[doc["kind"]] = doc
    return out


def test_chart_metadata() -> None:
    chart = _chart()
    assert chart["apiVersion"] == "v2" and chart["name"] == "warded" and chart["type"] == "application"
    assert set(_manifests()) == {"ConfigMap", "Deployment", "Job", "PodDisruptionBudget", "Service"}


@pytest.mark.parametrize("kind", ["ConfigMap", "Deployment", "Job", "PodDisruptionBudget", "Service"])
def test_rendered_manifest_validates_against_the_kubernetes_schema(kind: str) -> None:
    manifest = _manifests()[kind]
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)  # raises ValidationError


def test_schema_validation_catches_a_broken_manifest() -> None:
    manifest = _manifests()["Deployment"]
    manifest["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def _pod_checks(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}
        env = {e["name"]: e for e in container["env"]}
        for name in ("WARDED_PG_DSN", "WARDED_REDIS_URL"):
            assert "value" not in env[name], "DSNs come from the Secret, never inline"
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "warded-secrets"
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/etc/warded"]["readOnly"] and mounts["/run/secrets/warded"]["readOnly"]


def test_deployment_three_non_root_read_only_replicas_with_healthz_probes() -> None:
    deployment = _manifests()["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    _pod_checks(pod)
    container = pod["containers"][0]
    assert container["args"][:3] == ["serve", "--policy", "/etc/warded/warded.yaml"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["image"] == "warded:0.1.0"


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook_after_the_policy() -> None:
    manifests = _manifests()
    job, config = manifests["Job"], manifests["ConfigMap"]
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert config["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(config["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(hooks["helm.sh/hook-weight"])
    pod = job["spec"]["template"]["spec"]
    _pod_checks(pod)
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["args"] == ["store", "migrate", "--policy", "/etc/warded/warded.yaml"]


def test_disruption_budget_and_service_select_the_replicas() -> None:
    manifests = _manifests()
    labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert manifests["PodDisruptionBudget"]["spec"]["minAvailable"] == 2
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert manifests["Service"]["spec"]["selector"].items() <= labels.items()


def test_the_policy_in_the_config_map_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _manifests()["ConfigMap"]["data"]["warded.yaml"]
    assert text == _values()["policy"]
    monkeypatch.setenv("WARDED_PG_DSN", "postgresql://warded@pg:5432/warded")
    monkeypatch.setenv("WARDED_REDIS_URL", "redis://redis:6379/0")
    (tmp_path / "warded.yaml").write_text(text, encoding="utf-8")
    policy = load_policy(tmp_path / "warded.yaml")
    assert policy.spec.store is not None
    assert policy.spec.audit.key == "/run/secrets/warded/audit-key"  # where the Deployment mounts the Secret
    mounts = _manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    spool_dir = os.path.dirname(policy.audit_path(policy.spec.audit.path))  # the audit spool's directory
    assert any(m["mountPath"] == spool_dir and not m.get("readOnly") for m in mounts)


@pytest.mark.parametrize(
    "template", ["{{ .Values.x }}", "{{ if .Values.a }}x{{ end }}", "{{ .Values.a | upper }}", '{{ include "x" . }}']
)
def test_the_renderer_refuses_what_it_does_not_implement(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, {"a": "v"})
