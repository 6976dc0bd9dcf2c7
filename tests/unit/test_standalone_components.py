"""The components used one by one, as a consumer's program would: each tags what it creates from its own ``tags``
argument (or from one stack-wide registration), works under the caller's providers, can leave out the Prometheus
Operator's objects, and refuses bad input with a one-line message naming the field, the value and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
import yaml

from mlops_platform.aws.artifact_store import ArtifactStore as AwsArtifactStore
from mlops_platform.aws.cluster import Cluster as AwsCluster
from mlops_platform.azure.artifact_store import ArtifactStore as AzureArtifactStore
from mlops_platform.azure.network import Network as AzureNetwork
from mlops_platform.cloud_layer import EgressTarget
from mlops_platform.gcp.artifact_store import ArtifactStore as GcpArtifactStore
from mlops_platform.kubernetes.mlflow_server import MlflowServer
from mlops_platform.kubernetes.model_endpoint import BlueGreenModelEndpoint
from mlops_platform.kubernetes.namespace import IsolatedNamespace
from mlops_platform.local.layer import LocalLayer
from mlops_platform.platform import MlopsPlatform
from mlops_platform.tagging import (
    is_aws_taggable,
    is_azure_taggable,
    is_gcp_labellable,
    is_kubernetes_labellable,
    register_cost_tags,
)
from mlops_platform_offline.harness import Preview, ProgramError, plain_form, run_function
from tests.kubernetes.rendering import database_access, endpoint_args

TAGS = {"environment": "dev", "project": "churn", "owner": "data-science", "cost-center": "cc-1234"}
EXPECTED = {**TAGS, "managed-by": "pulumi"}
MLFLOW = {"namespace": "mlflow", "image": "ghcr.io/example/mlflow:3.17.2", "artifact_uri": "s3://models"}
AZURE_STORE = {"resource_group_name": "rg", "location": "westeurope", "name_prefix": "mlart",
               "allowed_subnet_ids": ["/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/"
                                      "virtualNetworks/vnet/subnets/nodes"],
               "log_workspace_id": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.OperationalInsights/"
                                   "workspaces/logs"}
MONITORING_OBJECTS = ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
                      "kubernetes:monitoring.coreos.com/v1:PrometheusRule")


def on_cluster(build) -> Preview:
    """Run ``build(opts)`` with the caller's own Kubernetes provider in ``opts``."""
    def program():
        build(pulumi.ResourceOptions(providers=[k8s.Provider("callers-cluster", context="team")]))
    return run_function(program)


def tags_of(resource) -> dict | None:
    inputs = plain_form(resource.inputs, redact=False)
    if resource.type.startswith("kubernetes:"):
        return (inputs.get("metadata") or {}).get("labels")
    return inputs.get("labels") if resource.type.startswith("gcp:") else inputs.get("tags")


def taggable(resource) -> bool:
    return resource.custom and (is_aws_taggable(resource.type) or is_gcp_labellable(resource.type)
                                or is_azure_taggable(resource.type) or is_kubernetes_labellable(resource.type))


# --- tags ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda: AwsArtifactStore("store", {"name_prefix": "models-", "tags": TAGS}),
    lambda: GcpArtifactStore("store", {"name_prefix": "models-", "location": "europe-west1", "project": "acme",
                                       "tags": TAGS}),
    lambda: AzureArtifactStore("store", {**AZURE_STORE, "tags": TAGS}),
], ids=["aws", "gcp", "azure"])
def test_an_artifact_store_used_alone_tags_everything_it_creates(build):
    plan = run_function(build)
    resources = [r for r in plan.resources if taggable(r)]
    assert resources, "the store creates taggable resources"
    assert {r.name: tags_of(r) for r in resources} == {r.name: EXPECTED for r in resources}


def test_an_artifact_store_without_tags_adds_none():
    plan = run_function(lambda: AwsArtifactStore("store", {"name_prefix": "models-"}))
    assert all(tags_of(r) is None for r in plan.all("aws:s3/bucket:Bucket"))


def test_the_mlflow_server_labels_every_object_it_creates():
    plan = on_cluster(lambda opts: MlflowServer("mlflow", {**MLFLOW, "database": database_access(),
                                                           "tags": TAGS}, opts=opts))
    objects = [r for r in plan.resources if taggable(r)]
    assert len(objects) > 10
    for resource in objects:
        assert EXPECTED.items() <= (tags_of(resource) or {}).items(), resource.name
    pods = plain_form(plan.one("kubernetes:apps/v1:Deployment").inputs)["spec"]["template"]["metadata"]["labels"]
    assert EXPECTED.items() <= pods.items()


