"""Blob artifacts over ``wasbs://`` with Entra workload identity, for real against Azurite: the serving image loads a
model, and the MLflow tracking server (its rendered command) logs an artifact, each signing in as the managed
identity the ``azure-dev`` stack federates to its ServiceAccount (see ``emulated_azure`` for what is real and what
is not).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mlops_platform.kubernetes.mlflow_server import AUTH_CONFIG_PATH, METRICS_DIR, MLFLOW_PORT, auth_config
from mlops_platform.kubernetes.model_endpoint import READY_PATH
from tests.azure.emulated_azure import (
    ACCOUNT,
    TOKEN_AUDIENCE,
    Federation,
    environment,
    jwt_claims,
    service_account_token,
)
from tests.kubernetes.live_services import free_port, wait_for_http
from tests.serving.model_factory import FEATURES, save_logistic_regression, training_frame
from tests.serving.serving_processes import post_json, start_serving_image

pytestmark = pytest.mark.slow
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"


def rendered_identity(plan, namespace: str, service_account: str) -> tuple[str, Federation]:
    """The client id a stack puts on a ServiceAccount, and the federated credential it gives that identity."""
    account, = [r for r in plan.all(SERVICE_ACCOUNT) if r.inputs["metadata"].get("namespace") == namespace
                and r.inputs["metadata"].get("name") == service_account]
    client_id = account.inputs["metadata"]["annotations"]["azure.workload.identity/client-id"]
    subject = f"system:serviceaccount:{namespace}:{service_account}"
    federation, = [f for f in plan.all(FEDERATION) if f.inputs["subject"] == subject]
    identity = next(r for r in plan.all("azure-native:managedidentity:UserAssignedIdentity")
                    if r.outputs["name"] == federation.inputs["resourceName"])
    assert identity.outputs["clientId"] == client_id  # the annotation names the identity that is federated
    return client_id, Federation(client_id=client_id, issuer=federation.inputs["issuer"],
                                 subject=federation.inputs["subject"],
                                 audiences=tuple(federation.inputs["audiences"]))


def pod_environment(azure, plan, namespace: str, service_account: str) -> dict[str, str]:
    """What the kubelet and the workload-identity webhook give a pod of ``namespace/service_account``: the
    variables, and a projected token from the cluster's issuer (whose federation Entra now trusts)."""
    client_id, federation = rendered_identity(plan, namespace, service_account)
    azure.federations.append(federation)
    token = service_account_token(federation.issuer, namespace, service_account)
    return {**azure.client_env(), **azure.workload_identity_env(client_id, token)}


def upload_directory(azure, container: str, local: Path, prefix: str) -> None:
    """Files as a data scientist's ``mlflow.log_model`` would leave them, uploaded by a separate identity."""
    from azure.identity import DefaultAzureCredential
    from azure.storage.blob import BlobServiceClient

    issuer = "https://westeurope.oic.prod-aks.azure.com/tenant/ci/"
    azure.federations.append(Federation("ci-uploader", issuer, "system:serviceaccount:ci:uploader", (TOKEN_AUDIENCE,)))
    env = {**azure.client_env(), **azure.workload_identity_env(
        "ci-uploader", service_account_token(issuer, "ci", "uploader"))}
    with environment(env):
        client = BlobServiceClient(azure.blob_endpoint, credential=DefaultAzureCredential())
        containers = client.get_container_client(container)
        if not containers.exists():
            containers.create_container()
        for path in local.rglob("*"):
            if path.is_file():
                containers.upload_blob(f"{prefix}/{path.relative_to(local).as_posix()}", path.read_bytes(),
                                       overwrite=True)


def blob_names(azure, container: str, prefix: str) -> list[str]:
    from azure.identity import DefaultAzureCredential
    from azure.storage.blob import BlobServiceClient

    with environment({**azure.client_env(), **azure.workload_identity_env(
            "ci-uploader", service_account_token("https://westeurope.oic.prod-aks.azure.com/tenant/ci/", "ci",
                                                 "uploader"))}):
        client = BlobServiceClient(azure.blob_endpoint, credential=DefaultAzureCredential())
        return [blob.name for blob in client.get_container_client(container).list_blobs(name_starts_with=prefix)]


