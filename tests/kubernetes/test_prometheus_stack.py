"""The monitoring stack: pinned chart, values keys that exist in that chart, no plaintext Grafana password."""

from __future__ import annotations

import json

import pytest
import yaml

from mlops_platform.kubernetes.prometheus_stack import (
    CHART_VERSION,
    GRAFANA_ADMIN_SECRET,
    PrometheusStack,
    render_values,
    validate_prometheus_stack_args,
)
from mlops_platform.validation import ArgumentError
from mlops_platform_offline.harness import SECRET_SIG
from tests.kubernetes.rendering import inputs, render


def _unknown_keys(values, reference, path=""):
    """Keys of ``values`` that the chart's values.yaml does not have; below an empty map or list the chart takes
    free-form content (a volumeClaimTemplate, resources), so nothing there is unknown."""
    if not isinstance(values, dict) or not isinstance(reference, dict) or not reference:
        return []
    missing = []
    for key, value in values.items():
        if key not in reference:
            missing.append(f"{path}{key}")
        else:
            missing.extend(_unknown_keys(value, reference[key], f"{path}{key}."))
    return missing


def test_chart_version_is_the_reference_charts(reference):
    chart = yaml.safe_load((reference / "kube-prometheus-stack" / "Chart.yaml").read_text())
    assert CHART_VERSION == chart["version"]


def test_every_values_key_exists_in_the_pinned_chart(reference):
    chart = yaml.safe_load((reference / "kube-prometheus-stack" / "values.yaml").read_text())
    grafana = yaml.safe_load((reference / "grafana" / "values.yaml").read_text())
    values = render_values(validate_prometheus_stack_args({"storage_class": "gp3"}))
    ours = {k: v for k, v in values.items() if k != "grafana"}
    assert _unknown_keys(ours, chart) == []
    merged_grafana = {**grafana, **chart["grafana"]}
    assert _unknown_keys(values["grafana"], merged_grafana) == []


def test_unknown_key_check_catches_a_typo(reference):
    chart = yaml.safe_load((reference / "kube-prometheus-stack" / "values.yaml").read_text())
    assert _unknown_keys({"prometheus": {"prometheusSpec": {"retentionSise": "1GB"}}}, chart) == [
        "prometheus.prometheusSpec.retentionSise"]


def test_release_is_pinned_and_grafana_password_is_a_generated_secret_not_a_value():
    plan = render(lambda opts: PrometheusStack("monitoring", {}, opts=opts))
    release = plan.one("kubernetes:helm.sh/v3:Release")
    assert release.inputs["version"] == CHART_VERSION
    values = inputs(release)["values"]
    assert values["grafana"]["admin"]["existingSecret"] == GRAFANA_ADMIN_SECRET
    assert "adminPassword" not in json.dumps(values)
    secret = plan.one("kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"][SECRET_SIG]  # the whole data is a Pulumi secret
    assert secret.urn in release.dependencies


def test_monitors_and_rules_are_picked_up_from_every_namespace_with_retention_on_a_volume():
    spec = render_values(validate_prometheus_stack_args({"retention_days": 7, "storage_size": "100Gi"}))[
        "prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["serviceMonitorNamespaceSelector"] == {} and spec["ruleNamespaceSelector"] == {}
    assert spec["retention"] == "7d" and spec["retentionSize"] == "90GB"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "100Gi"


@pytest.mark.parametrize("args, message", [
    ({"retention_days": 0}, "monitoring.retention_days: 0 is not allowed; use an integer from 1 to 365"),
    ({"storage_size": "50GB"}, "monitoring.storage_size: '50GB' is not allowed; use a volume size"),
    ({"namespace": "default"}, "monitoring.namespace: 'default' is not allowed"),
    ({"retention": "15d"}, "monitoring.retention: unknown key"),
    ({"tolerated_taints": [{"key": "a", "value": "b", "effect": "Never"}]},
     r"monitoring.tolerated_taints\[0\].effect: 'Never' is not allowed; use one of NoSchedule"),
])
def test_bad_monitoring_arguments_are_rejected(args, message):
    with pytest.raises(ArgumentError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        validate_prometheus_stack_args(args)


SPOT = {"key": "kubernetes.azure.com/scalesetpriority", "value": "spot", "effect": "NoSchedule"}
POD_VALUES = (("prometheusOperator",), ("prometheusOperator", "admissionWebhooks", "patch"),
              ("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec"), ("grafana",),
              ("kube-state-metrics",))


def test_tolerated_taints_reach_every_pod_of_the_chart_under_keys_the_chart_has(reference):
    chart = yaml.safe_load((reference / "kube-prometheus-stack" / "values.yaml").read_text())
    values = render_values(validate_prometheus_stack_args({"tolerated_taints": [SPOT]}))
    for path in POD_VALUES:
        pod = values
        for key in path:
            pod = pod[key]
        assert pod["tolerations"] == [{**SPOT, "operator": "Equal"}], path
    # kube-state-metrics is a subchart whose own values.yaml (with its top-level tolerations) is not in the reference.
    assert _unknown_keys({k: v for k, v in values.items() if k not in ("grafana", "kube-state-metrics")}, chart) == []
    assert _unknown_keys(values["grafana"], {**yaml.safe_load((reference / "grafana" / "values.yaml").read_text()),
                                             **chart["grafana"]}) == []


def test_without_taints_the_values_carry_no_tolerations():
    assert "tolerations" not in json.dumps(render_values(validate_prometheus_stack_args({})))


def test_a_stack_cannot_set_the_tolerations_the_cloud_layer_supplies():
    from mlops_platform.kubernetes.layer import validate_kubernetes_layer_args

    with pytest.raises(ArgumentError, match=r"^mlops:monitoring\.tolerated_taints: not allowed in stack config"):
        validate_kubernetes_layer_args(None, {"tolerated_taints": [SPOT]}, None, None, prefix="mlops:")
