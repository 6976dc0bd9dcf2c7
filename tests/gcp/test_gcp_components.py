"""Each GCP block on its own: secure defaults, every opt-out, and bad arguments failing before any resource."""

from __future__ import annotations

import json

import pytest

from mlops_platform.gcp.cluster import Cluster
from mlops_platform.gcp.database import PROXY_IMAGE, Database
from mlops_platform.gcp.network import Network
from mlops_platform_offline.harness import ProgramError, run_function

PROJECT = "acme-mlops"
WIRED_CLUSTER = {"name": "ml", "project": PROJECT, "region": "europe-west1",
                 "network_id": f"projects/{PROJECT}/global/networks/vpc",
                 "subnet_id": f"projects/{PROJECT}/regions/europe-west1/subnetworks/nodes",
                 "pods_range_name": "pods", "services_range_name": "services", "node_cidr": "10.0.0.0/20"}
WIRED_DATABASE = {"identifier": "ml-db", "project": PROJECT, "region": "europe-west1",
                  "private_network_id": f"projects/{PROJECT}/global/networks/vpc"}
GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"


def network(**args):
    return run_function(lambda: Network("net", {"region": "europe-west1", **args}))


def cluster(**args):
    return run_function(lambda: Cluster("c", {**WIRED_CLUSTER, **args}))


def database(**args):
    return run_function(lambda: Database("db", {**WIRED_DATABASE, **args}))


# --- network ------------------------------------------------------------------------------------------------------

def test_network_is_custom_mode_with_one_private_google_access_subnet_and_flow_logs():
    plan = network()
    assert plan.one("gcp:compute/network:Network").inputs["autoCreateSubnetworks"] is False
    subnet = plan.one("gcp:compute/subnetwork:Subnetwork").inputs
    assert subnet["ipCidrRange"] == "10.0.0.0/20" and subnet["region"] == "europe-west1"
    assert subnet["privateIpGoogleAccess"] is True
    assert subnet["secondaryIpRanges"] == [{"rangeName": "pods", "ipCidrRange": "10.4.0.0/14"},
                                           {"rangeName": "services", "ipCidrRange": "10.8.0.0/20"}]
    assert subnet["logConfig"] == {"aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5,
                                   "metadata": "INCLUDE_ALL_METADATA"}


def test_private_service_access_peers_an_allocated_range_for_cloud_sql():
    plan = network(private_service_cidr="10.50.0.0/20")
    address = plan.one("gcp:compute/globalAddress:GlobalAddress")
    assert {k: address.inputs[k] for k in ("purpose", "addressType", "address", "prefixLength")} == {
        "purpose": "VPC_PEERING", "addressType": "INTERNAL", "address": "10.50.0.0", "prefixLength": 20}
    connection = plan.one("gcp:servicenetworking/connection:Connection").inputs
    assert connection["service"] == "servicenetworking.googleapis.com"
    assert connection["reservedPeeringRanges"] == [address.outputs["name"]]


def test_no_firewall_rule_is_created_so_nothing_is_open_to_the_internet():
    assert not [r for r in network().resources if r.type.startswith("gcp:compute/firewall")]