def test_the_serving_image_loads_a_wasbs_model_as_the_endpoints_managed_identity(emulated_azure, preview,
                                                                                 tmp_path):
    plan = preview("azure-dev")
    container = plan.one("azure-native:storage:BlobContainer").inputs["containerName"]
    prefix = f"models/churn/{uuid.uuid4().hex}"
    upload_directory(emulated_azure, container, save_logistic_regression(tmp_path / "model"), prefix)
    issued_before = len(emulated_azure.issued)

    env = pod_environment(emulated_azure, plan, "models", "churn")
    server = start_serving_image(f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net/{prefix}", tmp_path / "srv",
                                 **env)
    try:
        server.wait_until(READY_PATH, timeout=180)
        frame = training_frame(rows=3, seed=7)
        status, body = post_json(server.url("/invocations"), {"dataframe_split": {
            "columns": FEATURES, "data": frame.to_numpy().tolist()}})
        assert status == 200, (body, server.log()[-3000:])
        assert len(body["predictions"]) == 3
    finally:
        server.stop()
    client_id = env["AZURE_CLIENT_ID"]
    tokens = [claims for claims in emulated_azure.issued[issued_before:] if claims["appid"] == client_id]
    assert tokens and all(claims["aud"] == "https://storage.azure.com" for claims in tokens)
    assert "AZURE_STORAGE_ACCESS_KEY" not in env and "AZURE_STORAGE_CONNECTION_STRING" not in env


def test_a_token_for_another_service_account_is_refused_and_the_model_never_loads(emulated_azure, preview,
                                                                                  tmp_path):
    """Guards the test above: Entra's exchange (here its stand-in) is what lets the pod in, so the federated
    credential's subject matters."""
    plan = preview("azure-dev")
    container = plan.one("azure-native:storage:BlobContainer").inputs["containerName"]
    client_id, federation = rendered_identity(plan, "models", "churn")
    emulated_azure.federations.append(federation)
    token = service_account_token(federation.issuer, "models", "someone-else")
    env = {**emulated_azure.client_env(), **emulated_azure.workload_identity_env(client_id, token)}
    refused_before = len(emulated_azure.refused)
    server = start_serving_image(f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net/models/none", tmp_path / "srv",
                                 **env)
    refusals: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not refusals and time.monotonic() < deadline and server.process.poll() is None:
            refusals = [reason for reason in emulated_azure.refused[refused_before:]
                        if "system:serviceaccount:models:someone-else" in reason]
            time.sleep(0.5)
        assert refusals, server.log()[-3000:]
        with pytest.raises(AssertionError):
            server.wait_until(READY_PATH, timeout=5)
    finally:
        server.stop()


