"""Run one Kubernetes component offline (through the harness) and read back what it rendered."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.harness import Preview, RecordedResource, plain_form, run_function


def render(build: Callable[[pulumi.ResourceOptions], Any]) -> Preview:
    """Run ``build(opts)`` under the harness with an explicit Kubernetes provider in ``opts``."""

    def program() -> None:
        provider = k8s.Provider("cluster", context="test")
        build(pulumi.ResourceOptions(providers={"kubernetes": provider}))

    return run_function(program)


def kubernetes_objects(preview: Preview) -> list[RecordedResource]:
    """Every single Kubernetes object (not Helm releases) the preview registered."""
    return [r for r in preview.resources
            if r.custom and r.type.startswith("kubernetes:") and "helm.sh" not in r.type]


def platform_kubernetes_objects(preview: Preview) -> list[RecordedResource]:
    """The Kubernetes objects of the Kubernetes layer and the local target (not the cloud layers' own, such as
    Karpenter's node classes)."""
    by_urn = {r.urn: r for r in preview.resources}

    def ours(resource: RecordedResource) -> bool:
        parent = by_urn.get(resource.parent)
        while parent is not None:
            if parent.type.startswith(("mlops:kubernetes:", "mlops:local:")):
                return True
            parent = by_urn.get(parent.parent)
        return False

    return [r for r in kubernetes_objects(preview) if ours(r)]


def inputs(resource: RecordedResource) -> dict[str, Any]:
    return plain_form(copy.deepcopy(resource.inputs), redact=False)


def container(resource: RecordedResource, index: int = 0) -> dict[str, Any]:
    return inputs(resource)["spec"]["template"]["spec"]["containers"][index]


def endpoint_args(**overrides: Any) -> dict[str, Any]:
    """Valid arguments of a blue-green endpoint; ``overrides`` replace top-level keys."""
    args: dict[str, Any] = {
        "name": "churn",
        "namespace": "models",
        "model_name": "churn-classifier",
        "active": "blue",
        "blue": {"model_uri": "models:/churn-classifier/1", "model_version": "1",
                 "image": "ghcr.io/example/serving:0.1.0", "replicas": 2},
        "green": {"model_uri": "models:/churn-classifier/2", "model_version": "2",
                  "image": "ghcr.io/example/serving:0.1.1", "replicas": 1},
        "route": {"hostname": "churn.example.com", "gateway_name": "public", "gateway_namespace": "gateway"},
    }
    args.update(overrides)
    return args