@pytest.mark.parametrize(("nat", "nats"), [("single", 1), ("none", 0)])
def test_nat_strategies(nat, nats):
    plan = network(nat=nat)
    found = plan.all("gcp:compute/routerNat:RouterNat")
    assert len(found) == nats and len(plan.all("gcp:compute/router:Router")) == nats
    if found:
        assert found[0].inputs["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
        assert found[0].inputs["logConfig"] == {"enable": True, "filter": "ERRORS_ONLY"}


@pytest.mark.parametrize(("args", "message"), [
    ({"region": None}, r"^network\.region: None is not allowed"),
    ({"cidr_block": "8.8.0.0/20"}, r"^network\.cidr_block: '8\.8\.0\.0/20' is not allowed; use a private IPv4 range"),
    ({"cidr_block": "10.0.0.0/26"}, r"^network\.cidr_block: '10\.0\.0\.0/26' is not allowed; use .* /16 to /24"),
    ({"pods_cidr": "10.4.0.0/24"}, r"^network\.pods_cidr: '10\.4\.0\.0/24' is not allowed; use .* /9 to /21"),
    ({"services_cidr": "10.0.0.0/20"}, r"^network\.services_cidr: '10\.0\.0\.0/20' is not allowed; it overlaps cidr_block"),
    ({"private_service_cidr": "10.4.0.0/20"}, r"^network\.private_service_cidr: .* it overlaps pods_cidr"),
    ({"nat": "one_per_az"}, r"^network\.nat: 'one_per_az' is not allowed; use one of none, single \(Cloud NAT is "
                            r"regional"),
    ({"flow_log_sampling": 0}, r"^network\.flow_log_sampling: 0 is not allowed; use a number above 0"),
    ({"flow_log_sampling": True}, r"^network\.flow_log_sampling: True is not allowed"),
    ({"zone_count": 3}, r"^network\.zone_count: unknown key"),
])
def test_bad_network_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ProgramError, match=message) as raised:
        network(**args)
    assert raised.value.registered == []


# --- cluster ------------------------------------------------------------------------------------------------------

def test_cluster_is_private_regional_hardened_and_protected():
    plan = cluster()
    gke = plan.one(GKE)
    inputs = gke.inputs
    assert gke.protect and inputs["deletionProtection"] is True
    assert inputs["location"] == "europe-west1"
    assert inputs["minMasterVersion"] == "1.35" and inputs["releaseChannel"] == {"channel": "REGULAR"}
    assert inputs["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": True,
                                              "masterIpv4CidrBlock": "172.16.0.0/28"}
    assert inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [{"cidrBlock": "10.0.0.0/20",
                                                                       "displayName": "nodes"}]
    assert inputs["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    assert inputs["enableShieldedNodes"] is True and inputs["enableLegacyAbac"] is False
    assert inputs["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": False}}
    assert inputs["removeDefaultNodePool"] is True
    assert set(inputs["loggingConfig"]["enableComponents"]) >= {"APISERVER", "SYSTEM_COMPONENTS"}
    assert inputs["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods",
                                            "servicesSecondaryRangeName": "services"}


