"""The schema checks themselves: they must accept valid objects and reject misspelt or mistyped ones."""

from __future__ import annotations

import copy

import pytest

from tests.kubernetes_schema import SchemaError, validate_crd_object, validate_kubernetes_object

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "model", "namespace": "serving"},
    "spec": {
        "selector": {"matchLabels": {"app": "model"}},
        "template": {
            "metadata": {"labels": {"app": "model"}},
            "spec": {"containers": [{"name": "server", "image": "registry.example/model:1.0"}]},
        },
    },
}

SERVICE_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "model", "namespace": "serving"},
    "spec": {"selector": {"matchLabels": {"app": "model"}}, "endpoints": [{"port": "http", "path": "/metrics"}]},
}


def test_a_valid_deployment_passes():
    validate_kubernetes_object(DEPLOYMENT)


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("spec", "replica"), 2, "replica"),  # misspelt field: strict mode rejects what the API server would drop
        (("spec", "replicas"), "two", "two"),  # wrong type
    ],
)
def test_a_misspelt_or_mistyped_field_fails(path, value, complaint):
    manifest = copy.deepcopy(DEPLOYMENT)
    manifest[path[0]][path[1]] = value
    with pytest.raises(SchemaError, match=complaint):
        validate_kubernetes_object(manifest)


def test_a_valid_service_monitor_passes_its_crd(reference):
    validate_crd_object(SERVICE_MONITOR, reference / "kube-prometheus-stack" / "crd-servicemonitors.yaml")


def test_an_unknown_service_monitor_field_fails_its_crd(reference):
    manifest = copy.deepcopy(SERVICE_MONITOR)
    manifest["spec"]["endpoints"][0]["scrapeEvery"] = "30s"
    with pytest.raises(SchemaError, match="scrapeEvery"):
        validate_crd_object(manifest, reference / "kube-prometheus-stack" / "crd-servicemonitors.yaml")


def test_an_http_route_with_an_out_of_range_weight_fails_its_crd(reference):
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "model", "namespace": "serving"},
        "spec": {"rules": [{"backendRefs": [{"name": "model-blue", "port": 80, "weight": -1}]}]},
    }
    crd = reference / "gateway-api" / "crd-httproutes.yaml"
    with pytest.raises(SchemaError, match="weight"):
        validate_crd_object(route, crd)
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = 90
    validate_crd_object(route, crd)