def test_one_registration_tags_every_resource_of_the_program():
    def program():
        register_cost_tags(TAGS)
        aws.s3.Bucket("plain-bucket")
        AwsArtifactStore("store", {"name_prefix": "models-"})

    plan = run_function(program)
    buckets = plan.all("aws:s3/bucket:Bucket")
    assert len(buckets) == 3
    assert all(tags_of(bucket) == EXPECTED for bucket in buckets)


def test_a_tag_the_resource_sets_itself_wins():
    def program():
        register_cost_tags(TAGS)
        aws.s3.Bucket("own", tags={"owner": "platform"})

    assert tags_of(run_function(program).one("aws:s3/bucket:Bucket")) == {**EXPECTED, "owner": "platform"}


# --- the caller's providers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    lambda provider: pulumi.ResourceOptions(providers=[provider]),
    lambda provider: pulumi.ResourceOptions(providers={"aws": provider}),
    lambda provider: pulumi.ResourceOptions(provider=provider),
], ids=["providers-list", "providers-map", "provider"])
def test_an_artifact_store_creates_everything_with_the_callers_provider(options):
    def program():
        provider = aws.Provider("callers-account", region="eu-central-1")
        AwsArtifactStore("store", {"name_prefix": "models-"}, opts=options(provider))

    plan = run_function(program)
    custom = [r for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")]
    assert custom
    assert {r.name: plan.provider_of(r).name if plan.provider_of(r) else None for r in custom} == {
        r.name: "callers-account" for r in custom}


def test_the_endpoint_creates_everything_with_the_callers_kubernetes_provider():
    plan = on_cluster(lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(), opts=opts))
    objects = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")]
    assert {plan.provider_of(r).name for r in objects} == {"callers-cluster"}


def test_the_local_layer_deploys_with_the_callers_kubernetes_provider():
    plan = on_cluster(lambda opts: LocalLayer("local", {"client_namespaces": ["mlflow"]}, opts=opts))
    assert [p.name for p in plan.all("pulumi:providers:kubernetes")] == ["callers-cluster"]
    objects = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")]
    assert objects and {plan.provider_of(r).name for r in objects} == {"callers-cluster"}


def local_platform_args() -> dict:
    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.local.yaml").read_text())
    args = {key.split(":", 1)[1]: value for key, value in document["config"].items()}
    args["local"] = {k: v for k, v in args["local"].items() if k != "context"}
    return {**args, "name": "team"}


def test_the_platform_on_the_local_target_deploys_with_the_callers_kubernetes_provider():
    plan = on_cluster(lambda opts: MlopsPlatform("mlops", local_platform_args(), opts=opts))
    assert [p.name for p in plan.all("pulumi:providers:kubernetes")] == ["callers-cluster"]
    objects = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")]
    assert len(objects) > 30 and {plan.provider_of(r).name for r in objects} == {"callers-cluster"}


def test_the_platform_passes_its_tags_down_to_the_layers():
    plan = on_cluster(lambda opts: MlopsPlatform("mlops", local_platform_args(), opts=opts))
    layers = [r for r in plan.resources if r.type in ("mlops:kubernetes:KubernetesLayer", "mlops:local:LocalLayer")]
    assert len(layers) == 2
    stack_tags = local_platform_args()["tags"]
    for resource in plan.resources:
        if taggable(resource):
            assert {**stack_tags, "managed-by": "pulumi"}.items() <= (tags_of(resource) or {}).items(), resource.name


# --- monitoring objects, the endpoint's namespace -----------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda monitoring: (lambda opts: MlflowServer("mlflow", {**MLFLOW, "database": database_access(),
                                                             "monitoring": monitoring}, opts=opts)),
    lambda monitoring: (lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(monitoring=monitoring), opts=opts)),
], ids=["mlflow", "endpoint"])
def test_monitoring_objects_are_created_unless_switched_off(build):
    with_monitoring, without = on_cluster(build(True)), on_cluster(build(False))
    assert any(with_monitoring.all(kind) for kind in MONITORING_OBJECTS)
    assert [r.name for kind in MONITORING_OBJECTS for r in without.all(kind)] == []
    assert not any(r.type.startswith("kubernetes:monitoring.coreos.com/") for r in without.resources)


def test_without_monitoring_the_endpoint_lets_no_scraper_in():
    plan = on_cluster(lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(monitoring=False), opts=opts))
    policy = plain_form(plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "churn-allow").inputs)
    sources = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert sources == ["gateway"]


