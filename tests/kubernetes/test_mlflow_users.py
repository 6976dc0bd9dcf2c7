"""The MLflow users Job and the least-privilege credentials it gives model endpoints instead of the admin's."""

from __future__ import annotations

import json

import pulumi
import pytest

from mlops_platform.kubernetes.mlflow_server import (
    MLFLOW_PORT,
    SERVER_LABELS,
    USERS_LABELS,
    USERS_SCRIPT,
    MlflowServer,
    validate_mlflow_server_args,
)
from mlops_platform.validation import ArgumentError
from tests.kubernetes.rendering import container, database_access, inputs, render

ARGS = {"namespace": "mlflow", "image": "ghcr.io/example/mlflow:3.17.2",
        "database": database_access(), "artifact_uri": "s3://bucket",
        "readers": [{"username": "endpoint-churn", "model_name": "churn-classifier", "model_versions": ["1", "2"]}]}


@pytest.fixture(scope="module")
def plan():
    return render(lambda opts: MlflowServer("mlflow", {**ARGS, "database": database_access()}, opts=opts))


def _in_namespace(plan, namespace: str):
    return [r for r in plan.resources if r.custom and (r.inputs.get("metadata") or {}).get("namespace") == namespace]


def test_endpoint_pods_get_their_own_mlflow_user_never_the_admin_password(preview):
    plan = preview("local")
    admin_password = inputs(plan.one("kubernetes:core/v1:Secret", "mlops-kubernetes-mlflow-config"))[
        "stringData"]["MLFLOW_AUTH_ADMIN_PASSWORD"]
    readers = inputs(plan.one("kubernetes:core/v1:Secret", "mlops-kubernetes-mlflow-reader-passwords"))["stringData"]
    assert set(readers) == {"endpoint-churn"} and readers["endpoint-churn"] != admin_password
    in_models = _in_namespace(plan, "models")
    assert in_models, "the local stack has an endpoint in the models namespace"
    for resource in in_models:
        assert admin_password not in json.dumps(inputs(resource)), resource.name
    credentials = [inputs(r)["stringData"] for r in in_models if r.type == "kubernetes:core/v1:Secret"
                   and "MLFLOW_TRACKING_USERNAME" in inputs(r)["stringData"]]
    assert [(c["MLFLOW_TRACKING_USERNAME"], c["MLFLOW_TRACKING_PASSWORD"]) for c in credentials] == [
        ("endpoint-churn", readers["endpoint-churn"])]


def test_local_stack_reader_covers_both_served_versions(preview):
    job = container(preview("local").one("kubernetes:batch/v1:Job", "mlops-kubernetes-mlflow-users"))
    users = json.loads(next(e["value"] for e in job["env"] if e["name"] == "MLFLOW_USERS"))
    assert users == [{"username": "endpoint-churn", "model_name": "churn-classifier", "model_versions": ["1", "2"],
                      "password_env": "MLFLOW_READER_PASSWORD_0"}]


def test_users_job_runs_after_the_server_is_ready(plan):
    job = plan.one("kubernetes:batch/v1:Job", "mlflow-users")
    assert plan.one("kubernetes:apps/v1:Deployment").urn in job.dependencies


def test_users_job_reads_every_password_from_secrets_not_its_command(plan):
    job = container(plan.one("kubernetes:batch/v1:Job", "mlflow-users"))
    assert job["command"] == ["python", "-c", USERS_SCRIPT] and "args" not in job
    secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in job["env"] if "valueFrom" in e}
    assert secret_refs == {
        "MLFLOW_TRACKING_PASSWORD": {"name": "mlflow-config", "key": "MLFLOW_AUTH_ADMIN_PASSWORD"},
        "MLFLOW_READER_PASSWORD_0": {"name": "mlflow-reader-passwords", "key": "endpoint-churn"},
    }


def test_users_job_pod_runs_hardened(plan):
    pod = inputs(plan.one("kubernetes:batch/v1:Job", "mlflow-users"))["spec"]["template"]["spec"]
    security = pod["containers"][0]["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert security["readOnlyRootFilesystem"] is True and security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(pod["containers"][0]["resources"]["limits"]) == {"cpu", "memory"}


def test_users_job_may_reach_the_server_and_the_server_admits_it(plan):
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlflow"}}}
    users = inputs(plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlflow-allow-users"))["spec"]
    assert users["podSelector"] == {"matchLabels": USERS_LABELS} and users["policyTypes"] == ["Egress"]
    assert users["egress"] == [{"to": [{**peer, "podSelector": {"matchLabels": SERVER_LABELS}}],
                                "ports": [{"protocol": "TCP", "port": MLFLOW_PORT}]}]
    server = inputs(plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlflow-allow-server"))["spec"]
    assert {**peer, "podSelector": {"matchLabels": USERS_LABELS}} in server["ingress"][0]["from"]


def test_without_readers_there_is_no_users_job():
    plan = render(lambda opts: MlflowServer("mlflow", {**ARGS, "database": database_access(), "readers": []},
                                            opts=opts))
    assert sorted(r.name for r in plan.all("kubernetes:batch/v1:Job")) == ["mlflow-database-bootstrap-job",
                                                                           "mlflow-db-upgrade"]


@pytest.mark.parametrize("readers, message", [
    ("endpoint-churn", "mlflow.readers: 'endpoint-churn' is not allowed"),
    ([{"username": "admin", "model_name": "m", "model_versions": ["1"]}],
     "mlflow.readers[0].username: 'admin' is not allowed"),
    ([{"username": "Endpoint_Churn", "model_name": "m", "model_versions": ["1"]}],
     "mlflow.readers[0].username: 'Endpoint_Churn' is not allowed"),
    ([{"username": "a", "model_name": "m", "model_versions": ["1"]},
      {"username": "a", "model_name": "n", "model_versions": ["1"]}], "mlflow.readers[1].username: 'a' is not allowed"),
    ([{"username": "a", "model_name": "", "model_versions": ["1"]}], "mlflow.readers[0].model_name: '' is not allowed"),
    ([{"username": "a", "model_name": "m", "model_versions": ["@champion"]}],
     "mlflow.readers[0].model_versions: ['@champion'] is not"),
    ([{"username": "a", "model_name": "m", "model_versions": [1]}], "mlflow.readers[0].model_versions: [1] is not"),
    ([{"username": "a", "model_name": "m", "model_versions": ["1"], "role": "admin"}], "mlflow.readers[0].role"),
])
def test_bad_readers_are_rejected(readers, message):
    with pytest.raises(ArgumentError) as raised:
        validate_mlflow_server_args({**ARGS, "readers": readers})
    assert str(raised.value).startswith(message)
