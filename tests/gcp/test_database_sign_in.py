"""On GCP every pod that opens a database connection (the MLflow server, its migration Job, the bootstrap Job)
reaches Cloud SQL through the Cloud SQL Auth Proxy beside it, as its own IAM user, and no password exists anywhere:
not in a pod spec, an argument, a Secret or a stack output."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from mlops_platform_offline.harness import plain_form

SIGNING_IN = {"mlops-kubernetes-mlflow-server": "kubernetes:apps/v1:Deployment",
              "mlops-kubernetes-mlflow-db-upgrade": "kubernetes:batch/v1:Job",
              "mlops-kubernetes-mlflow-database-bootstrap-job": "kubernetes:batch/v1:Job"}


def pod_spec(plan, name):
    return plain_form(plan.one(SIGNING_IN[name], name).inputs["spec"]["template"]["spec"], redact=False)


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
@pytest.mark.parametrize("name", sorted(SIGNING_IN))
def test_the_pod_runs_the_auth_proxy_as_a_native_sidecar_for_its_instance(preview, stack, name):
    plan = preview(stack)
    connection = plan.one("gcp:sql/databaseInstance:DatabaseInstance").outputs["connectionName"]
    [proxy] = [c for c in pod_spec(plan, name).get("initContainers", []) if c["name"] == "cloud-sql-proxy"]
    assert proxy["restartPolicy"] == "Always"
    assert proxy["image"].startswith("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.")
    assert proxy["args"][-1] == connection
    assert {"--auto-iam-authn", "--private-ip", "--address=127.0.0.1", "--port=5432"} <= set(proxy["args"])
    assert proxy["startupProbe"]["httpGet"] == {"path": "/startup", "port": 9090}
    assert proxy["securityContext"]["runAsNonRoot"] is True
    assert "env" not in proxy and "envFrom" not in proxy and "volumeMounts" not in proxy


@pytest.mark.parametrize("name", sorted(SIGNING_IN))
def test_no_password_reaches_the_pod(preview, name):
    spec = pod_spec(preview("gcp-dev"), name)
    for container in [*spec["containers"], *spec.get("initContainers", [])]:
        names = {e["name"] for e in container.get("env", [])}
        assert not names & {"PGPASSWORD", "PGPASSFILE"}, container["name"]
        assert "envFrom" not in container or all("database" not in json.dumps(s) for s in container["envFrom"])
        for value in [*container.get("args", []), *container.get("command", []),
                      *(e.get("value") or "" for e in container.get("env", []))]:
            if value.startswith("postgresql"):
                parts = urlsplit(value)
                assert (parts.hostname, parts.port, parts.password) == ("127.0.0.1", 5432, None), value


def test_mlflow_connects_as_its_own_iam_user_and_the_bootstrap_as_the_admin(preview):
    plan = preview("gcp-dev")
    users = {u.outputs["name"]: u.inputs.get("databaseRoles") for u in plan.all("gcp:sql/user:User")}
    assert users == {"mlops-gcp-dev-mlflow@acme-mlops-dev.iam": None,
                     "mlops-gcp-dev-db-admin@acme-mlops-dev.iam": ["cloudsqlsuperuser"]}
    [server] = pod_spec(plan, "mlops-kubernetes-mlflow-server")["containers"]
    uri = {e["name"]: e.get("value") for e in server["env"]}["MLFLOW_BACKEND_STORE_URI"]
    assert urlsplit(uri).username == "mlops-gcp-dev-mlflow%40acme-mlops-dev.iam"
    [bootstrap] = pod_spec(plan, "mlops-kubernetes-mlflow-database-bootstrap-job")["containers"]
    env = {e["name"]: e.get("value") for e in bootstrap["env"]}
    assert env["PGUSER"] == "mlops-gcp-dev-db-admin@acme-mlops-dev.iam" and env["PGHOST"] == "127.0.0.1"
    assert json.loads(env["MLOPS_DB_BOOTSTRAP"])["role"] == "mlops-gcp-dev-mlflow@acme-mlops-dev.iam"


def test_each_pod_runs_as_the_service_account_whose_google_account_is_its_database_user(preview):
    plan = preview("gcp-dev")
    service_accounts = {plain_form(r.inputs, redact=False)["metadata"]["name"]: plain_form(r.inputs, redact=False)
                        for r in plan.all("kubernetes:core/v1:ServiceAccount")
                        if plain_form(r.inputs, redact=False)["metadata"].get("namespace") == "mlflow"}
    annotation = "iam.gke.io/gcp-service-account"
    assert service_accounts["mlflow"]["metadata"]["annotations"][annotation] == (
        "mlops-gcp-dev-mlflow@acme-mlops-dev.iam.gserviceaccount.com")
    assert service_accounts["database-bootstrap"]["metadata"]["annotations"][annotation] == (
        "mlops-gcp-dev-db-admin@acme-mlops-dev.iam.gserviceaccount.com")
    assert pod_spec(plan, "mlops-kubernetes-mlflow-server")["serviceAccountName"] == "mlflow"
    assert pod_spec(plan, "mlops-kubernetes-mlflow-database-bootstrap-job")["serviceAccountName"] == (
        "database-bootstrap")


def test_mlflow_may_reach_the_instances_proxy_port_on_the_private_service_range_only(preview):
    plan = preview("gcp-dev")
    policies = [plain_form(r.inputs, redact=False) for r in plan.all("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if r.name.startswith("mlops-kubernetes-mlflow")]
    rules = [rule for policy in policies for rule in policy["spec"].get("egress", [])]
    to_database = [rule for rule in rules if {"protocol": "TCP", "port": 3307} in rule.get("ports", [])]
    assert to_database and all(rule["to"] == [{"ipBlock": {"cidr": "10.29.0.0/20"}}] for rule in to_database)


def test_no_database_password_is_a_stack_output_or_a_secret(preview):
    plan = preview("gcp-dev")
    assert "database_password" not in plan.outputs and "connection_uri" not in plan.outputs
    secrets = plan.all("kubernetes:core/v1:Secret")
    assert secrets and not [s.name for s in secrets if "database-bootstrap" in s.name or "login" in s.name]
    for secret in secrets:
        for value in (plain_form(secret.inputs, redact=False).get("stringData") or {}).values():
            assert not re.search(r"postgresql[+a-z0-9]*://[^/@]*:[^/@]*@", str(value)), secret.name


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_the_database_host_output_is_the_instances_private_ip_while_pods_use_the_proxy(preview, stack):
    plan = preview(stack)
    instance = plan.one("gcp:sql/databaseInstance:DatabaseInstance").outputs
    assert plan.outputs["database_host"] == instance["privateIpAddress"] != "127.0.0.1"
    env = {e["name"]: e.get("value") for e in pod_spec(plan, "mlops-kubernetes-mlflow-database-bootstrap-job")[
        "containers"][0]["env"]}
    assert env["PGHOST"] == "127.0.0.1"