def test_without_monitoring_or_callers_the_endpoint_admits_no_ingress_at_all():
    args = {k: v for k, v in endpoint_args(monitoring=False).items() if k != "route"}
    plan = on_cluster(lambda opts: BlueGreenModelEndpoint("churn", args, opts=opts))
    spec = plain_form(plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "churn-allow").inputs)["spec"]
    assert "Ingress" in spec["policyTypes"] and not spec.get("ingress")


def test_the_endpoint_creates_its_isolated_namespace_first():
    plan = on_cluster(lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(), opts=opts))
    namespace = plan.one("kubernetes:core/v1:Namespace")
    assert plain_form(namespace.inputs)["metadata"]["name"] == "models"
    deny = plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "churn-namespace-default-deny")
    for resource in plan.all("kubernetes:apps/v1:Deployment") + plan.all("kubernetes:core/v1:Service"):
        assert namespace.urn in resource.dependencies and deny.urn in resource.dependencies, resource.name


def test_an_endpoint_told_its_namespace_exists_creates_none_and_waits_for_what_it_is_given():
    def build(opts):
        shared = IsolatedNamespace("models", {"name": "models"}, opts=opts)
        BlueGreenModelEndpoint("churn", endpoint_args(create_namespace=False),
                               opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[shared])))

    plan = on_cluster(build)
    namespace = plan.one("kubernetes:core/v1:Namespace")
    assert namespace.name == "models-namespace"
    assert namespace.urn in plan.one("kubernetes:apps/v1:Deployment", "churn-blue").dependencies


# --- errors a standalone user can meet ----------------------------------------------------------------------------

def namespace_output(opts):
    shared = IsolatedNamespace("models", {"name": "models"}, opts=opts)
    BlueGreenModelEndpoint("churn", endpoint_args(namespace=shared.name), opts=opts)


TRACKING = {"uri": "http://mlflow.mlflow.svc.cluster.local:5000", "namespace": "mlflow", "username": "endpoint-churn",
            "password": "not-a-real-password"}
DIGEST = "sha256:" + "a" * 64

ERRORS = [
    # the four the issue lists
    (lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(tracking={"uri": TRACKING["uri"]}), opts=opts),
     "churn.tracking.namespace: missing; tracking needs uri, namespace, username, password"),
    (namespace_output,
     "churn.namespace: an Output is not allowed; use the namespace name as a plain string"),
    (lambda opts: MlflowServer("mlflow", MLFLOW, opts=opts),
     "mlflow.database: missing; use a cloud layer's database (DatabaseAccess), or a mapping (DatabaseAccessArgs)"),
    (lambda opts: MlflowServer("mlflow", {**MLFLOW, "database": database_access(),
                                          "image": f"ghcr.io/example/mlflow@{DIGEST}"}, opts=opts),
     f"mlflow.image: 'ghcr.io/example/mlflow@{DIGEST}' is not allowed without a tag; use "
     f"ghcr.io/example/mlflow:<tag> and {DIGEST} in mlflow.image_digest"),
    # the other inputs a program wires by hand
    (lambda opts: AwsArtifactStore("store", {"name_prefix": pulumi.Output.from_input("models-")}, opts=opts),
     "artifact_store.name_prefix: an Output (known only at deployment) is not allowed; use a plain string"),
    (lambda opts: AwsArtifactStore("store", {"name_prefix": "models-", "tags": {**TAGS, "owner": "Data Science"}},
                                   opts=opts),
     "artifact_store.tags.owner: 'Data Science' is not allowed; use lowercase letters"),
    (lambda opts: AwsArtifactStore("store", {"name_prefix": "models-", "tags": {"owner": "ml"}}, opts=opts),
     "artifact_store.tags: missing required tag(s) environment, project"),
    (lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(tracking={**TRACKING, "token": "x"}), opts=opts),
     "churn.tracking.token: unknown key; allowed are namespace, password, port, uri, username"),
    (lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(tracking={**TRACKING, "uri": "mlflow:5000"}),
                                         opts=opts),
     "churn.tracking.uri: 'mlflow:5000' is not allowed; use the MLflow server's http:// or https:// URL"),
    (lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(tracking={**TRACKING, "port": 0}), opts=opts),
     "churn.tracking.port: 0 is not allowed; use an integer from 1 to 65535"),
    (lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(monitoring="no"), opts=opts),
     "churn.monitoring: 'no' is not allowed; use true or false"),
    (lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(create_namespace=1), opts=opts),
     "churn.create_namespace: 1 is not allowed; use true or false"),
    (lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(storage_egress=443), opts=opts),
     "churn.storage_egress: 443 is not allowed; use a mapping with ports and cidrs or namespace"),
    (lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(service_account_annotations=["role"]), opts=opts),
     "churn.service_account_annotations: ['role'] is not allowed; use a mapping of strings to strings"),
    (lambda opts: MlflowServer("mlflow", {**MLFLOW, "database": "db.internal:5432"}, opts=opts),
     "mlflow.database: 'db.internal:5432' is not allowed; use a mapping with host, port, database, username, login"),
    (lambda opts: MlflowServer("mlflow", {**MLFLOW, "database": database_access(), "artifact_uri": "models"},
                               opts=opts),
     "mlflow.artifact_uri: 'models' is not allowed; use an artifact store URI (s3://, gs:// or wasbs://)"),
    (lambda opts: MlflowServer("mlflow", {**MLFLOW, "database": database_access(),
                                          "database_egress": "10.0.0.0/16"}, opts=opts),
     "mlflow.database_egress: '10.0.0.0/16' is not allowed; use a mapping with ports and cidrs or namespace"),
    (lambda opts: MlflowServer("mlflow", {**MLFLOW, "database": database_access(), "artifact_pod_env": {"A": 1}},
                               opts=opts),
     "mlflow.artifact_pod_env: {'A': 1} is not allowed; use a mapping of strings to strings"),
    (lambda opts: MlflowServer("mlflow", {**MLFLOW, "database": database_access(), "monitoring": "off"}, opts=opts),
     "mlflow.monitoring: 'off' is not allowed; use true or false"),
    (lambda opts: LocalLayer("local", {"context": "kind-mlops"}, opts=opts),
     "local.context: 'kind-mlops' is not allowed with a Kubernetes provider in the options"),
    (lambda opts: AwsCluster("eks", {"name": "ml", "region": "eu-west-1"}, opts=opts),
     "cluster.vpc_id: missing; use the VPC's id (Network.vpc_id)"),
    (lambda opts: AzureNetwork("vnet", {"resource_group_name": "rg"}, opts=opts),
     "network.location: missing; use the Azure location, such as westeurope (ResourceGroup.location)"),
    (lambda opts: LocalLayer("local", {"client_namespaces": ["Models"]}, opts=opts),
     "local.client_namespaces[0]: 'Models' is not allowed; use a DNS label"),
]


