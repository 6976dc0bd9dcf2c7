"""The Azure layer as the stacks build it: secure defaults, the contract's output shapes, and that a change of tags
or node counts never changes an input that forces the replacement of the cluster, the server, the storage account,
the key vaults or their keys."""

from __future__ import annotations

import json
import re

import pulumi_kubernetes as k8s
import pytest

from mlops_platform.azure.layer import azure_provider, build_azure_layer, validate_azure_layer_args
from mlops_platform.cloud_layer import CloudLayer, NodeTaint
from mlops_platform_offline.harness import SECRET_MARKER, SECRET_SIG, run_function
from tests.stack_variants import config_sections, every_tag_changed, forcing_inputs, preview_with, record_outputs, stack_config

AKS = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
SERVER = "azure-native:dbforpostgresql:Server"
ACCOUNT = "azure-native:storage:StorageAccount"
VAULT = "azure-native:keyvault:Vault"
KEY = "azure-native:keyvault:Key"
GROUP = "azure-native:resources:ResourceGroup"

REPLACE_FORCING = {
    AKS: ("resourceName", "resourceGroupName", "location", "dnsPrefix", "fqdnSubdomain", "nodeResourceGroup",
          "networkProfile.networkPlugin", "networkProfile.networkPluginMode", "networkProfile.podCidr",
          "networkProfile.serviceCidr", "networkProfile.dnsServiceIP", "apiServerAccessProfile.enablePrivateCluster",
          "apiServerAccessProfile.privateDNSZone"),
    SERVER: ("serverName", "resourceGroupName", "location", "createMode", "availabilityZone",
             "network.delegatedSubnetResourceId", "network.privateDnsZoneArmResourceId", "backup.geoRedundantBackup",
             "dataEncryption.type"),
    ACCOUNT: ("accountName", "resourceGroupName", "location", "kind", "isHnsEnabled", "enableNfsV3",
              "encryption.requireInfrastructureEncryption"),
    VAULT: ("vaultName", "resourceGroupName", "location"),
    KEY: ("keyName", "vaultName", "resourceGroupName", "properties.kty", "properties.keySize", "properties.curveName"),
    GROUP: ("resourceGroupName", "location"),
}
"""Inputs whose change replaces the resource: the ARM path (name, group, parent) and location of every resource,
and the properties Azure accepts only at creation (read from the REST API specs' ``x-ms-mutability: create`` as far
as known offline, erring on the side of more keys). The inline ``agentPoolProfiles`` is only the creation shape (AKS
never updates it; the cluster ignores its changes and the system pool's own AgentPool carries them)."""




@pytest.fixture(scope="module")
def resized_and_retagged():
    config = stack_config("azure-prod")
    cluster = json.loads(config["mlops:cluster"])
    cluster["system_pool"] = {**cluster["system_pool"], "min_size": 4, "max_size": 8}
    cluster["cpu_pool"] = {**cluster["cpu_pool"], "min_size": 2, "max_size": 20, "desired_size": 5}
    cluster["gpu_pool"] = {**cluster["gpu_pool"], "max_size": 8}
    database = {**json.loads(config["mlops:database"]), "storage_size_gib": 256, "sku_name": "Standard_D8ds_v5"}
    return preview_with("azure-prod", tags=every_tag_changed("azure-prod"), cluster=cluster, database=database)


def test_tag_and_size_changes_leave_every_replace_forcing_input_alone(preview, resized_and_retagged):
    before = forcing_inputs(preview("azure-prod"), REPLACE_FORCING)
    after = forcing_inputs(resized_and_retagged, REPLACE_FORCING)
    assert set(before) == set(after)
    assert {key for key in before if key[0] in (AKS, SERVER, ACCOUNT)} == {
        (AKS, "mlops-cluster-aks"), (SERVER, "mlops-database-server"), (ACCOUNT, "mlops-artifacts-account")}
    assert {key[1] for key in before if key[0] == VAULT} == {
        "mlops-cluster-secrets-vault", "mlops-artifacts-cmk-vault", "mlops-database-cmk-vault"}
    assert before == after


