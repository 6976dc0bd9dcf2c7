"""Components built through the provider's Construct register exactly what the Python classes register.

Each case runs twice under the harness: once with the Python class and snake_case args, once through
``MlopsComponentProvider.construct`` with the camelCase inputs a TypeScript or YAML program sends, after the wire
round trip Construct performs (serialized to a protobuf Struct, numbers as doubles, secrets as secret values, then
deserialized by the provider server's own ``_construct_inputs``). The recorded registrations must be identical.
One case goes all the way over gRPC: a ``ConstructRequest`` to the provider process started as the CLI starts it,
whose registrations reach the harness's monitor through a gRPC bridge (``tests.provider.served``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.provider.server import ProviderServicer
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from mlops_platform.aws.artifact_store import ArtifactStore
from mlops_platform.kubernetes.mlflow_server import MlflowServer
from mlops_platform.kubernetes.model_endpoint import BlueGreenModelEndpoint
from mlops_platform.provider import PACKAGE, MlopsComponentProvider
from mlops_platform_offline.harness import Preview, ProgramError, redacted, run_function
from tests.provider.served import engine_bridge, served_provider


@pytest.fixture(scope="module")
def provider() -> MlopsComponentProvider:
    return MlopsComponentProvider()


def _registrations(preview: Preview) -> dict[str, tuple[Any, ...]]:
    """Every registration by URN, dependencies as sets (their order follows the event loop's scheduling, as with
    the engine)."""
    return {r.urn: (r.type, r.name, r.parent, r.custom, r.protect, r.provider, redacted(r.inputs),
                    sorted(r.dependencies), {key: sorted(urns) for key, urns in r.property_dependencies.items()},
                    r.ignore_changes) for r in preview.resources}


def _through_provider(provider: MlopsComponentProvider, component: str, name: str,
                      inputs: Callable[[], dict[str, Any]], options: Callable[[], pulumi.ResourceOptions]) -> Preview:
    """Construct ``component`` from ``inputs()`` and ``options()`` (made inside the program, where outputs live)."""

    async def program() -> None:
        wire = await rpc.serialize_properties(inputs(), {})
        received = await ProviderServicer._construct_inputs(wire, {})
        provider.construct(name, f"{PACKAGE}:index:{component}", received, options())

    return run_function(program)


ARTIFACT_STORE_INPUTS = {"namePrefix": "mlops-dev-artifacts-", "noncurrentDays": 45, "incompleteUploadDays": 3,
                         "accessLogging": True, "accessLogDays": 90}


def test_the_aws_artifact_store_constructs_the_same_resources(provider):
    python = run_function(lambda: ArtifactStore("store", {
        "name_prefix": "mlops-dev-artifacts-", "noncurrent_days": 45, "incomplete_upload_days": 3,
        "access_logging": True, "access_log_days": 90}))
    constructed = _through_provider(provider, "AwsArtifactStore", "store", lambda: ARTIFACT_STORE_INPUTS,
                                    pulumi.ResourceOptions)
    assert "aws:s3/bucket:Bucket" in {r.type for r in constructed.resources}
    assert _registrations(constructed) == _registrations(python)


def test_the_constructed_store_honours_its_inputs(provider):
    constructed = _through_provider(provider, "AwsArtifactStore", "store", lambda: ARTIFACT_STORE_INPUTS,
                                    pulumi.ResourceOptions)
    lifecycle = constructed.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "store-lifecycle")
    assert '"noncurrentDays": 45' in str(lifecycle.inputs).replace("'", '"')


def test_a_bad_input_through_the_provider_gets_the_components_own_error(provider):
    with pytest.raises(ProgramError, match=r"store\.noncurrent_days: 0 is not allowed"):
        _through_provider(provider, "AwsArtifactStore", "store",
                          lambda: {**ARTIFACT_STORE_INPUTS, "noncurrentDays": 0}, pulumi.ResourceOptions)


def _kubernetes() -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(providers={"kubernetes": k8s.Provider("cluster", context="test")})


ENDPOINT_SNAKE = {
    "name": "churn", "namespace": "models", "model_name": "churn-classifier", "active": "blue",
    "blue": {"model_uri": "models:/churn-classifier/1", "model_version": "1",
             "image": "ghcr.io/example/serving:0.1.0", "replicas": 2},
    "green": {"model_uri": "models:/churn-classifier/2", "model_version": "2",
              "image": "ghcr.io/example/serving:0.1.1", "replicas": 1},
    "canary_weight": 10,
    "route": {"hostname": "churn.example.com", "gateway_name": "public", "gateway_namespace": "gateway"},
    "compute": {"cpu_request": "250m", "memory_request": "1Gi", "cpu_limit": "1", "memory_limit": "2Gi"},
    "readiness_probe": {"period_seconds": 7, "timeout_seconds": 3},
    "autoscaling": {"max_replicas": 6, "target_cpu_percent": 60},
    "slo": {"p99_latency_seconds": 0.3, "max_restarts": 3},
    "workers": 3,
    "service_account_annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/churn"},
    "artifact_pod_env": {"AWS_REGION": "eu-west-1"},
    "storage_egress": {"ports": [443], "cidrs": ["10.0.0.0/16"]},
    "client_namespaces": ["apps"],
}
ENDPOINT_CAMEL = {
    "name": "churn", "namespace": "models", "modelName": "churn-classifier", "active": "blue",
    "blue": {"modelUri": "models:/churn-classifier/1", "modelVersion": "1",
             "image": "ghcr.io/example/serving:0.1.0", "replicas": 2},
    "green": {"modelUri": "models:/churn-classifier/2", "modelVersion": "2",
              "image": "ghcr.io/example/serving:0.1.1", "replicas": 1},
    "canaryWeight": 10,
    "route": {"hostname": "churn.example.com", "gatewayName": "public", "gatewayNamespace": "gateway"},
    "compute": {"cpuRequest": "250m", "memoryRequest": "1Gi", "cpuLimit": "1", "memoryLimit": "2Gi"},
    "readinessProbe": {"periodSeconds": 7, "timeoutSeconds": 3},
    "autoscaling": {"maxReplicas": 6, "targetCpuPercent": 60},
    "slo": {"p99LatencySeconds": 0.3, "maxRestarts": 3},
    "workers": 3,
    "serviceAccountAnnotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/churn"},
    "artifactPodEnv": {"AWS_REGION": "eu-west-1"},
    "storageEgress": {"ports": [443], "cidrs": ["10.0.0.0/16"]},
    "clientNamespaces": ["apps"],
}
TRACKING = {"uri": "http://mlflow.mlflow.svc.cluster.local:5000", "namespace": "mlflow", "username": "endpoint-churn",
            "port": 5000}
"""The same in both spellings (one-word keys)."""


def _secret_tracking_inputs() -> dict[str, Any]:
    return {**ENDPOINT_CAMEL, "tracking": {**TRACKING, "password": pulumi.Output.secret("hunter2-reader")}}


def test_the_model_endpoint_constructs_the_same_resources(provider):
    tracking = {**TRACKING, "password": "reader-password"}
    python = run_function(lambda: BlueGreenModelEndpoint("churn", {**ENDPOINT_SNAKE, "tracking": tracking},
                                                         opts=_kubernetes()))
    constructed = _through_provider(provider, "BlueGreenModelEndpoint", "churn",
                                    lambda: {**ENDPOINT_CAMEL, "tracking": tracking}, _kubernetes)
    types = {r.type for r in constructed.resources}
    assert {"kubernetes:apps/v1:Deployment", "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "kubernetes:core/v1:Secret"} <= types
    assert _registrations(constructed) == _registrations(python)


def test_a_secret_nested_in_an_object_input_reaches_the_component_and_stays_secret(provider):
    # The SDK lifts the password's secretness to the whole ``tracking`` object; the provider hands the component
    # the object with every Input field secret (the URI and user name too: secret more than needed, never less).
    constructed = _through_provider(provider, "BlueGreenModelEndpoint", "churn", _secret_tracking_inputs,
                                    _kubernetes)
    secret = constructed.one("kubernetes:core/v1:Secret", "churn-credentials")
    assert secret.inputs["stringData"][rpc._special_sig_key] == rpc._special_secret_sig
    assert "hunter2-reader" not in str([redacted(r.inputs) for r in constructed.resources])
    assert "hunter2-reader" in str(secret.inputs)
    egress = constructed.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "churn-allow").inputs["spec"]["egress"]
    assert {"port": 5000, "protocol": "TCP"} in egress[1]["ports"]


def test_the_constructed_endpoint_egress_uses_the_given_ports_and_ranges(provider):
    constructed = _through_provider(provider, "BlueGreenModelEndpoint", "churn", lambda: ENDPOINT_CAMEL, _kubernetes)
    policy = constructed.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "churn-allow")
    egress = policy.inputs["spec"]["egress"][0]
    assert egress["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert egress["to"] == [{"ipBlock": {"cidr": "10.0.0.0/16"}}]


@pytest.fixture(scope="module")
def provider_process():
    """The provider process, and the bridge it sends its registrations and logs through."""
    with engine_bridge() as (bridge, bridge_address), served_provider(bridge_address) as address:
        yield bridge, bridge_address, address


def test_the_aws_artifact_store_constructs_the_same_resources_over_grpc(provider_process):
    bridge, bridge_address, address = provider_process

    async def program() -> None:
        bridge.target = settings.get_monitor()
        stack_urn = await settings.get_root_resource().urn.future()
        request = provider_pb2.ConstructRequest(
            project=settings.get_project(), stack=settings.get_stack(), organization="organization", dryRun=True,
            monitorEndpoint=bridge_address, type=f"{PACKAGE}:index:AwsArtifactStore", name="store",
            parent=stack_urn, inputs=await rpc.serialize_properties(ARTIFACT_STORE_INPUTS, {}))
        async with grpc.aio.insecure_channel(address) as channel:
            response = await provider_pb2_grpc.ResourceProviderStub(channel).Construct(request, timeout=120)
        assert response.urn.endswith("$mlops:aws:ArtifactStore::store")
        outputs = rpc.deserialize_properties(response.state)
        assert outputs["uri"].startswith("s3://mlops-dev-artifacts-")

    constructed = run_function(program)
    python = run_function(lambda: ArtifactStore("store", {
        "name_prefix": "mlops-dev-artifacts-", "noncurrent_days": 45, "incomplete_upload_days": 3,
        "access_logging": True, "access_log_days": 90}))
    assert len(constructed.resources) > 5
    assert _registrations(constructed) == _registrations(python)


MLFLOW_CAMEL = {
    "namespace": "mlflow", "image": "ghcr.io/example/mlflow:3.17.2", "artifactUri": "s3://bucket",
    "databaseEgress": {"ports": [5432], "cidrs": ["10.20.0.0/16"]},
    "compute": {"cpuRequest": "1", "memoryRequest": "2Gi", "cpuLimit": "2", "memoryLimit": "3Gi"},
    "readers": [{"username": "endpoint-churn", "modelName": "churn-classifier", "modelVersions": ["1", "2"]}],
}
MLFLOW_SNAKE = {
    "namespace": "mlflow", "image": "ghcr.io/example/mlflow:3.17.2", "artifact_uri": "s3://bucket",
    "database_egress": {"ports": [5432], "cidrs": ["10.20.0.0/16"]},
    "compute": {"cpu_request": "1", "memory_request": "2Gi", "cpu_limit": "2", "memory_limit": "3Gi"},
    "readers": [{"username": "endpoint-churn", "model_name": "churn-classifier", "model_versions": ["1", "2"]}],
}


def test_the_mlflow_server_on_a_token_login_constructs_the_same_resources(provider):
    # The Python side passes the cloud layer's DatabaseAccess (as the AWS layer builds it); the provider side the
    # same access as the plain data other languages send.
    from tests.kubernetes.rendering import database_access

    python = run_function(lambda: MlflowServer("mlflow", {**MLFLOW_SNAKE, "database": database_access("token")},
                                               opts=_kubernetes()))
    database = {
        "host": "db.cluster.internal", "port": 5432, "database": "mlflow", "username": "mlflow_tracking",
        "login": {"refreshedToken": {"source": "aws-rds-iam", "settings": {"AWS_REGION": "eu-west-1"}}},
        "tls": {"mode": "verify-full", "caBundle": "aws-rds"},
        "role": {"create": ["CREATE ROLE {role} LOGIN"], "ensure": ["GRANT rds_iam TO {role}"]},
        "admin": {"username": "mlflow", "login": {"refreshedToken": {"source": "aws-secrets-manager", "settings": {
            "AWS_REGION": "eu-west-1", "MLOPS_DB_SECRET_ID": "arn:aws:secretsmanager:x"}}}},
    }
    constructed = _through_provider(provider, "MlflowServer", "mlflow", lambda: {**MLFLOW_CAMEL, "database": database},
                                    _kubernetes)
    assert {"kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job"} <= {r.type for r in constructed.resources}
    assert _registrations(constructed) == _registrations(python)


def _static_database() -> dict[str, Any]:
    return {
        "host": "postgres.data.svc", "port": 5432, "database": "mlflow", "username": "mlflow_tracking",
        "login": {"staticPassword": pulumi.Output.secret("hunter2-workload")}, "tls": {"mode": "disable"},
        "admin": {"username": "postgres", "login": {"staticPassword": pulumi.Output.secret("hunter2-admin")}},
    }


def test_a_static_database_password_through_the_provider_stays_secret(provider):
    constructed = _through_provider(provider, "MlflowServer", "mlflow",
                                    lambda: {**MLFLOW_CAMEL, "database": _static_database()}, _kubernetes)
    everything = str([redacted(r.inputs) for r in constructed.resources])
    assert "hunter2-workload" not in everything and "hunter2-admin" not in everything
    assert "hunter2-workload" in str(constructed.one("kubernetes:core/v1:Secret", "mlflow-database-login").inputs)


@pytest.mark.parametrize(("login", "message"), [
    ({}, r"mlflow\.database\.login: \{\} is not allowed; give exactly one of static_password, refreshed_token, "
         r"connector_sidecar"),
    ({"refreshedToken": {"source": "aws-rds-iam", "refreshSeconds": 5}},
     r"mlflow\.database\.login\.refresh_seconds: 5 is not allowed; use an integer from 10 to 3600"),
])
def test_a_bad_database_login_through_the_provider_gets_a_one_line_error(provider, login, message):
    database = {"host": "db", "port": 5432, "database": "mlflow", "username": "mlflow_tracking", "login": login,
                "admin": {"username": "postgres", "login": {"staticPassword": "x"}}}
    with pytest.raises(ProgramError, match=message):
        _through_provider(provider, "MlflowServer", "mlflow", lambda: {**MLFLOW_CAMEL, "database": database},
                          _kubernetes)


def test_a_contract_dataclass_output_is_returned_as_its_fields(provider):
    # GCP's Database.proxy is the contract's ConnectorSidecar, a frozen dataclass; the schema types it as an object.
    state: dict[str, Any] = {}

    def program() -> None:
        result = provider.construct("db", f"{PACKAGE}:index:GcpDatabase", {
            "identifier": "ml-db", "project": "acme-ml", "region": "europe-west1",
            "privateNetworkId": "projects/acme-ml/global/networks/ml"}, pulumi.ResourceOptions())
        state.update(result.state)

    run_function(program)
    assert state["proxy"]["name"] == "cloud-sql-proxy"
    assert state["proxy"]["healthPort"] == 9090
    assert {"startupPath", "livenessPath", "readinessPath", "image", "args", "runAsUser"} <= state["proxy"].keys()
