"""Each Azure block on its own: secure defaults, every opt-out, and bad arguments failing before any resource."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from mlops_platform.azure.artifact_store import ArtifactStore
from mlops_platform.azure.cluster import Cluster
from mlops_platform.azure.database import Database
from mlops_platform.azure.network import Network
from mlops_platform.azure.resource_group import ResourceGroup
from mlops_platform.azure.workload_identity import WorkloadIdentity
from mlops_platform_offline import fakes
from mlops_platform_offline.harness import ProgramError, run_function

GROUP = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg"
SUBNET = f"{GROUP}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/nodes"
WORKSPACE = f"{GROUP}/providers/Microsoft.OperationalInsights/workspaces/logs"
CONTAINER = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/sa1/blobServices/default/containers/mlflow"
ISSUER = "https://westeurope.oic.prod-aks.azure.com/tenant/cluster/"
PLACED = {"resource_group_name": "rg", "location": "westeurope"}
WIRED_CLUSTER = {**PLACED, "name": "ml", "node_subnet_id": SUBNET, "api_server_subnet_id": f"{SUBNET}-api",
                 "log_workspace_id": WORKSPACE}
WIRED_STORE = {**PLACED, "name_prefix": "mlart", "allowed_subnet_ids": [SUBNET], "log_workspace_id": WORKSPACE}
WIRED_DATABASE = {**PLACED, "server_name": "ml-db", "subnet_id": f"{SUBNET}-db",
                  "dns_zone_id": f"{GROUP}/providers/Microsoft.Network/privateDnsZones/db.postgres.database.azure.com",
                  "log_workspace_id": WORKSPACE}
IDENTITY = {**PLACED, "oidc_issuer": ISSUER, "namespace": "mlflow", "service_account": "mlflow",
            "container_id": CONTAINER}

AKS = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
ACCOUNT = "azure-native:storage:StorageAccount"
SERVER = "azure-native:dbforpostgresql:Server"
ROLE = "azure-native:authorization:RoleAssignment"
LOCK = "azure-native:authorization:ManagementLockByScope"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"
VAULT = "azure-native:keyvault:Vault"
KEY = "azure-native:keyvault:Key"


def role_guid(role_assignment) -> str:
    return role_assignment.inputs["roleDefinitionId"].rsplit("/", 1)[1]


def expect_failure(build, message):
    with pytest.raises(ProgramError, match=message) as raised:
        run_function(build)
    assert raised.value.registered == []
    assert "\n" not in str(raised.value.__cause__)


# --- resource group -----------------------------------------------------------------------------------------------

def test_the_resource_group_is_protected_locked_and_has_a_log_workspace():
    plan = run_function(lambda: ResourceGroup("home", {"name": "ml-rg", "location": "westeurope"}))
    group = plan.one("azure-native:resources:ResourceGroup")
    assert group.protect and group.inputs["resourceGroupName"] == "ml-rg"
    lock = plan.one(LOCK)
    assert lock.inputs["level"] == "CanNotDelete" and lock.inputs["scope"] == group.outputs["id"]
    workspace = plan.one("azure-native:operationalinsights:Workspace").inputs
    assert workspace["retentionInDays"] == 90 and workspace["sku"] == {"name": "PerGB2018"}


@pytest.mark.parametrize(("args", "message"), [
    ({"name": "bad name."}, r"^resource_group\.name: 'bad name\.' is not allowed"),
    ({"location": "West Europe"}, r"^resource_group\.location: 'West Europe' is not allowed; use an Azure region"),
    ({"log_retention_days": 7}, r"^resource_group\.log_retention_days: 7 is not allowed; use an integer from 30"),
    ({"tags": {"owner": "ml"}}, r"^resource_group\.tags: missing required tag\(s\) environment, project"),
])
def test_bad_resource_group_arguments_fail_before_any_resource(args, message):
    expect_failure(lambda: ResourceGroup("home", {"name": "ml-rg", "location": "westeurope", **args}), message)


# --- network ------------------------------------------------------------------------------------------------------

def network(**args):
    return run_function(lambda: Network("net", {**PLACED, **args}))


def test_every_subnet_has_an_nsg_and_no_default_outbound_access():
    plan = network()
    subnets = {s.name: s.inputs for s in plan.all("azure-native:network:Subnet")}
    assert set(subnets) == {"net-nodes", "net-database", "net-api-server"}
    nsgs = {n.outputs["id"] for n in plan.all("azure-native:network:NetworkSecurityGroup")}
    assert len(nsgs) == 3
    assert {s["networkSecurityGroup"]["id"] for s in subnets.values()} == nsgs
    assert all(s["defaultOutboundAccess"] is False for s in subnets.values())
    assert [s["addressPrefix"] for s in subnets.values()] == ["10.40.0.0/17", "10.40.128.0/24", "10.40.129.0/28"]


def test_nodes_leave_through_the_nat_gateway_and_reach_storage_through_a_service_endpoint():
    plan = network()
    nodes = plan.one("azure-native:network:Subnet", "net-nodes").inputs
    nat = plan.one("azure-native:network:NatGateway")
    assert nodes["natGateway"] == {"id": nat.outputs["id"]}
    assert nat.inputs["sku"] == {"name": "Standard"}
    assert nat.inputs["publicIpAddresses"] == [{"id": plan.one("azure-native:network:PublicIPAddress").outputs["id"]}]
    assert nodes["serviceEndpoints"] == [{"service": "Microsoft.Storage"}]


def test_the_database_subnet_is_delegated_and_admits_postgres_from_the_nodes_only():
    plan = network()
    database = plan.one("azure-native:network:Subnet", "net-database").inputs
    assert database["delegations"][0]["serviceName"] == "Microsoft.DBforPostgreSQL/flexibleServers"
    rules = plan.one("azure-native:network:NetworkSecurityGroup", "net-database-nsg").inputs["securityRules"]
    allow, deny = rules
    assert (allow["access"], allow["sourceAddressPrefix"], allow["destinationPortRange"]) == (
        "Allow", "10.40.0.0/17", "5432")
    assert (deny["access"], deny["sourceAddressPrefix"], deny["priority"] > allow["priority"]) == (
        "Deny", "VirtualNetwork", True)
    api = plan.one("azure-native:network:Subnet", "net-api-server").inputs
    assert api["delegations"][0]["serviceName"] == "Microsoft.ContainerService/managedClusters"


def test_the_database_zone_is_private_and_linked_to_the_vnet():
    plan = network()
    zone = plan.one("azure-native:privatedns:PrivateZone").inputs
    assert zone["privateZoneName"].endswith(".postgres.database.azure.com")
    link = plan.one("azure-native:privatedns:VirtualNetworkLink").inputs
    assert link["virtualNetwork"] == {"id": plan.one("azure-native:network:VirtualNetwork").outputs["id"]}
    assert link["registrationEnabled"] is False


@pytest.mark.parametrize(("args", "message"), [
    ({"cidr_block": "8.8.0.0/16"}, r"^network\.cidr_block: '8\.8\.0\.0/16' is not allowed; use a private IPv4 range"),
    ({"cidr_block": "10.0.0.0/24"}, r"^network\.cidr_block: '10\.0\.0\.0/24' is not allowed"),
    ({"nat_idle_timeout_minutes": 2}, r"^network\.nat_idle_timeout_minutes: 2 is not allowed; use an integer from 4"),
    ({"resource_group_name": None}, r"^network\.resource_group_name: missing"),
    ({"zones": 3}, r"^network\.zones: unknown key"),
])
def test_bad_network_arguments_fail_before_any_resource(args, message):
    expect_failure(lambda: Network("net", {**PLACED, **args}), message)


# --- cluster ------------------------------------------------------------------------------------------------------

def cluster(**args):
    return run_function(lambda: Cluster("c", {**WIRED_CLUSTER, **args}))


@pytest.fixture(scope="module")
def default_cluster():
    return cluster()


def test_the_cluster_is_entra_only_private_encrypted_and_protected(default_cluster):
    aks = default_cluster.one(AKS)
    inputs = aks.inputs
    assert aks.protect
    assert inputs["kubernetesVersion"] == "1.36"
    assert inputs["disableLocalAccounts"] is True and inputs["enableRBAC"] is True
    assert inputs["aadProfile"]["managed"] is True and inputs["aadProfile"]["enableAzureRBAC"] is True
    access = inputs["apiServerAccessProfile"]
    assert access["enablePrivateCluster"] is True and "authorizedIPRanges" not in access
    assert access["enableVnetIntegration"] is True and access["subnetId"] == f"{SUBNET}-api"
    kms = inputs["securityProfile"]["azureKeyVaultKms"]
    key = default_cluster.one(KEY)
    assert kms["enabled"] is True and kms["keyId"] == key.outputs["keyUriWithVersion"]
    assert kms["keyVaultNetworkAccess"] == "Private"
    assert inputs["sku"] == {"name": "Base", "tier": "Standard"}


def test_workload_identity_the_oidc_issuer_and_an_enforcing_cni_are_on(default_cluster):
    inputs = default_cluster.one(AKS).inputs
    assert inputs["oidcIssuerProfile"] == {"enabled": True}
    assert inputs["securityProfile"]["workloadIdentity"] == {"enabled": True}
    network = inputs["networkProfile"]
    assert (network["networkPlugin"], network["networkPluginMode"], network["networkPolicy"],
            network["networkDataplane"]) == ("azure", "overlay", "cilium", "cilium")
    assert network["outboundType"] == "userAssignedNATGateway"


def test_upgrades_are_automatic_on_pinned_channels(default_cluster):
    assert default_cluster.one(AKS).inputs["autoUpgradeProfile"] == {"upgradeChannel": "patch",
                                                                      "nodeOSUpgradeChannel": "NodeImage"}


def test_the_kms_key_rotates_in_a_purge_protected_rbac_vault(default_cluster):
    vault = default_cluster.one(VAULT)
    properties = vault.inputs["properties"]
    assert vault.protect and properties["enablePurgeProtection"] is True
    assert properties["enableRbacAuthorization"] is True and properties["networkAcls"]["defaultAction"] == "Deny"
    assert len(vault.inputs["vaultName"]) <= 24
    key = default_cluster.one(KEY)
    action, = key.inputs["properties"]["rotationPolicy"]["lifetimeActions"]
    assert key.protect and action == {"action": {"type": "rotate"}, "trigger": {"timeAfterCreate": "P90D"}}


def test_the_control_plane_identity_gets_its_subnets_and_its_key_only(default_cluster):
    identity = default_cluster.one("azure-native:managedidentity:UserAssignedIdentity").outputs
    grants = {(r.inputs["scope"], role_guid(r)) for r in default_cluster.all(ROLE)
              if r.inputs["principalId"] == identity["principalId"]}
    vault, key = default_cluster.one(VAULT).outputs["id"], default_cluster.one(KEY).outputs["id"]
    assert grants == {(SUBNET, "4d97b98b-1d4f-4787-a291-c67834d212e7"),
                      (f"{SUBNET}-api", "4d97b98b-1d4f-4787-a291-c67834d212e7"),
                      (key, "12338af0-0e69-4776-bea7-57ae8d297424"), (vault, "f25e0fa2-a7c8-4cf3-a5b0-2b4a9ac4d43f")}
    assert default_cluster.one(AKS).inputs["identity"]["userAssignedIdentities"] == [identity["id"]]


def test_the_audit_log_goes_to_the_workspace(default_cluster):
    setting = default_cluster.one(DIAGNOSTICS).inputs
    assert setting["resourceUri"] == default_cluster.one(AKS).outputs["id"]
    assert setting["workspaceId"] == WORKSPACE
    assert {log["category"] for log in setting["logs"]} == {"kube-audit-admin", "guard"}


def test_pools_autoscale_encrypt_at_host_get_no_public_ips_and_leave_counts_to_the_autoscaler(default_cluster):
    aks = default_cluster.one(AKS)
    inline, = aks.inputs["agentPoolProfiles"]
    pools = [inline, *(pool.inputs for pool in default_cluster.all(POOL))]
    for pool in pools:
        assert pool["enableAutoScaling"] is True and pool["enableEncryptionAtHost"] is True
        assert pool["enableNodePublicIP"] is False and pool["vnetSubnetID"] == SUBNET
        assert pool["availabilityZones"] == ["1", "2", "3"]
    assert all(pool.ignore_changes == ("count",) for pool in default_cluster.all(POOL))


def test_the_system_pool_runs_critical_add_ons_only_and_is_managed_after_creation_by_its_own_agent_pool(
        default_cluster):
    aks = default_cluster.one(AKS)
    inline, = aks.inputs["agentPoolProfiles"]
    system = default_cluster.one(POOL, "c-system").inputs
    assert inline["name"] == system["agentPoolName"] == "system"
    assert inline["mode"] == system["mode"] == "System"
    assert inline["nodeTaints"] == system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    assert {key: value for key, value in inline.items() if key not in ("name",)} == {
        key: value for key, value in system.items()
        if key not in ("agentPoolName", "resourceGroupName", "resourceName", "tags")}
    assert "agentPoolProfiles" in aks.ignore_changes  # AKS never updates the inline profile; the AgentPool does


def test_the_cpu_pool_runs_on_spot_and_carries_the_spot_taint(default_cluster):
    cpu = default_cluster.one(POOL, "c-cpu").inputs
    assert (cpu["scaleSetPriority"], cpu["scaleSetEvictionPolicy"], cpu["spotMaxPrice"]) == ("Spot", "Delete", -1)
    assert cpu["nodeTaints"] == ["kubernetes.azure.com/scalesetpriority=spot:NoSchedule"]
    assert cpu["mode"] == "User"


def test_on_demand_cpu_is_an_explicit_choice():
    cpu = cluster(cpu_pool={"capacity_type": "on_demand"}).one(POOL, "c-cpu").inputs
    assert "scaleSetPriority" not in cpu and "nodeTaints" not in cpu


def test_the_gpu_pool_is_optional_tainted_labelled_and_gets_the_nvidia_driver(default_cluster):
    assert {p.name for p in default_cluster.all(POOL)} == {"c-system", "c-cpu"}
    gpu = cluster(gpu_pool={"max_size": 2}).one(POOL, "c-gpu").inputs
    assert gpu["vmSize"] == "Standard_NC4as_T4_v3" and gpu["gpuProfile"] == {"driver": "Install"}
    assert gpu["nodeTaints"] == ["nvidia.com/gpu=true:NoSchedule"]
    assert gpu["nodeLabels"]["nvidia.com/gpu.present"] == "true"


def test_the_deployer_is_the_cluster_admin_unless_admins_are_named(default_cluster):
    admin, = [r for r in default_cluster.all(ROLE) if r.name.startswith("c-admin")]
    assert admin.inputs["principalId"] == fakes.azure_guid("deployer-object")
    assert role_guid(admin) == "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
    assert admin.inputs["scope"] == default_cluster.one(AKS).outputs["id"]
    named = cluster(admin_principal_ids=["11111111-2222-4333-8444-555555555555"])
    assert [r.inputs["principalId"] for r in named.all(ROLE) if r.name.startswith("c-admin")] == [
        "11111111-2222-4333-8444-555555555555"]


def test_the_public_api_server_is_an_explicit_opt_in_with_authorized_ranges():
    access = cluster(public_endpoint=True, public_access_cidrs=["203.0.113.0/24"]).one(AKS).inputs[
        "apiServerAccessProfile"]
    assert access["enablePrivateCluster"] is False and access["authorizedIPRanges"] == ["203.0.113.0/24"]


def test_the_free_tier_and_the_autoscaler_profile_are_settable():
    inputs = cluster(sku_tier="Free", autoscaler={"expander": "priority", "scale_down_unneeded_minutes": 30}).one(
        AKS).inputs
    assert inputs["sku"]["tier"] == "Free"
    assert inputs["autoScalerProfile"]["expander"] == "priority"
    assert inputs["autoScalerProfile"]["scaleDownUnneededTime"] == "30m"


def test_the_kubeconfig_authenticates_with_kubelogin_against_the_private_server():
    seen = {}

    def program():
        built = Cluster("c", WIRED_CLUSTER)
        built.kubeconfig.apply(lambda value: seen.__setitem__("kubeconfig", value))
        built.endpoint.apply(lambda value: seen.__setitem__("endpoint", value))

    plan = run_function(program)
    kubeconfig = json.loads(seen["kubeconfig"])
    user = kubeconfig["users"][0]["user"]
    assert set(user) == {"exec"} and user["exec"]["command"] == "kubelogin"
    assert user["exec"]["args"][:3] == ["get-token", "--login", "azurecli"]
    private_fqdn = plan.one(AKS).outputs["privateFQDN"]
    assert kubeconfig["clusters"][0]["cluster"]["server"] == seen["endpoint"] == f"https://{private_fqdn}:443"
    ca = base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    assert ca.startswith("-----BEGIN CERTIFICATE-----")
    assert yaml.safe_load(seen["kubeconfig"])["current-context"] == "ml"


@pytest.mark.parametrize(("args", "message"), [
    ({"name": "-bad"}, r"^cluster\.name: '-bad' is not allowed"),
    ({"node_subnet_id": None}, r"^cluster\.node_subnet_id: missing"),
    ({"kubernetes_version": 1.36}, r"^cluster\.kubernetes_version: 1\.36 is not allowed; use one of 1\.35, 1\.36"),
    ({"upgrade_channel": "latest"}, r"^cluster\.upgrade_channel: 'latest' is not allowed; use one of patch"),
    ({"node_os_upgrade_channel": "nodeimage"}, r"^cluster\.node_os_upgrade_channel: 'nodeimage' is not allowed"),
    ({"sku_tier": "Paid"}, r"^cluster\.sku_tier: 'Paid' is not allowed; use one of Free, Standard, Premium"),
    ({"admin_principal_ids": ["admin@example.com"]}, r"^cluster\.admin_principal_ids: .* use a list of Entra object"),
    ({"public_endpoint": True}, r"^cluster\.public_access_cidrs: None is not allowed with public_endpoint: true"),
    ({"public_endpoint": True, "public_access_cidrs": ["0.0.0.0/0"]},
     r"^cluster\.public_access_cidrs: '0\.0\.0\.0/0' is not allowed"),
    ({"public_access_cidrs": ["203.0.113.0/24"]}, r"^cluster\.public_access_cidrs: .* without public_endpoint"),
    ({"zone_count": 4}, r"^cluster\.zone_count: 4 is not allowed; use an integer from 0 to 3"),
    ({"kubelogin_login": "devicecode"}, r"^cluster\.kubelogin_login: 'devicecode' is not allowed"),
    ({"autoscaler": {"expander": "cheapest"}}, r"^cluster\.autoscaler\.expander: 'cheapest' is not allowed"),
    ({"autoscaler": {"scan_interval": 5}}, r"^cluster\.autoscaler\.scan_interval: unknown key"),
    ({"system_pool": {"min_size": 0}}, r"^cluster\.system_pool\.min_size: 0 is not allowed; use an integer from 1"),
    ({"system_pool": {"capacity_type": "spot"}}, r"^cluster\.system_pool\.capacity_type: 'spot' is not allowed"),
    ({"cpu_pool": {"min_size": 2, "max_size": 1}}, r"^cluster\.cpu_pool\.max_size: 1 is not allowed"),
    ({"cpu_pool": {"desired_size": 50}}, r"^cluster\.cpu_pool\.desired_size: 50 is not allowed"),
    ({"cpu_pool": {"vm_size": "D4s_v5"}}, r"^cluster\.cpu_pool\.vm_size: 'D4s_v5' is not allowed"),
    ({"cpu_pool": {"spot_max_price": 0}}, r"^cluster\.cpu_pool\.spot_max_price: 0 is not allowed; use -1"),
    ({"cpu_pool": {"capacity_type": "on_demand", "spot_max_price": 0.5}},
     r"^cluster\.cpu_pool\.spot_max_price: 0\.5 is not allowed without capacity_type: spot"),
    ({"gpu_pool": {"vm_size": "Standard_D4ds_v5"}}, r"^cluster\.gpu_pool\.vm_size: 'Standard_D4ds_v5' is not allowed; "
                                                    r"use an NC, ND or NV GPU VM size"),
    ({"gpu_pool": {"disk_size_gib": 5}}, r"^cluster\.gpu_pool\.disk_size_gib: 5 is not allowed"),
    ({"gpu_pool": {"gpus": 1}}, r"^cluster\.gpu_pool\.gpus: unknown key"),
])
def test_bad_cluster_arguments_fail_before_any_resource(args, message):
    expect_failure(lambda: Cluster("c", {**WIRED_CLUSTER, **args}), message)


# --- artifact store -----------------------------------------------------------------------------------------------

def store(**args):
    return run_function(lambda: ArtifactStore("art", {**WIRED_STORE, **args}))


@pytest.fixture(scope="module")
def default_store():
    return store()


def test_the_account_is_identity_only_https_only_and_doubly_encrypted(default_store):
    account = default_store.one(ACCOUNT)
    expected = {"kind": "StorageV2", "allowBlobPublicAccess": False, "allowSharedKeyAccess": False,
                "defaultToOAuthAuthentication": True, "enableHttpsTrafficOnly": True, "minimumTlsVersion": "TLS1_2",
                "allowCrossTenantReplication": False, "isLocalUserEnabled": False, "isSftpEnabled": False}
    assert {key: account.inputs.get(key) for key in expected} == expected
    assert account.inputs["sku"] == {"name": "Standard_ZRS"}
    encryption = account.inputs["encryption"]
    assert encryption["requireInfrastructureEncryption"] is True and encryption["keySource"] == "Microsoft.Storage"
    assert account.protect


def test_the_account_denies_every_network_but_the_allowed_subnets(default_store):
    rules = default_store.one(ACCOUNT).inputs["networkRuleSet"]
    assert rules["defaultAction"] == "Deny" and rules["bypass"] == "None"
    assert rules["virtualNetworkRules"] == [{"virtualNetworkResourceId": SUBNET, "action": "Allow"}]


def test_the_account_name_is_a_legal_global_name(default_store):
    name = default_store.one(ACCOUNT).outputs["name"]
    assert name.startswith("mlart") and 3 <= len(name) <= 24 and name.isalnum() and name == name.lower()


def test_versions_and_deletes_are_kept_and_old_versions_expire(default_store):
    service = default_store.one("azure-native:storage:BlobServiceProperties").inputs
    assert service["isVersioningEnabled"] is True
    assert service["deleteRetentionPolicy"] == {"enabled": True, "days": 14}
    assert service["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 14}
    rule, = default_store.one("azure-native:storage:ManagementPolicy").inputs["policy"]["rules"]
    assert rule["definition"]["actions"] == {"version": {"delete": {"daysAfterCreationGreaterThan": 30}}}


def test_the_container_is_private_the_account_locked_and_access_logged(default_store):
    assert default_store.one("azure-native:storage:BlobContainer").inputs["publicAccess"] == "None"
    account_id = default_store.one(ACCOUNT).outputs["id"]
    assert [lock.inputs["scope"] for lock in default_store.all(LOCK)] == [account_id]
    setting = default_store.one(DIAGNOSTICS).inputs
    assert setting["resourceUri"] == f"{account_id}/blobServices/default"
    assert {log["category"] for log in setting["logs"]} == {"StorageRead", "StorageWrite", "StorageDelete"}


def test_the_uri_is_the_wasbs_form_mlflow_reads():
    seen = {}
    run_function(lambda: ArtifactStore("art", WIRED_STORE).uri.apply(lambda uri: seen.__setitem__("uri", uri)))
    assert seen["uri"].startswith("wasbs://mlflow@mlart") and seen["uri"].endswith(".blob.core.windows.net")


def test_a_customer_managed_key_is_unwrapped_by_the_accounts_own_identity():
    plan = store(customer_managed_key=True)
    account = plan.one(ACCOUNT).inputs
    identity = plan.one("azure-native:managedidentity:UserAssignedIdentity").outputs
    assert account["encryption"]["keySource"] == "Microsoft.Keyvault"
    assert account["encryption"]["encryptionIdentity"] == {"encryptionUserAssignedIdentity": identity["id"]}
    assert account["encryption"]["keyVaultProperties"]["keyVaultUri"].startswith("https://")
    assert account["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity["id"]]}
    grant, = plan.all(ROLE)
    assert grant.inputs["scope"] == plan.one(KEY).outputs["id"]
    assert role_guid(grant) == "e147488a-f6f5-4113-8e2d-b22465e65bf6"


def test_access_logging_and_zone_redundancy_are_named_opt_outs():
    plan = store(access_logging=False, redundancy="LRS")
    assert plan.all(DIAGNOSTICS) == []
    assert plan.one(ACCOUNT).inputs["sku"] == {"name": "Standard_LRS"}


@pytest.mark.parametrize(("args", "message"), [
    ({"name_prefix": "ML-art"}, r"^artifact_store\.name_prefix: 'ML-art' is not allowed; use 3 to 16 lowercase"),
    ({"name_prefix": "a" * 17}, r"^artifact_store\.name_prefix: 'a{17}' is not allowed"),
    ({"container_name": "ML"}, r"^artifact_store\.container_name: 'ML' is not allowed"),
    ({"redundancy": "RAGRS"}, r"^artifact_store\.redundancy: 'RAGRS' is not allowed; use one of LRS, ZRS, GRS, GZRS"),
    ({"noncurrent_days": 0}, r"^artifact_store\.noncurrent_days: 0 is not allowed; use an integer from 1 to 3650"),
    ({"soft_delete_days": 400}, r"^artifact_store\.soft_delete_days: 400 is not allowed"),
    ({"customer_managed_key": "yes"}, r"^artifact_store\.customer_managed_key: 'yes' is not allowed"),
    ({"allowed_subnet_ids": None}, r"^artifact_store\.allowed_subnet_ids: missing"),
    ({"account_key": "x"}, r"^artifact_store\.account_key: unknown key"),
])
def test_bad_artifact_store_arguments_fail_before_any_resource(args, message):
    expect_failure(lambda: ArtifactStore("art", {**WIRED_STORE, **args}), message)


# --- database -----------------------------------------------------------------------------------------------------

def database(**args):
    return run_function(lambda: Database("db", {**WIRED_DATABASE, **args}))


@pytest.fixture(scope="module")
def default_database():
    return database()


def test_the_server_is_private_entra_only_backed_up_zone_redundant_and_protected(default_database):
    server = default_database.one(SERVER)
    inputs = server.inputs
    assert server.protect
    assert inputs["network"] == {"delegatedSubnetResourceId": WIRED_DATABASE["subnet_id"],
                                 "privateDnsZoneArmResourceId": WIRED_DATABASE["dns_zone_id"],
                                 "publicNetworkAccess": "Disabled"}
    assert inputs["authConfig"]["activeDirectoryAuth"] == "Enabled"
    assert inputs["authConfig"]["passwordAuth"] == "Disabled"
    assert "administratorLogin" not in inputs and "administratorLoginPassword" not in inputs
    assert inputs["backup"] == {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled"}
    assert inputs["highAvailability"]["mode"] == "ZoneRedundant"
    assert [lock.inputs["scope"] for lock in default_database.all(LOCK)] == [server.outputs["id"]]


def test_tls_and_connection_and_audit_logging_are_set_one_after_another(default_database):
    settings = default_database.all("azure-native:dbforpostgresql:Configuration")
    values = {s.inputs["configurationName"]: s.inputs["value"] for s in settings}
    assert values["require_secure_transport"] == "on" and values["ssl_min_protocol_version"] == "TLSv1.2"
    assert values["log_connections"] == values["log_disconnections"] == "on"
    assert "pgaudit" in values["shared_preload_libraries"] and values["pgaudit.log"] == "ddl,role"
    for before, after in zip(settings, settings[1:]):
        assert before.urn in after.dependencies
    logs = default_database.one(DIAGNOSTICS).inputs
    assert logs["resourceUri"] == default_database.one(SERVER).outputs["id"]


def test_the_entra_admin_is_the_databases_own_identity(default_database):
    admin = default_database.one("azure-native:dbforpostgresql:AdministratorsMicrosoftEntra").inputs
    identity = default_database.one("azure-native:managedidentity:UserAssignedIdentity").outputs
    assert admin["objectId"] == identity["principalId"] and admin["principalType"] == "servicePrincipal"
    assert admin["principalName"] == identity["name"]


def test_single_zone_geo_backups_and_a_customer_key_are_named_options():
    plan = database(multi_az=False, geo_redundant_backup=True, customer_managed_key=True, backup_retention_days=35)
    inputs = plan.one(SERVER).inputs
    assert inputs["highAvailability"]["mode"] == "Disabled"
    assert inputs["backup"] == {"backupRetentionDays": 35, "geoRedundantBackup": "Enabled"}
    encryption = inputs["dataEncryption"]
    assert encryption["type"] == "AzureKeyVault"
    assert encryption["primaryKeyURI"] == plan.one(KEY).outputs["keyUriWithVersion"]
    assert list(inputs["identity"]["userAssignedIdentities"]) == [encryption["primaryUserAssignedIdentityId"]]


@pytest.mark.parametrize(("args", "message"), [
    ({"server_name": "ML_DB"}, r"^database\.server_name: 'ML_DB' is not allowed"),
    ({"subnet_id": None}, r"^database\.subnet_id: missing"),
    ({"engine_version": "12"}, r"^database\.engine_version: '12' is not allowed; use one of 16, 17"),
    ({"engine_version": 17}, r"^database\.engine_version: 17 is not allowed"),
    ({"sku_name": "GP_Gen5_2"}, r"^database\.sku_name: 'GP_Gen5_2' is not allowed"),
    ({"sku_name": "Standard_B2ms"}, r"^database\.sku_name: 'Standard_B2ms' is not allowed with multi_az: true"),
    ({"storage_size_gib": 5}, r"^database\.storage_size_gib: 5 is not allowed; use an integer from 32"),
    ({"backup_retention_days": 1}, r"^database\.backup_retention_days: 1 is not allowed; use an integer from 7 to 35"),
    ({"multi_az": "no"}, r"^database\.multi_az: 'no' is not allowed; use true or false"),
    ({"database_name": "postgres"}, r"^database\.database_name: 'postgres' is not allowed"),
    ({"administrator_login_password": "hunter2"}, r"^database\.administrator_login_password: unknown key"),
])
def test_bad_database_arguments_fail_before_any_resource(args, message):
    expect_failure(lambda: Database("db", {**WIRED_DATABASE, **args}), message)


# --- workload identity --------------------------------------------------------------------------------------------

def identity(**args):
    return run_function(lambda: WorkloadIdentity("id", {**IDENTITY, **args}))


def test_the_federated_credential_trusts_exactly_one_service_account_with_the_exchange_audience():
    federation = identity().one("azure-native:managedidentity:FederatedIdentityCredential").inputs
    assert federation["issuer"] == ISSUER
    assert federation["subject"] == "system:serviceaccount:mlflow:mlflow"
    assert federation["audiences"] == ["api://AzureADTokenExchange"]


@pytest.mark.parametrize(("read_only", "role"), [(False, "ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
                                                 (True, "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1")])
def test_the_only_role_is_blob_data_access_on_the_container(read_only, role):
    plan = identity(read_only=read_only)
    grant, = plan.all(ROLE)
    assert grant.inputs["scope"] == CONTAINER and role_guid(grant) == role
    assert grant.inputs["principalId"] == plan.one("azure-native:managedidentity:UserAssignedIdentity").outputs[
        "principalId"]
    assert grant.inputs["principalType"] == "ServicePrincipal"


def test_the_outputs_are_the_annotation_and_label_the_webhook_reads():
    seen = {}

    def program():
        built = WorkloadIdentity("id", IDENTITY)
        built.service_account_annotations.apply(lambda value: seen.__setitem__("annotations", value))
        built.service_account_labels.apply(lambda value: seen.__setitem__("labels", value))

    plan = run_function(program)
    client_id = plan.one("azure-native:managedidentity:UserAssignedIdentity").outputs["clientId"]
    assert seen == {"annotations": {"azure.workload.identity/client-id": client_id},
                    "labels": {"azure.workload.identity/use": "true"}}


@pytest.mark.parametrize(("args", "message"), [
    ({"namespace": "ML"}, r"^workload_identity\.namespace: 'ML' is not allowed"),
    ({"service_account": "*"}, r"^workload_identity\.service_account: '\*' is not allowed"),
    ({"oidc_issuer": "westeurope.oic.prod-aks.azure.com"}, r"^workload_identity\.oidc_issuer: .* use .*https://"),
    ({"container_id": GROUP}, r"^workload_identity\.container_id: .* never an account, group or subscription"),
    ({"container_id": None}, r"^workload_identity\.container_id: missing"),
    ({"read_only": "yes"}, r"^workload_identity\.read_only: 'yes' is not allowed"),
])
def test_bad_identity_arguments_fail_before_any_resource(args, message):
    expect_failure(lambda: WorkloadIdentity("id", {**IDENTITY, **args}), message)