def test_the_tracking_server_logs_an_artifact_to_blob_storage_as_mlflows_managed_identity(emulated_azure, preview,
                                                                                          tmp_path):
    plan = preview("azure-dev")
    deployment = next(r for r in plan.all("kubernetes:apps/v1:Deployment") if r.name.endswith("mlflow-server"))
    server_container = next(c for c in deployment.outputs["spec"]["template"]["spec"]["containers"]
                            if c["name"] == "mlflow")
    container = plan.one("azure-native:storage:BlobContainer").inputs["containerName"]
    account = plan.one("azure-native:storage:StorageAccount").outputs["name"]
    # Cluster-only values swapped for local ones: the account (Azurite serves one), the bind address and port, the
    # database (a file instead of PostgreSQL, which the credential tests run for real), the mounted paths.
    port = free_port()
    backend = f"sqlite:///{tmp_path / 'mlflow.db'}"
    swaps = {f"{account}.blob": f"{ACCOUNT}.blob", METRICS_DIR: str(tmp_path / "metrics")}
    args = []
    for arg in server_container["args"]:
        for old, new in swaps.items():
            arg = arg.replace(old, new)
        args.append(arg)
    args[args.index("--host") + 1] = "127.0.0.1"
    assert args[args.index("--port") + 1] == str(MLFLOW_PORT)
    args[args.index("--port") + 1] = str(port)
    args[args.index("--workers") + 1] = "1"  # one test client; the pod's worker count only costs start-up time here
    destination = args[args.index("--artifacts-destination") + 1]
    assert destination == f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net"
    (tmp_path / "metrics").mkdir()
    (tmp_path / "basic_auth.ini").write_text(auth_config(backend))
    password = uuid.uuid4().hex
    # The container's own plain values (the job runner off among them), then the local stand-ins for cluster ones.
    rendered = {entry["name"]: entry["value"] for entry in server_container["env"] if "value" in entry}
    env = {**os.environ, **rendered, **pod_environment(emulated_azure, plan, "mlflow", "mlflow"),
           "MLFLOW_BACKEND_STORE_URI": backend, "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "basic_auth.ini"),
           "MLFLOW_AUTH_ADMIN_USERNAME": "admin", "MLFLOW_AUTH_ADMIN_PASSWORD": password,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex, "HOME": str(tmp_path)}
    assert AUTH_CONFIG_PATH != env["MLFLOW_AUTH_CONFIG_PATH"]

    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    subprocess.run([sys.executable, "-m", "mlflow", "db", "upgrade", backend], env=env, check=True,
                   capture_output=True, timeout=300)
    process = subprocess.Popen([str(Path(sys.executable).parent / server_container["command"][0]), *args], env=env,
                               stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True)
    try:
        try:
            wait_for_http(f"http://localhost:{port}/health", 300, process)
        except RuntimeError as error:
            raise AssertionError(f"{error}:\n{(tmp_path / 'server.log').read_text()[-4000:]}") from None
        artifact = tmp_path / "metrics.txt"
        artifact.write_text("accuracy 0.93\n")
        client_env = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": password,
                      "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        with environment(client_env):
            import mlflow

            client = mlflow.MlflowClient(tracking_uri=f"http://localhost:{port}")
            experiment = client.create_experiment(f"azure-{uuid.uuid4().hex[:8]}")
            run = client.create_run(experiment)
            client.log_artifact(run.info.run_id, str(artifact))
            listed = [entry.path for entry in client.list_artifacts(run.info.run_id)]
        assert listed == ["metrics.txt"]
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()
    stored = blob_names(emulated_azure, container, "")
    assert any(name.endswith(f"{run.info.run_id}/artifacts/metrics.txt") for name in stored), (
        stored, (tmp_path / "server.log").read_text()[-3000:])
    client_id = env["AZURE_CLIENT_ID"]
    assert any(claims["appid"] == client_id for claims in emulated_azure.issued)


def test_the_azure_entra_token_source_gets_a_postgres_token_as_mlflows_managed_identity(emulated_azure, preview):
    """The refresher's ``azure-entra`` source, with the settings the MLflow pod's token sidecar is rendered with."""
    from serving_image.tracking.token_sources import DatabaseTarget, load_source

    plan = preview("azure-dev")
    deployment = next(r for r in plan.all("kubernetes:apps/v1:Deployment") if r.name.endswith("mlflow-server"))
    sidecar, = [c for c in deployment.outputs["spec"]["template"]["spec"]["initContainers"]
                if c["name"] == "database-token"]
    rendered = {entry["name"]: entry["value"] for entry in sidecar["env"] if "value" in entry}
    assert rendered["MLOPS_DB_TOKEN_SOURCE"] == "azure-entra" and rendered["MLOPS_DB_USER"] == "mlflow"
    env = {**rendered, **pod_environment(emulated_azure, plan, "mlflow", "mlflow")}
    target = DatabaseTarget(host=rendered["MLOPS_DB_HOST"], port=int(rendered["MLOPS_DB_PORT"]),
                            user=rendered["MLOPS_DB_USER"])
    with environment(emulated_azure.client_env()):
        token = load_source(rendered["MLOPS_DB_TOKEN_SOURCE"], env, target).fetch()
    claims = jwt_claims(token.value)
    assert claims["aud"] == "https://ossrdbms-aad.database.windows.net"
    assert claims["appid"] == env["AZURE_CLIENT_ID"]
    assert token.expires_at is not None and token.expires_at > time.time() + 1800
    assert token.value not in repr(token)


def test_the_azure_entra_source_says_which_webhook_variable_is_missing():
    from serving_image.tracking.token_sources import DatabaseTarget, SourceError, load_source

    with pytest.raises(SourceError, match=r"^AZURE_FEDERATED_TOKEN_FILE: missing; .*azure.workload.identity/use"):
        load_source("azure-entra", {"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"},
                    DatabaseTarget("db.postgres.database.azure.com", 5432, "mlflow"))