def test_the_size_and_tag_change_really_reached_the_pools_the_server_and_the_tags(preview, resized_and_retagged):
    """Guards the test above: the changed config did change sizes and tags, so equal forcing inputs mean something."""
    def max_count(plan, pool):
        return plan.one(POOL, f"mlops-cluster-{pool}").inputs["maxCount"]
    assert (max_count(preview("azure-prod"), "cpu"), max_count(resized_and_retagged, "cpu")) == (10, 20)
    assert (max_count(preview("azure-prod"), "system"), max_count(resized_and_retagged, "system")) == (5, 8)
    assert resized_and_retagged.one(SERVER).inputs["storage"]["storageSizeGB"] == 256
    assert resized_and_retagged.one(AKS).inputs["tags"]["cost-center"] == "research"
    assert resized_and_retagged.one(ACCOUNT).inputs["tags"]["environment"] == "production"


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_stateful_resources_are_protected(preview, stack):
    plan = preview(stack)
    for type_ in (AKS, SERVER, ACCOUNT, VAULT, KEY, GROUP, "azure-native:dbforpostgresql:Database"):
        assert plan.all(type_) and all(r.protect for r in plan.all(type_)), type_


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_stateful_resources_are_delete_locked(preview, stack):
    plan = preview(stack)
    locked = {lock.inputs["scope"] for lock in plan.all("azure-native:authorization:ManagementLockByScope")}
    for type_ in (SERVER, ACCOUNT, VAULT, GROUP):
        assert {r.outputs["id"] for r in plan.all(type_)} <= locked, type_


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_every_taggable_azure_resource_carries_the_cost_tags(preview, stack):
    from mlops_platform.tagging import is_azure_taggable

    plan = preview(stack)
    taggable = [r for r in plan.resources if r.type.startswith("azure-native:") and is_azure_taggable(r.type)]
    assert len(taggable) >= 15
    for resource in taggable:
        assert {"cost-center", "owner", "environment", "project", "managed-by"} <= set(resource.inputs["tags"]), \
            resource.name


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_node_counts_belong_to_the_autoscaler(preview, stack):
    plan = preview(stack)
    assert "agentPoolProfiles" in plan.one(AKS).ignore_changes
    for pool in plan.all(POOL):
        assert "count" in pool.ignore_changes


def test_dev_is_free_tier_spot_cpu_no_gpu_single_zone_db_local_storage(preview):
    plan = preview("azure-dev")
    assert plan.one(AKS).inputs["sku"]["tier"] == "Free"
    assert {p.name for p in plan.all(POOL)} == {"mlops-cluster-system", "mlops-cluster-cpu"}
    assert plan.one(POOL, "mlops-cluster-cpu").inputs["scaleSetPriority"] == "Spot"
    server = plan.one(SERVER).inputs
    assert server["highAvailability"]["mode"] == "Disabled" and server["sku"]["tier"] == "Burstable"
    assert plan.one(ACCOUNT).inputs["sku"] == {"name": "Standard_LRS"}
    assert plan.one(ACCOUNT).inputs["encryption"]["keySource"] == "Microsoft.Storage"


def test_prod_is_standard_tier_gpu_zone_redundant_db_and_customer_keys(preview):
    plan = preview("azure-prod")
    aks = plan.one(AKS).inputs
    assert aks["sku"]["tier"] == "Standard" and aks["apiServerAccessProfile"]["enablePrivateCluster"] is True
    gpu = plan.one(POOL, "mlops-cluster-gpu").inputs
    assert gpu["vmSize"].startswith("Standard_NC") and gpu["nodeTaints"] == ["nvidia.com/gpu=true:NoSchedule"]
    server = plan.one(SERVER).inputs
    assert server["highAvailability"]["mode"] == "ZoneRedundant"
    assert server["backup"]["geoRedundantBackup"] == "Enabled" and server["dataEncryption"]["type"] == "AzureKeyVault"
    assert plan.one(ACCOUNT).inputs["encryption"]["keySource"] == "Microsoft.Keyvault"
    assert plan.one(ACCOUNT).inputs["sku"] == {"name": "Standard_GZRS"}


def test_the_provider_carries_the_location_and_subscription_of_the_stack(preview):
    provider = preview("azure-prod").one("pulumi:providers:azure-native").inputs
    assert provider["location"] == "westeurope"
    assert provider["subscriptionId"] == "00000000-0000-4000-8000-000000000002"
    for resource in preview("azure-prod").resources:
        if resource.type.startswith("azure-native:"):
            assert resource.provider.startswith(preview("azure-prod").one("pulumi:providers:azure-native").urn)


def test_role_assignments_are_scoped_to_one_resource_never_a_group_or_subscription(preview):
    for stack in ("azure-dev", "azure-prod"):
        for assignment in preview(stack).all("azure-native:authorization:RoleAssignment"):
            scope = assignment.inputs["scope"]
            assert "/providers/" in scope, (assignment.name, scope)


