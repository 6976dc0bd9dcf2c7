"""The GCP layer as the stacks build it: the provider, secure defaults, the contract's output shapes, the dev/prod
differences, and that a change of labels or node counts never changes an input that forces the replacement of the
cluster, the database, the buckets or the keys."""

from __future__ import annotations

import json

import pulumi_kubernetes as k8s
import pytest

from mlops_platform.cloud_layer import CloudLayer, ConnectorSidecar, GpuCapacity, NodeTaint
from mlops_platform.gcp.layer import build_gcp_layer, validate_gcp_layer_args
from mlops_platform.platform import validate_platform_args
from mlops_platform.tags import CostTags
from mlops_platform.validation import ArgumentError
from mlops_platform_offline.harness import SECRET_MARKER, SECRET_SIG, ProjectFiles, run_function, run_program
from tests.stack_variants import config_sections, every_tag_changed, ROOT, forcing_inputs, preview_with, record_outputs, stack_config

GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
BUCKET = "gcp:storage/bucket:Bucket"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_RING = "gcp:kms/keyRing:KeyRing"

REPLACE_FORCING = {
    GKE: ("name", "location", "project", "network", "subnetwork", "networkingMode", "datapathProvider",
          "initialNodeCount", "ipAllocationPolicy", "privateClusterConfig.masterIpv4CidrBlock",
          "privateClusterConfig.enablePrivateNodes", "enableAutopilot", "clusterIpv4Cidr", "enableTpu"),
    POOL: ("name", "namePrefix", "cluster", "location", "nodeConfig.machineType", "nodeConfig.diskSizeGb",
           "nodeConfig.diskType", "nodeConfig.imageType", "nodeConfig.spot", "nodeConfig.serviceAccount",
           "nodeConfig.oauthScopes", "nodeConfig.guestAccelerators", "nodeConfig.metadata",
           "nodeConfig.shieldedInstanceConfig", "maxPodsPerNode"),
    SQL: ("name", "project", "region", "encryptionKeyName", "masterInstanceName", "replicaConfiguration",
          "settings.edition"),
    BUCKET: ("name", "project", "location"),
    KEY: ("name", "keyRing", "purpose", "skipInitialVersionCreation", "importOnly", "cryptoKeyBackend"),
    KEY_RING: ("name", "location", "project"),
}
"""Inputs that force a new resource (ForceNew) in terraform-provider-google, which pulumi-gcp wraps:
google_container_cluster, google_container_node_pool, google_sql_database_instance, google_storage_bucket and
google_kms_crypto_key / key_ring. Written from the provider schema as documented (ForceNew: true); the list errs on
the side of more keys (initialNodeCount is ignored on update by the components, and kept here)."""




@pytest.fixture(scope="module")
def resized_and_relabelled():
    config = stack_config("gcp-prod")
    cluster = json.loads(config["mlops:cluster"])
    cluster["system_pool"] = {**cluster["system_pool"], "min_size": 3, "max_size": 6}
    cluster["cpu_pool"] = {**cluster["cpu_pool"], "min_size": 2, "max_size": 20, "desired_size": 5}
    cluster["gpu_pool"] = {**cluster["gpu_pool"], "max_size": 8}
    cluster["auto_provisioning"] = {**cluster["auto_provisioning"], "cpu_limit": 800}
    database = {**json.loads(config["mlops:database"]), "allocated_storage_gib": 200, "max_allocated_storage_gib": 800,
                "tier": "db-custom-8-30720"}
    return preview_with("gcp-prod", tags=every_tag_changed("gcp-prod"), cluster=cluster, database=database)


def test_label_and_size_changes_leave_every_replace_forcing_input_alone(preview, resized_and_relabelled):
    before = forcing_inputs(preview("gcp-prod"), REPLACE_FORCING)
    after = forcing_inputs(resized_and_relabelled, REPLACE_FORCING)
    assert set(before) == set(after)
    assert {key for key in before if key[0] in (GKE, SQL, BUCKET)} == {
        (GKE, "mlops-cluster-gke"), (SQL, "mlops-database-instance"), (BUCKET, "mlops-artifacts-bucket"),
        (BUCKET, "mlops-artifacts-access-logs-bucket")}
    assert {key[1] for key in before if key[0] == KEY} == {"mlops-cluster-secrets-key", "mlops-artifacts-key",
                                                          "mlops-database-key"}
    assert before == after


