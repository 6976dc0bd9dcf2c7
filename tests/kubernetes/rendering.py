"""Run one Kubernetes component offline (through the harness) and read back what it rendered."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform_offline.harness import Preview, RecordedResource, plain_form, run_function


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


def database_access(kind: str = "token", *, host: str = "db.cluster.internal", port: int = 5432,
                    database: str = "mlflow", username: str = "mlflow_tracking",
                    password: str = "hunter2-workload", admin_password: str = "hunter2-admin") -> Any:
    """A cloud layer's ``DatabaseAccess`` of one credential kind: ``token`` (AWS-like RDS IAM tokens, the admin
    through the master secret), ``static`` (the local target) or ``connector`` (a GCP-like proxy sidecar)."""
    from mlops_platform.cloud_layer import (
        ConnectorSidecar,
        DatabaseAccess,
        DatabaseAdmin,
        DatabaseRole,
        DatabaseTls,
        RefreshedToken,
        StaticPassword,
    )

    out = pulumi.Output.from_input
    if kind == "static":
        return DatabaseAccess(
            host=out(host), port=out(port), database=out(database), username=out(username),
            login=StaticPassword(password=pulumi.Output.secret(password)), tls=DatabaseTls(mode="disable"),
            role=DatabaseRole(create=("CREATE ROLE {role} LOGIN",), ensure=("ALTER ROLE {role} PASSWORD %(password)s",),
                              secret_parameters=pulumi.Output.secret({"password": password})),
            admin=DatabaseAdmin(username="postgres", login=StaticPassword(password=pulumi.Output.secret(admin_password))))
    if kind == "connector":
        proxy = ConnectorSidecar(name="cloud-sql-proxy", image="gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.18.2",
                                 args=["--auto-iam-authn", "--private-ip", "--port", str(port), "--health-check",
                                       "--http-address", "0.0.0.0", "--http-port", "9090", "project:region:instance"],
                                 health_port=9090, startup_path="/startup", liveness_path="/liveness",
                                 readiness_path="/readiness")
        return DatabaseAccess(
            host=out("127.0.0.1"), port=out(port), database=out(database), username=out(username),
            login=proxy, tls=DatabaseTls(mode="disable"), role=DatabaseRole(ensure=()),
            admin=DatabaseAdmin(username="postgres", login=proxy))
    region = {"AWS_REGION": "eu-west-1"}
    return DatabaseAccess(
        host=out(host), port=out(port), database=out(database), username=out(username),
        login=RefreshedToken(source="aws-rds-iam", settings=region),
        tls=DatabaseTls(mode="verify-full", ca_bundle="aws-rds"),
        role=DatabaseRole(create=("CREATE ROLE {role} LOGIN",), ensure=("GRANT rds_iam TO {role}",)),
        admin=DatabaseAdmin(username="mlflow", login=RefreshedToken(
            source="aws-secrets-manager", settings={**region, "MLOPS_DB_SECRET_ID": "arn:aws:secretsmanager:x"})))
