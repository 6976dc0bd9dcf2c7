"""The MLflow server's rendering: migration first, secrets only in Secrets, auth on, egress narrowed."""

from __future__ import annotations

import json

import pytest

from mlops_platform.cloud_layer import EgressTarget
from mlops_platform.kubernetes.mlflow_server import MlflowServer, validate_mlflow_server_args
from mlops_platform.validation import ArgumentError
from mlops_platform_offline.harness import SECRET_SIG
from tests.kubernetes.rendering import container, database_access, inputs, render

ARGS = {"namespace": "mlflow", "image": "ghcr.io/example/mlflow:3.17.2",
        "database": database_access(), "artifact_uri": "s3://bucket",
        "database_egress": EgressTarget(ports=(5432,), cidrs=["10.20.0.0/16"])}


def rendered(kind: str = "token"):
    return render(lambda opts: MlflowServer("mlflow", {**ARGS, "database": database_access(kind)}, opts=opts))


@pytest.fixture(scope="module")
def plan():
    return rendered()


def test_migration_job_follows_the_bootstrap_and_precedes_the_server(plan):
    job = plan.one("kubernetes:batch/v1:Job", "mlflow-db-upgrade")
    bootstrap = plan.one("kubernetes:batch/v1:Job", "mlflow-database-bootstrap-job")
    server = plan.one("kubernetes:apps/v1:Deployment")
    assert job.urn in server.dependencies
    assert bootstrap.urn in job.dependencies
    assert container(job)["command"] == ["python", "-m", "serving_image.tracking.schema_upgrade"]
    assert "args" not in container(job)


@pytest.mark.parametrize("kind", ["static", "token"])
def test_database_password_appears_only_inside_a_secret(kind):
    plan = rendered(kind)
    for resource in plan.resources:
        if resource.type == "kubernetes:core/v1:Secret":
            continue
        assert "hunter2" not in json.dumps(resource.inputs), resource.name
    secret = plan.one("kubernetes:core/v1:Secret", "mlflow-config")
    assert secret.inputs["stringData"][SECRET_SIG]


def test_server_runs_basic_auth_with_proxied_artifacts_and_metrics(plan):
    server = container(plan.one("kubernetes:apps/v1:Deployment"))
    args = server["args"]
    assert args[args.index("--app-name") + 1] == "basic-auth"
    assert "--serve-artifacts" in args and args[args.index("--artifacts-destination") + 1] == "s3://bucket"
    assert "--expose-prometheus" in args
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    monitor = inputs(plan.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"))
    assert monitor["spec"]["endpoints"][0]["basicAuth"]["password"]["name"] == "mlflow-metrics-auth"


def test_server_egress_reaches_only_the_database_range_and_the_store(plan):
    policy = inputs(plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlflow-allow-server"))
    egress = policy["spec"]["egress"]
    assert egress[0] == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    assert egress[1]["ports"] == [{"protocol": "TCP", "port": 443}]


@pytest.mark.parametrize("overrides, message", [
    ({"image": "ghcr.io/example/mlflow:latest"}, "mlflow.image: 'ghcr.io/example/mlflow:latest' is not allowed"),
    ({"image_digest": "sha256:abc"}, "mlflow.image_digest: 'sha256:abc' is not allowed"),
    ({"replicas": 0}, "mlflow.replicas: 0 is not allowed; use an integer from 1 to 10"),
    ({"allowed_hosts": ["*"]}, "mlflow.allowed_hosts: ['*'] is not allowed"),
    ({"namespace": "default"}, "mlflow.namespace: 'default' is not allowed"),
])
def test_bad_mlflow_arguments_are_rejected(overrides, message):
    with pytest.raises(ArgumentError) as raised:
        validate_mlflow_server_args({**ARGS, **overrides})
    assert str(raised.value).startswith(message)