def test_the_change_really_reached_the_pools_the_database_and_the_labels(preview, resized_and_relabelled):
    """Guards the test above: the changed config did change sizes and labels, so equal forcing inputs mean
    something."""
    def cpu_max(plan):
        return plan.one(POOL, "mlops-cluster-cpu").inputs["autoscaling"]["totalMaxNodeCount"]
    assert (cpu_max(preview("gcp-prod")), cpu_max(resized_and_relabelled)) == (10, 20)
    assert resized_and_relabelled.one(SQL).inputs["settings"]["diskSize"] == 200
    assert resized_and_relabelled.one(SQL).inputs["settings"]["userLabels"]["cost-center"] == "research"
    labels = json.loads(resized_and_relabelled.one("pulumi:providers:gcp").inputs["defaultLabels"])
    assert labels["cost-center"] == "research"
    node = resized_and_relabelled.one(POOL, "mlops-cluster-cpu").inputs["nodeConfig"]
    assert node["resourceLabels"]["team"] == "vision"


# --- the provider and the config --------------------------------------------------------------------------------

@pytest.mark.parametrize(("stack", "project"), [("gcp-dev", "acme-mlops-dev"), ("gcp-prod", "acme-mlops-prod")])
def test_one_gcp_provider_carries_project_region_and_the_cost_tags_as_default_labels(preview, stack, project):
    plan = preview(stack)
    [provider] = plan.all("pulumi:providers:gcp")
    assert (provider.inputs["project"], provider.inputs["region"]) == (project, "europe-west1")
    labels = json.loads(provider.inputs["defaultLabels"])
    assert labels == {"cost-center": "ml-platform", "environment": stack.split("-")[1], "managed-by": "pulumi",
                      "owner": "ml-infra", "project": "mlops"}
    gcp_resources = [r for r in plan.resources if r.type.startswith("gcp:")]
    assert gcp_resources and all(plan.provider_of(r) is provider for r in gcp_resources)


BASE = {"name": "mlops-gcp", "cloud": "gcp", "region": "europe-west1", "gcp": {"project": "acme-mlops"},
        "tags": {"environment": "dev", "project": "mlops"}}


@pytest.mark.parametrize(("changes", "message"), [
    ({"region": "eu-west-1"}, r"^mlops:region: 'eu-west-1' is not allowed; use a GCP region such as europe-west1"),
    ({"region": "europe-west"}, r"^mlops:region: 'europe-west' is not allowed"),
    ({"gcp": None}, r"^mlops:gcp\.project: missing; every GCP stack names its project id"),
    ({"gcp": {"project": "Acme"}}, r"^mlops:gcp\.project: 'Acme' is not allowed; use a project id"),
    ({"gcp": {"project": "acme-mlops", "zone": "b"}}, r"^mlops:gcp\.zone: unknown key"),
    ({"network": {"nat": "one_per_az"}}, r"^mlops:network\.nat: 'one_per_az' is not allowed"),
    ({"cluster": {"zone": "us-east1-b"}}, r"^mlops:cluster\.zone: 'us-east1-b' is not allowed; use a zone of "
                                          r"europe-west1"),
    ({"cluster": {"region": "us-east1"}}, r"^mlops:cluster\.region: unknown key"),
    ({"cluster": {"name": "Bad"}}, r"^mlops:cluster\.name: 'Bad' is not allowed"),
    ({"database": {"tier": "db-g1-small"}}, r"^mlops:database\.tier: 'db-g1-small' is not allowed"),
    ({"database": {"instance_labels": {}}}, r"^mlops:database\.instance_labels: unknown key"),
    ({"artifacts": {"kms_key_arn": "arn:aws:kms:x"}}, r"^mlops:artifacts\.kms_key_arn: unknown key"),
    ({"artifacts": {"project": "other"}}, r"^mlops:artifacts\.project: unknown key"),
    ({"karpenter": {"enabled": True}}, r"^mlops:karpenter: not allowed with cloud 'gcp'"),
])
def test_bad_gcp_config_fails_with_one_line_before_any_resource(changes, message):
    args = {**BASE, **changes}
    with pytest.raises(ArgumentError, match=message) as raised:
        validate_platform_args({k: v for k, v in args.items() if v is not None}, prefix="mlops:")
    assert "\n" not in str(raised.value)


def test_a_bad_section_fails_the_program_before_any_resource():
    config = stack_config("gcp-dev")
    config["mlops:cluster"] = json.dumps({"zone": "europe-west9-z"})
    project = ProjectFiles.load(ROOT)
    from mlops_platform_offline.harness import ProgramError

    with pytest.raises(ProgramError, match=r"mlops:cluster\.zone: 'europe-west9-z' is not allowed") as raised:
        run_program(project.program, project=project.name, stack="gcp-dev", config=config)
    assert raised.value.registered == []


# --- the stacks ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_stateful_resources_are_protected(preview, stack):
    plan = preview(stack)
    for type_ in (GKE, SQL, BUCKET, KEY, "gcp:sql/database:Database"):
        assert plan.all(type_) and all(r.protect for r in plan.all(type_)), type_


