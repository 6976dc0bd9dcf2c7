"""Every Kubernetes object the platform renders is valid for the API server (strict) or for its CRD."""

from __future__ import annotations

import pytest

from tests.kubernetes.rendering import kubernetes_objects, platform_kubernetes_objects, render
from tests.kubernetes_schema import object_from_resource, validate_crd_object, validate_kubernetes_object

CRDS = {
    "ServiceMonitor": "kube-prometheus-stack/crd-servicemonitors.yaml",
    "PrometheusRule": "kube-prometheus-stack/crd-prometheusrules.yaml",
    "HTTPRoute": "gateway-api/crd-httproutes.yaml",
}
STACKS = ["local", "aws-dev", "aws-prod", "gcp-dev", "gcp-prod"]


def _validate_all(objects, reference) -> set[str]:
    kinds = set()
    for resource in objects:
        manifest = object_from_resource(resource)
        kinds.add(manifest["kind"])
        if manifest["kind"] in CRDS:
            validate_crd_object(manifest, reference / CRDS[manifest["kind"]])
        else:
            validate_kubernetes_object(manifest)
    return kinds


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_object_of_a_stack_passes_its_schema(preview, reference, stack):
    kinds = _validate_all(platform_kubernetes_objects(preview(stack)), reference)
    assert {"Deployment", "Job", "NetworkPolicy", "ServiceMonitor", "PodDisruptionBudget", "Secret"} <= kinds


def test_canary_shadow_gpu_endpoint_and_mlflow_route_pass_their_schemas(reference):
    from mlops_platform.kubernetes.mlflow_server import MlflowServer
    from mlops_platform.kubernetes.model_endpoint import BlueGreenModelEndpoint
    from tests.kubernetes.rendering import database_access, endpoint_args

    def build(opts):
        BlueGreenModelEndpoint("endpoint", endpoint_args(
            canary_weight=10, shadow=True, compute={"gpus": 1, "cpu_limit": "4", "memory_limit": "16Gi"},
            gpu_nodes={"node_labels": {"nvidia.com/gpu.present": "true"},
                       "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]}), opts=opts)
        MlflowServer("mlflow", {"namespace": "mlflow", "image": "ghcr.io/example/mlflow:3.17.2",
                                "database": database_access("static"), "artifact_uri": "s3://b",
                                "artifact_secret_env": {"AWS_ACCESS_KEY_ID": "k"},
                                "route": {"hostname": "mlflow.example.com", "gateway_name": "public",
                                          "gateway_namespace": "gateway"}}, opts=opts)

    kinds = _validate_all(kubernetes_objects(render(build)), reference)
    assert "HTTPRoute" in kinds