def test_workload_identities_get_blob_access_to_the_artifact_container_only(preview):
    plan = preview("azure-dev")
    container = plan.one("azure-native:storage:BlobContainer").outputs["id"]
    roles = {r.name: (r.inputs["scope"], r.inputs["roleDefinitionId"].rsplit("/", 1)[1])
             for r in plan.all("azure-native:authorization:RoleAssignment") if r.name.endswith("-artifacts")}
    assert roles == {"mlops-kubernetes-mlflow-artifacts": (container, "ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
                     "mlops-kubernetes-churn-artifacts": (container, "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1")}
    subjects = sorted(f.inputs["subject"] for f in plan.all("azure-native:managedidentity:FederatedIdentityCredential")
                      if f.name.startswith("mlops-kubernetes-"))
    assert subjects == ["system:serviceaccount:mlflow:database-bootstrap", "system:serviceaccount:mlflow:mlflow",
                        "system:serviceaccount:models:churn"]


# --- the contract's output shapes ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def contract():
    """The CloudLayer of the azure-prod settings, with its outputs resolved inside an offline run."""
    sections = config_sections("azure-prod", ("azure", "artifacts", "network", "cluster", "database"))
    settings = validate_azure_layer_args(sections, location="westeurope", name="mlops-prod")
    seen: dict[str, object] = {}

    def program():
        import pulumi

        parent = pulumi.ComponentResource("test:index:Parent", "parent")
        layer = build_azure_layer("layer", settings, parent=parent,
                                  provider=azure_provider("azure", settings, parent=parent))
        seen["layer"] = layer
        identity = layer.workload_identity("layer-mlflow", "mlflow", "mlflow")
        record_outputs({"kubeconfig": layer.kubeconfig, "issuer": layer.oidc_issuer,
                        "artifact_uri": layer.artifact_uri, "annotations": identity.annotations,
                        "labels": identity.labels, "cluster_name": layer.cluster_name,
                        "endpoint": layer.cluster_endpoint, "host": layer.database.host}, seen)
        pulumi.export("kubeconfig", layer.kubeconfig)

    return run_function(program), seen


def test_the_layer_returns_the_contract_with_a_kubernetes_provider(contract):
    _, seen = contract
    layer = seen["layer"]
    assert isinstance(layer, CloudLayer) and isinstance(layer.kubernetes_provider, k8s.Provider)
    assert seen["cluster_name"] == "mlops-prod"
    assert seen["endpoint"].startswith("https://mlops-prod-") and ".privatelink.westeurope.azmk8s.io" in seen[
        "endpoint"]


def test_the_kubeconfig_is_a_secret_that_authenticates_with_kubelogin(contract):
    plan, seen = contract
    assert plan.one("pulumi:providers:kubernetes").inputs["kubeconfig"][SECRET_SIG] == SECRET_MARKER
    assert plan.outputs["kubeconfig"] == "[secret]"
    user = json.loads(seen["kubeconfig"])["users"][0]["user"]
    assert list(user) == ["exec"] and user["exec"]["command"] == "kubelogin"


def test_the_oidc_issuer_and_the_identity_outputs_are_what_the_webhook_and_entra_expect(contract):
    plan, seen = contract
    assert seen["issuer"].startswith("https://westeurope.oic.prod-aks.azure.com/")
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity", "layer-mlflow-identity").outputs
    assert seen["annotations"] == {"azure.workload.identity/client-id": identity["clientId"]}
    assert seen["labels"] == {"azure.workload.identity/use": "true"}
    assert seen["artifact_uri"].startswith("wasbs://mlflow@mlopsprod")
    assert seen["host"] == "mlops-prod-mlflow.postgres.database.azure.com"


def test_the_contract_reports_the_gpu_pool_and_the_database_subnet(contract):
    _, seen = contract
    layer = seen["layer"]
    assert layer.gpu is not None
    assert layer.gpu.node_labels == {"mlops.io/pool": "gpu", "nvidia.com/gpu.present": "true"}
    assert layer.gpu.taints == (NodeTaint("nvidia.com/gpu", "true", "NoSchedule"),)
    assert layer.database_egress.cidrs == ("10.60.128.0/24",) and layer.database_egress.ports == (5432,)


SPOT_TAINT = NodeTaint("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")


def test_the_contract_names_akss_spot_taint_as_a_cpu_taint_every_pod_tolerates(contract):
    assert contract[1]["layer"].cpu_taints == (SPOT_TAINT,)


@pytest.mark.parametrize(("capacity", "taints"), [("spot", (SPOT_TAINT,)), ("on_demand", ())])
def test_the_cpu_taints_follow_the_cpu_pools_capacity_type(capacity, taints):
    sections = config_sections("azure-dev", ("azure", "artifacts", "network", "cluster", "database"))
    sections["cluster"]["cpu_pool"] = {**sections["cluster"]["cpu_pool"], "capacity_type": capacity}
    assert validate_azure_layer_args(sections, location="westeurope", name="mlops-dev").spot_taints == taints


def test_workload_identity_tokens_come_from_entra_over_https_not_from_imds(contract):
    egress = contract[1]["layer"].identity_egress
    assert [(target.ports, tuple(target.cidrs)) for target in egress] == [((443,), ("0.0.0.0/0",))]


@pytest.mark.parametrize(("sections", "message"), [
    ({}, r"^azure\.subscription_id: None is not allowed; use the subscription's id"),
    ({"azure": {"subscription_id": "my-sub"}}, r"^azure\.subscription_id: 'my-sub' is not allowed"),
    ({"azure": {"subscription_id": "00000000-0000-4000-8000-000000000001", "tenant": "x"}},
     r"^azure\.tenant: unknown key"),
    ({"azure": {"subscription_id": "00000000-0000-4000-8000-000000000001", "log_retention_days": 3}},
     r"^azure\.log_retention_days: 3 is not allowed"),
    ({"azure": {"subscription_id": "00000000-0000-4000-8000-000000000001"}, "cluster": {"cpu_pool": {"min_size": -1}}},
     r"^cluster\.cpu_pool\.min_size: -1 is not allowed"),
    ({"azure": {"subscription_id": "00000000-0000-4000-8000-000000000001"}, "artifacts": {"kms_key_arn": "x"}},
     r"^artifacts\.kms_key_arn: unknown key"),
    ({"azure": {"subscription_id": "00000000-0000-4000-8000-000000000001"}, "cluster": {"resource_group_name": "x"}},
     r"^cluster\.resource_group_name: unknown key"),
])
def test_bad_sections_fail_naming_the_config_key(sections, message):
    from mlops_platform.validation import ArgumentError

    with pytest.raises(ArgumentError, match=message):
        validate_azure_layer_args(sections, location="westeurope", name="mlops-dev")


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_mlflow_and_its_jobs_sign_in_with_entra_tokens_and_no_password_exists_anywhere(preview, stack):
    plan = preview(stack)
    server = plan.one("azure-native:dbforpostgresql:Server").inputs
    assert server["authConfig"]["passwordAuth"] == "Disabled" and "administratorLoginPassword" not in server
    workloads = [r for r in plan.all("kubernetes:apps/v1:Deployment") + plan.all("kubernetes:batch/v1:Job")
                 if r.name.startswith("mlops-kubernetes-mlflow-") and not r.name.endswith("-users")]
    assert {r.name.rsplit("-mlflow-", 1)[1] for r in workloads} == {"server", "db-upgrade",
                                                                     "database-bootstrap-job"}
    for workload in workloads:
        pod = workload.outputs["spec"]["template"]
        assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true", workload.name
        sidecar, = [c for c in pod["spec"]["initContainers"] if c["name"] == "database-token"]
        env = {e["name"]: e.get("value") for e in sidecar["env"]}
        assert env["MLOPS_DB_TOKEN_SOURCE"] == "azure-entra"
        assert env["MLOPS_DB_TOKEN_SCOPE"] == "https://ossrdbms-aad.database.windows.net/.default"
        for container in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]:
            for entry in container.get("env", []):
                value = str(entry.get("value", ""))
                assert "PASSWORD" not in entry["name"] or "value" not in entry, (workload.name, entry["name"])
                assert not re.search(r"postgres(ql)?(\+psycopg2)?://[^/@]*:[^/@]*@", value), (workload.name, value)
            assert not any("password" in arg.lower() for arg in container.get("args", [])), workload.name
    uri = next(e["value"] for w in workloads if w.name.endswith("-server")
               for c in w.outputs["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])
               if e["name"] == "MLFLOW_BACKEND_STORE_URI")
    assert uri.startswith("postgresql+psycopg2://mlflow@") and "sslmode=verify-full" in uri
    assert not [key for key in plan.outputs if "database" in key and "password" in key]