def test_dev_is_zonal_spot_cpu_no_gpu_no_auto_provisioning_single_zone_db_one_nat(preview):
    plan = preview("gcp-dev")
    cluster = plan.one(GKE).inputs
    assert cluster["location"] == "europe-west1-b"
    assert cluster["clusterAutoscaling"] == {"enabled": False}
    pools = {p.name: p.inputs for p in plan.all(POOL)}
    assert set(pools) == {"mlops-cluster-system", "mlops-cluster-cpu"}
    assert pools["mlops-cluster-cpu"]["nodeConfig"]["spot"] is True
    assert plan.one(SQL).inputs["settings"]["availabilityType"] == "ZONAL"
    assert len(plan.all("gcp:compute/routerNat:RouterNat")) == 1
    assert "encryptionKeyName" not in plan.one(SQL).inputs


def test_prod_is_regional_private_with_gpu_auto_provisioning_regional_db_and_customer_keys(preview):
    plan = preview("gcp-prod")
    cluster = plan.one(GKE).inputs
    assert cluster["location"] == "europe-west1"
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert cluster["clusterAutoscaling"]["enabled"] is True
    assert {l["resourceType"] for l in cluster["clusterAutoscaling"]["resourceLimits"]} == {"cpu", "memory",
                                                                                           "nvidia-l4"}
    gpu = plan.one(POOL, "mlops-cluster-gpu").inputs["nodeConfig"]
    assert gpu["guestAccelerators"][0]["type"] == "nvidia-l4"
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    instance = plan.one(SQL).inputs
    assert instance["settings"]["availabilityType"] == "REGIONAL"
    keys = {k.name: k.outputs["id"] for k in plan.all(KEY)}
    assert instance["encryptionKeyName"] == keys["mlops-database-key"]
    assert plan.one(BUCKET, "mlops-artifacts-bucket").inputs["encryption"] == {
        "defaultKmsKeyName": keys["mlops-artifacts-key"]}


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_each_stack_serves_a_blue_green_endpoint(preview, stack):
    assert preview(stack).all("mlops:kubernetes:BlueGreenModelEndpoint")


@pytest.mark.parametrize("stack", ["gcp-dev", "gcp-prod"])
def test_only_mlflow_and_the_database_admin_get_project_roles_and_only_for_the_instance(preview, stack):
    plan = preview(stack)
    accounts = {a.name: a.outputs["member"] for a in plan.all("gcp:serviceaccount/account:Account")}
    grants: dict[str, set[str]] = {}
    for member in plan.all("gcp:projects/iAMMember:IAMMember"):
        owner = next(name for name, account in accounts.items() if account == member.inputs["member"])
        grants.setdefault(owner, set()).add(member.inputs["role"])
        if owner != "mlops-cluster-nodes":
            assert 'instances/mlops-' in member.inputs["condition"]["expression"]
    database_roles = {"roles/cloudsql.client", "roles/cloudsql.instanceUser"}
    assert grants == {"mlops-cluster-nodes": {"roles/container.defaultNodeServiceAccount",
                                              "roles/artifactregistry.reader"},
                      "mlops-kubernetes-mlflow-account": database_roles,
                      "mlops-kubernetes-mlflow-database-admin-account": database_roles}


# --- the contract's output shapes ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def contract():
    """The CloudLayer of the gcp-prod settings, with its outputs resolved inside an offline run."""
    config = stack_config("gcp-prod")
    sections = config_sections("gcp-prod", ("gcp", "network", "cluster", "database", "artifacts"))
    tags = CostTags.from_mapping(json.loads(config["mlops:tags"]))
    settings = validate_gcp_layer_args(sections, region="europe-west1", tags=tags, name="mlops-gcp-prod")
    seen: dict[str, object] = {}

    def program():
        import pulumi
        import pulumi_gcp as gcp

        parent = pulumi.ComponentResource("test:index:Parent", "parent")
        provider = gcp.Provider("gcp", project="acme-mlops-prod", region="europe-west1",
                                opts=pulumi.ResourceOptions(parent=parent))
        layer = build_gcp_layer("layer", settings, parent=parent, gcp_provider=provider)
        seen["layer"] = layer
        identity = layer.workload_identity("layer-mlflow", "mlflow", "mlflow", database_user=True)
        admin = layer.database.admin.identity("layer-admin", "mlflow", "database-bootstrap")
        record_outputs({"kubeconfig": layer.kubeconfig, "issuer": layer.oidc_issuer,
                        "host": layer.database.host, "artifact_uri": layer.artifact_uri,
                        "admin_annotations": admin.annotations, "admin_username": layer.database.admin.username,
                        "proxy_args": layer.database.login.args,
                        "annotations": identity.annotations, "port": layer.database.port,
                        "cluster_name": layer.cluster_name, "endpoint": layer.cluster_endpoint,
                        "username": layer.database.username, "env": layer.artifact_pod_env}, seen)
        pulumi.export("kubeconfig", layer.kubeconfig)

    plan = run_function(program)
    return plan, seen


