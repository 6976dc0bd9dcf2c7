"""The `local` stack: no cloud, an existing kubeconfig context, data services in the cluster, the same layer above."""

from __future__ import annotations

import json

from tests.kubernetes.rendering import inputs


def test_local_stack_uses_the_configured_context_and_no_cloud_provider(preview):
    plan = preview("local")
    providers = [r for r in plan.resources if r.type.startswith("pulumi:providers:")]
    assert [(p.type, p.inputs.get("context")) for p in providers] == [("pulumi:providers:kubernetes", "kind-mlops")]
    assert all(plan.provider_of(r) is providers[0] for r in plan.resources if r.custom and r.type.startswith("kubernetes:"))


def test_database_and_object_store_are_protected_statefulsets(preview):
    plan = preview("local")
    sets = plan.all("kubernetes:apps/v1:StatefulSet")
    assert sorted(r.inputs["metadata"]["name"] for r in sets) == ["minio", "postgres"]
    assert all(r.protect for r in sets)


def test_every_platform_namespace_starts_from_default_deny(preview):
    plan = preview("local")
    namespaces = {r.inputs["metadata"]["name"] for r in plan.all("kubernetes:core/v1:Namespace")}
    denied = {r.inputs["metadata"]["namespace"] for r in plan.all("kubernetes:networking.k8s.io/v1:NetworkPolicy")
              if r.inputs["metadata"]["name"] == "default-deny"}
    assert namespaces == denied == {"mlops-data", "monitoring", "mlflow", "models"}


def test_store_keys_reach_pods_only_through_secrets(preview):
    plan = preview("local")
    secrets = [inputs(r)["stringData"] for r in plan.all("kubernetes:core/v1:Secret")]
    keys = {s["AWS_SECRET_ACCESS_KEY"] for s in secrets if "AWS_SECRET_ACCESS_KEY" in s}
    assert len(keys) == 1
    for resource in plan.resources:
        if resource.type != "kubernetes:core/v1:Secret":
            assert next(iter(keys)) not in json.dumps(inputs(resource)), resource.name


def test_the_local_object_store_is_pinned_minio_and_the_readme_states_its_risk():
    """MinIO's community images are frozen upstream: the local target keeps it, pinned, with the risk stated."""
    from pathlib import Path

    from mlops_platform.local.layer import DEFAULTS

    assert DEFAULTS["object_store_image"].startswith("quay.io/minio/minio:RELEASE.")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    limitations = readme.split("## Known limitations", 1)[1].split("\n## ", 1)[0]
    assert "MinIO" in limitations and "no security fixes" in limitations and "Do not expose it" in limitations