@pytest.mark.parametrize("build, message", ERRORS, ids=[message.split(":")[0] for _, message in ERRORS])
def test_a_bad_input_fails_with_one_line_naming_the_field_the_value_and_what_is_allowed(build, message):
    with pytest.raises(ProgramError) as raised:
        on_cluster(build)
    text = str(raised.value)
    assert text.startswith(message)
    assert "\n" not in text and "<pulumi" not in text and not re.search(r"object at 0x", text)


def test_the_local_layer_without_a_context_or_a_provider_says_what_it_needs():
    with pytest.raises(ProgramError, match=r"^local\.context: None is not allowed; use the name of an existing "
                                           r"kubeconfig context .*, or pass a Kubernetes provider in the options$"):
        run_function(lambda: LocalLayer("local", {}))


def test_the_kubernetes_layer_refuses_anything_but_a_cloud_layer():
    from mlops_platform.kubernetes.layer import KubernetesLayer

    with pytest.raises(ProgramError, match=r"^platform\.cloud_layer: dict is not allowed; use the CloudLayer of a "
                                           r"cloud layer"):
        on_cluster(lambda opts: KubernetesLayer("platform", {"cloud_layer": {}, "images": {}}, opts=opts))


def test_an_egress_target_passes():
    plan = on_cluster(lambda opts: BlueGreenModelEndpoint(
        "churn", endpoint_args(storage_egress=EgressTarget(ports=(9000,), namespace="minio")), opts=opts))
    assert plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "churn-allow")


@pytest.mark.parametrize("image", ["ghcr.io/example/mlflow:3.17.2", f"ghcr.io/example/mlflow:3.17.2@{DIGEST}",
                                   f"registry.internal:5000/mlflow:3.17.2@{DIGEST}"])
def test_an_image_pinned_by_tag_with_or_without_a_digest_passes(image):
    plan = on_cluster(lambda opts: MlflowServer("mlflow", {**MLFLOW, "database": database_access(), "image": image},
                                                opts=opts))
    assert plain_form(plan.one("kubernetes:apps/v1:Deployment").inputs)["spec"]["template"]["spec"][
        "containers"][-1]["image"] == image