def test_secrets_are_encrypted_with_a_rotated_protected_kms_key_the_gke_agent_may_use():
    plan = cluster()
    key = plan.one("gcp:kms/cryptoKey:CryptoKey")
    assert key.protect and key.inputs["rotationPeriod"] == "7776000s"
    assert plan.one(GKE).inputs["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key.outputs["id"]}
    grant = plan.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember").inputs
    assert grant["cryptoKeyId"] == key.outputs["id"]
    assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant["member"].startswith("serviceAccount:service-")
    assert grant["member"].endswith("@container-engine-robot.iam.gserviceaccount.com")


def test_nodes_run_as_a_dedicated_least_privilege_account():
    plan = cluster()
    account = plan.one("gcp:serviceaccount/account:Account")
    roles = {m.inputs["role"] for m in plan.all("gcp:projects/iAMMember:IAMMember")
             if m.inputs["member"] == account.outputs["member"]}
    assert roles == {"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}
    for pool in plan.all(POOL):
        node = pool.inputs["nodeConfig"]
        assert node["serviceAccount"] == account.outputs["email"]
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert node["metadata"] == {"disable-legacy-endpoints": "true"}
    # The default pool, however briefly it lives, uses the same account and metadata server.
    default_pool = plan.one(GKE).inputs["nodeConfig"]
    assert default_pool["serviceAccount"] == account.outputs["email"]
    assert default_pool["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_pools_have_autoscaling_bounds_and_leave_node_counts_to_the_autoscaler():
    plan = cluster(cpu_pool={"min_size": 1, "max_size": 9, "desired_size": 4})
    pools = {p.name: p for p in plan.all(POOL)}
    assert set(pools) == {"c-system", "c-cpu"}
    cpu = pools["c-cpu"]
    assert cpu.inputs["autoscaling"] == {"totalMinNodeCount": 1, "totalMaxNodeCount": 9, "locationPolicy": "ANY"}
    assert cpu.inputs["initialNodeCount"] == 2  # 4 over a regional cluster's three zones, rounded up
    assert cpu.inputs["nodeConfig"]["spot"] is True
    assert pools["c-system"].inputs["nodeConfig"]["spot"] is False
    for pool in pools.values():
        assert {"initialNodeCount", "nodeCount"} <= set(pool.ignore_changes)
        assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_the_gpu_pool_is_optional_tainted_labelled_and_uses_the_managed_driver():
    assert {p.name for p in cluster().all(POOL)} == {"c-system", "c-cpu"}
    gpu = cluster(gpu_pool={"accelerator_type": "nvidia-tesla-t4", "accelerator_count": 2,
                            "machine_type": "n1-standard-8"}).one(POOL, "c-gpu").inputs["nodeConfig"]
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu["labels"] == {"mlops.io/pool": "gpu", "nvidia.com/gpu": "true", "nvidia.com/gpu.present": "true"}
    assert gpu["guestAccelerators"] == [{"type": "nvidia-tesla-t4", "count": 2,
                                         "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}]


def test_a_zonal_cluster_is_an_explicit_opt_out():
    plan = cluster(zone="europe-west1-b", cpu_pool={"desired_size": 2})
    assert plan.one(GKE).inputs["location"] == "europe-west1-b"
    assert plan.one(POOL, "c-cpu").inputs["initialNodeCount"] == 2


def test_the_public_endpoint_is_an_explicit_opt_in_with_master_authorized_networks():
    inputs = cluster(public_endpoint=True, public_access_cidrs=["203.0.113.0/24"]).one(GKE).inputs
    assert inputs["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert inputs["privateClusterConfig"]["enablePrivateNodes"] is True
    assert [b["cidrBlock"] for b in inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == [
        "10.0.0.0/20", "203.0.113.0/24"]
    assert inputs["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False


def test_node_auto_provisioning_has_limits_and_hardened_defaults():
    inputs = cluster(auto_provisioning={"enabled": True, "cpu_limit": 64, "gpu_limit": 4}).one(GKE).inputs
    autoscaling = inputs["clusterAutoscaling"]
    assert autoscaling["enabled"] is True
    assert {l["resourceType"]: l["maximum"] for l in autoscaling["resourceLimits"]} == {
        "cpu": 64, "memory": 256, "nvidia-l4": 4}
    defaults = autoscaling["autoProvisioningDefaults"]
    assert defaults["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert defaults["serviceAccount"].startswith("ml-nodes@")
    assert cluster().one(GKE).inputs["clusterAutoscaling"] == {"enabled": False}


def test_the_kubeconfig_authenticates_with_the_gke_auth_plugin():
    def program():
        import pulumi

        created = Cluster("c", WIRED_CLUSTER)
        pulumi.export("kubeconfig", pulumi.Output.unsecret(created.kubeconfig))
        pulumi.export("issuer", created.oidc_issuer)
        pulumi.export("secret", created.kubeconfig)

    plan = run_function(program)
    kubeconfig = json.loads(plan.outputs["kubeconfig"])
    user = kubeconfig["users"][0]["user"]
    assert user["exec"]["command"] == "gke-gcloud-auth-plugin" and user["exec"]["provideClusterInfo"] is True
    assert set(user) == {"exec"}
    cluster_entry = kubeconfig["clusters"][0]["cluster"]
    assert cluster_entry["server"] == "https://172.16.0.2" and cluster_entry["certificate-authority-data"]
    assert plan.outputs["secret"] == "[secret]"
    assert plan.outputs["issuer"] == (f"https://container.googleapis.com/v1/projects/{PROJECT}/locations/"
                                      f"europe-west1/clusters/ml")


@pytest.mark.parametrize(("args", "message"), [
    ({"name": "ML"}, r"^cluster\.name: 'ML' is not allowed"),
    ({"name": "a" * 41}, r"^cluster\.name: 'a{41}' is not allowed; use 1 to 40"),
    ({"subnet_id": None}, r"^cluster\.subnet_id: missing"),
    ({"kubernetes_version": 1.35}, r"^cluster\.kubernetes_version: 1\.35 is not allowed; use one of 1\.35, 1\.36"),
    ({"release_channel": "EXTENDED"}, r"^cluster\.release_channel: 'EXTENDED' is not allowed; use one of RAPID"),
    ({"zone": "us-east1-b"}, r"^cluster\.zone: 'us-east1-b' is not allowed; use a zone of europe-west1"),
    ({"public_endpoint": True}, r"^cluster\.public_access_cidrs: None is not allowed with public_endpoint: true"),
    ({"public_endpoint": True, "public_access_cidrs": ["0.0.0.0/0"]},
     r"^cluster\.public_access_cidrs: '0\.0\.0\.0/0' is not allowed"),
    ({"public_access_cidrs": ["203.0.113.0/24"]}, r"^cluster\.public_access_cidrs: .* without public_endpoint"),
    ({"control_plane_cidr": "172.16.0.0/24"}, r"^cluster\.control_plane_cidr: '172\.16\.0\.0/24' is not allowed; "
                                              r"use a private IPv4 /28"),
    ({"system_pool": {"min_size": 0}}, r"^cluster\.system_pool\.min_size: 0 is not allowed; use an integer from 1"),
    ({"system_pool": {"capacity_type": "spot"}}, r"^cluster\.system_pool\.capacity_type: 'spot' is not allowed"),
    ({"cpu_pool": {"min_size": 2, "max_size": 1}}, r"^cluster\.cpu_pool\.max_size: 1 is not allowed"),
    ({"cpu_pool": {"desired_size": 50}}, r"^cluster\.cpu_pool\.desired_size: 50 is not allowed"),
    ({"cpu_pool": {"machine_type": "m7i.large"}}, r"^cluster\.cpu_pool\.machine_type: 'm7i\.large' is not allowed"),
    ({"cpu_pool": {"accelerator_type": "nvidia-l4"}}, r"^cluster\.cpu_pool\.accelerator_type: unknown key"),
    ({"gpu_pool": {"accelerator_type": "tpu-v5"}}, r"^cluster\.gpu_pool\.accelerator_type: 'tpu-v5' is not allowed"),
    ({"gpu_pool": {"accelerator_count": 9}}, r"^cluster\.gpu_pool\.accelerator_count: 9 is not allowed"),
    ({"auto_provisioning": {"enabled": "yes"}}, r"^cluster\.auto_provisioning\.enabled: 'yes' is not allowed"),
    ({"auto_provisioning": {"cpu_limit": 0}}, r"^cluster\.auto_provisioning\.cpu_limit: 0 is not allowed"),
    ({"auto_provisioning": {"tpu_limit": 1}}, r"^cluster\.auto_provisioning\.tpu_limit: unknown key"),
])
def test_bad_cluster_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ProgramError, match=message) as raised:
        cluster(**args)
    assert raised.value.registered == []


# --- database -----------------------------------------------------------------------------------------------------

def test_database_is_private_tls_only_backed_up_regional_and_protected_twice():
    plan = database()
    instance = plan.one(SQL)
    inputs, settings = instance.inputs, instance.inputs["settings"]
    assert instance.protect and inputs["deletionProtection"] is True
    assert settings["deletionProtectionEnabled"] is True
    assert inputs["databaseVersion"] == "POSTGRES_17" and settings["edition"] == "ENTERPRISE"
    assert settings["ipConfiguration"] == {"ipv4Enabled": False, "sslMode": "ENCRYPTED_ONLY",
                                           "privateNetwork": WIRED_DATABASE["private_network_id"]}
    assert settings["availabilityType"] == "REGIONAL"
    backup = settings["backupConfiguration"]
    assert backup["enabled"] is True and backup["pointInTimeRecoveryEnabled"] is True
    assert backup["backupRetentionSettings"] == {"retainedBackups": 7, "retentionUnit": "COUNT"}
    assert backup["transactionLogRetentionDays"] == 7
    assert settings["insightsConfig"]["queryInsightsEnabled"] is True
    flags = {flag["name"]: flag["value"] for flag in settings["databaseFlags"]}
    assert {k: flags[k] for k in ("cloudsql.iam_authentication", "log_connections", "log_disconnections")} == {
        "cloudsql.iam_authentication": "on", "log_connections": "on", "log_disconnections": "on"}
    assert plan.one("gcp:sql/database:Database").protect


def test_no_user_or_password_exists_on_the_instance():
    plan = database()
    assert plan.all("gcp:sql/user:User") == []
    assert "password" not in json.dumps([r.inputs for r in plan.resources]).lower()


def test_pods_sign_in_through_the_auth_proxy_with_their_iam_identity_over_the_private_ip():
    def program():
        import pulumi

        created = Database("db", WIRED_DATABASE)
        pulumi.export("args", created.proxy.args)
        pulumi.export("image", created.proxy.image)
        pulumi.export("connection", created.connection_name)

    outputs = run_function(program).outputs
    assert outputs["image"] == PROXY_IMAGE and outputs["connection"] == f"{PROJECT}:europe-west1:ml-db"
    args = outputs["args"]
    assert args[-1] == outputs["connection"]
    assert {"--auto-iam-authn", "--private-ip", "--address=127.0.0.1", "--port=5432", "--health-check",
            "--http-address=0.0.0.0", "--http-port=9090"} <= set(args)
    assert not [arg for arg in args if "credentials" in arg or "token" in arg]


def test_retention_reaches_the_backups_and_point_in_time_recovery_up_to_its_limit():
    backup = database(backup_retention_days=30).one(SQL).inputs["settings"]["backupConfiguration"]
    assert backup["backupRetentionSettings"]["retainedBackups"] == 30
    assert backup["transactionLogRetentionDays"] == 7


def test_a_zonal_database_is_an_explicit_opt_out():
    assert database(multi_az=False).one(SQL).inputs["settings"]["availabilityType"] == "ZONAL"


def test_a_customer_managed_key_encrypts_the_instance_and_the_sql_agent_may_use_it():
    plan = database(customer_managed_key=True)
    key = plan.one("gcp:kms/cryptoKey:CryptoKey")
    assert key.protect and plan.one(SQL).inputs["encryptionKeyName"] == key.outputs["id"]
    agent = plan.one("gcp:projects/serviceIdentity:ServiceIdentity")
    assert agent.inputs["service"] == "sqladmin.googleapis.com"
    grant = plan.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert grant.inputs["member"] == agent.outputs["member"]
    assert grant.urn in plan.one(SQL).dependencies
    assert "encryptionKeyName" not in database().one(SQL).inputs


@pytest.mark.parametrize(("args", "message"), [
    ({"identifier": "ML_DB"}, r"^database\.identifier: 'ML_DB' is not allowed"),
    ({"private_network_id": None}, r"^database\.private_network_id: missing"),
    ({"engine_version": 17}, r"^database\.engine_version: 17 is not allowed; use one of 16, 17"),
    ({"tier": "db-f1-micro"}, r"^database\.tier: 'db-f1-micro' is not allowed; use a dedicated-core tier"),
    ({"backup_retention_days": 3}, r"^database\.backup_retention_days: 3 is not allowed; use an integer from 7"),
    ({"allocated_storage_gib": 5}, r"^database\.allocated_storage_gib: 5 is not allowed"),
    ({"allocated_storage_gib": 200, "max_allocated_storage_gib": 100},
     r"^database\.max_allocated_storage_gib: 100 is not allowed; use an integer from 200"),
    ({"multi_az": "no"}, r"^database\.multi_az: 'no' is not allowed; use true or false"),
    ({"database_name": "postgres"}, r"^database\.database_name: 'postgres' is not allowed"),
    ({"proxy_image": "gcr.io/cloud-sql-connectors/cloud-sql-proxy"}, r"^database\.proxy_image: .* is not allowed; use an "
                                                                 r"image pinned by tag"),
    ({"public_ip": True}, r"^database\.public_ip: unknown key"),
])
def test_bad_database_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ProgramError, match=message) as raised:
        database(**args)
    assert raised.value.registered == []