def test_the_layer_returns_the_contract_with_a_kubernetes_provider(contract):
    _, seen = contract
    layer = seen["layer"]
    assert isinstance(layer, CloudLayer) and isinstance(layer.kubernetes_provider, k8s.Provider)
    assert seen["cluster_name"] == "mlops-gcp-prod"
    assert seen["endpoint"].startswith("https://")
    assert seen["artifact_uri"].startswith("gs://mlops-gcp-prod-artifacts-")
    assert seen["env"] == {"GOOGLE_CLOUD_PROJECT": "acme-mlops-prod"}


def test_the_kubeconfig_is_a_secret_that_authenticates_with_the_gke_plugin(contract):
    plan, seen = contract
    assert plan.one("pulumi:providers:kubernetes").inputs["kubeconfig"][SECRET_SIG] == SECRET_MARKER
    assert plan.outputs["kubeconfig"] == "[secret]"
    assert json.loads(seen["kubeconfig"])["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"


def test_the_issuer_is_the_clusters_container_api_url(contract):
    _, seen = contract
    assert seen["issuer"] == ("https://container.googleapis.com/v1/projects/acme-mlops-prod/locations/europe-west1/"
                              "clusters/mlops-gcp-prod")


def test_mlflow_signs_in_as_its_own_iam_user_through_the_proxy_with_no_password(contract):
    _, seen = contract
    access = seen["layer"].database
    assert isinstance(access.login, ConnectorSidecar) and access.login.name == "cloud-sql-proxy"
    assert access.admin.login is access.login
    assert access.tls.mode == "disable"  # loopback to the proxy only; the proxy's hop to Cloud SQL is TLS
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 5432)
    assert seen["username"] == "mlops-gcp-prod-mlflow@acme-mlops-prod.iam"
    assert seen["admin_username"] == "mlops-gcp-prod-db-admin@acme-mlops-prod.iam"
    assert "--auto-iam-authn" in seen["proxy_args"]
    assert seen["proxy_args"][-1] == "acme-mlops-prod:europe-west1:mlops-gcp-prod-mlflow"
    assert access.role.create == () and access.role.ensure == ()  # Cloud SQL creates IAM users itself


def test_the_database_users_are_the_mlflow_and_admin_accounts_only_the_admin_a_superuser(contract):
    plan, seen = contract
    users = {u.name: u.inputs for u in plan.all("gcp:sql/user:User")}
    assert set(users) == {"layer-mlflow-database-user", "layer-admin-database-user"}
    assert users["layer-mlflow-database-user"]["name"] == seen["username"]
    assert users["layer-mlflow-database-user"]["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    assert "databaseRoles" not in users["layer-mlflow-database-user"]
    assert users["layer-admin-database-user"]["databaseRoles"] == ["cloudsqlsuperuser"]
    assert seen["admin_annotations"] == {
        "iam.gke.io/gcp-service-account": "mlops-gcp-prod-db-admin@acme-mlops-prod.iam.gserviceaccount.com"}
    # The admin may sign in to the database and nothing else: no bucket grant.
    admin = plan.one("gcp:serviceaccount/account:Account", "layer-admin-account").outputs["member"]
    assert not [g for g in plan.all("gcp:storage/bucketIAMMember:BucketIAMMember") if g.inputs["member"] == admin]


def test_the_identity_annotation_names_its_google_service_account(contract):
    plan, seen = contract
    account = plan.one("gcp:serviceaccount/account:Account", "layer-mlflow-account")
    assert seen["annotations"] == {"iam.gke.io/gcp-service-account": account.outputs["email"]}


def test_the_database_egress_is_the_proxy_port_to_the_private_service_range(contract):
    _, seen = contract
    egress = seen["layer"].database_egress
    assert egress.ports == (3307,) and tuple(egress.cidrs) == ("10.37.0.0/20",)
    assert seen["layer"].credential_egress.ports == (443,)


def test_gpu_capacity_names_the_label_and_taint_of_every_gpu_node_and_the_managed_device_plugin(contract):
    _, seen = contract
    assert seen["layer"].gpu == GpuCapacity(node_labels={"nvidia.com/gpu": "true"},
                                            taints=(NodeTaint("nvidia.com/gpu", "true", "NoSchedule"),),
                                            managed_device_plugin=True)


def test_a_cluster_without_gpu_pool_or_gpu_auto_provisioning_reports_no_gpu():
    config = stack_config("gcp-dev")
    sections = config_sections("gcp-dev", ("gcp", "network", "cluster", "database", "artifacts"))
    tags = CostTags.from_mapping(json.loads(config["mlops:tags"]))
    assert validate_gcp_layer_args(sections, region="europe-west1", tags=tags, name="mlops-gcp-dev").gpu is None
