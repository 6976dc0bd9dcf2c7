"""Each AWS block on its own: secure defaults, every opt-out, and bad arguments failing before any resource."""

from __future__ import annotations

import json

import pytest

from mlops_platform.aws.cluster import Cluster
from mlops_platform.aws.database import Database
from mlops_platform.aws.karpenter import Karpenter
from mlops_platform.aws.network import Network
from mlops_platform.aws.workload_identity import WorkloadIdentity
from mlops_platform_offline.harness import ProgramError, run_function

OIDC = {"oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        "oidc_issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"}
WIRED_CLUSTER = {"name": "ml", "region": "eu-west-1", "vpc_id": "vpc-1", "subnet_ids": ["subnet-a", "subnet-b"]}
WIRED_DATABASE = {"identifier": "ml-db", "vpc_id": "vpc-1", "subnet_ids": ["subnet-a", "subnet-b"],
                  "client_security_group_id": "sg-cluster"}
IDENTITY = {**OIDC, "namespace": "mlflow", "service_account": "mlflow", "bucket_arn": "arn:aws:s3:::bucket"}
KARPENTER = {**OIDC, "cluster_name": "ml", "cluster_endpoint": "https://x.eks.amazonaws.com", "region": "eu-west-1",
             "subnet_ids": ["subnet-a"], "security_group_id": "sg-1"}


def network(**args):
    return run_function(lambda: Network("net", {"region": "eu-west-1", **args}))


def cluster(**args):
    return run_function(lambda: Cluster("c", {**WIRED_CLUSTER, **args}))


def database(**args):
    return run_function(lambda: Database("db", {**WIRED_DATABASE, **args}))


# --- network ------------------------------------------------------------------------------------------------------

def test_network_defaults_to_three_zones_nat_per_zone_s3_endpoint_and_encrypted_flow_logs():
    plan = network()
    assert [s.inputs["availabilityZone"] for s in plan.all("aws:ec2/subnet:Subnet")] == [
        "eu-west-1a", "eu-west-1b", "eu-west-1c"] * 2
    assert len(plan.all("aws:ec2/natGateway:NatGateway")) == 3
    assert plan.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs["serviceName"] == "com.amazonaws.eu-west-1.s3"
    assert plan.one("aws:ec2/flowLog:FlowLog").inputs["trafficType"] == "ALL"
    log_group = plan.one("aws:cloudwatch/logGroup:LogGroup").inputs
    assert log_group["retentionInDays"] == 90 and log_group["kmsKeyId"].startswith("arn:aws:kms:")
    assert plan.one("aws:kms/key:Key").protect


def test_no_subnet_hands_out_public_ips_and_the_default_security_group_is_emptied():
    plan = network()
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in plan.all("aws:ec2/subnet:Subnet"))
    default_sg = plan.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert not default_sg.get("ingress") and not default_sg.get("egress")


def test_subnets_carry_the_load_balancer_and_karpenter_discovery_tags():
    plan = network(cluster_name="ml")
    tags = {s.name: s.inputs["tags"] for s in plan.all("aws:ec2/subnet:Subnet")}
    assert tags["net-public-a"]["kubernetes.io/role/elb"] == "1"
    assert tags["net-private-a"]["kubernetes.io/role/internal-elb"] == "1"
    assert tags["net-private-a"]["karpenter.sh/discovery"] == "ml"


@pytest.mark.parametrize(("nat", "gateways", "egress_routes"), [("none", 0, 0), ("single", 1, 2), ("one_per_az", 2, 2)])
def test_nat_strategies(nat, gateways, egress_routes):
    plan = network(zone_count=2, nat=nat)
    assert len(plan.all("aws:ec2/natGateway:NatGateway")) == gateways
    routes = [r for r in plan.all("aws:ec2/route:Route") if "natGatewayId" in r.inputs]
    assert len(routes) == egress_routes


@pytest.mark.parametrize(("args", "message"), [
    ({"region": None}, r"^network\.region: None is not allowed"),
    ({"cidr_block": "8.8.0.0/16"}, r"^network\.cidr_block: '8\.8\.0\.0/16' is not allowed; use a private IPv4 range"),
    ({"cidr_block": "10.0.0.0/24"}, r"^network\.cidr_block: '10\.0\.0\.0/24' is not allowed"),
    ({"zone_count": 4}, r"^network\.zone_count: 4 is not allowed; use an integer from 2 to 3"),
    ({"availability_zones": ["eu-west-1a"]}, r"^network\.availability_zones: \['eu-west-1a'\] is not allowed"),
    ({"availability_zones": ["us-east-1a", "us-east-1b"]}, r"^network\.availability_zones: .* zone names of eu-west-1"),
    ({"nat": "per_az"}, r"^network\.nat: 'per_az' is not allowed; use one of none, single, one_per_az"),
    ({"flow_log_retention_days": 10}, r"^network\.flow_log_retention_days: 10 is not allowed; use one of 1, 3"),
    ({"vpc": "x"}, r"^network\.vpc: unknown key"),
])
def test_bad_network_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ProgramError, match=message) as raised:
        network(**args)
    assert raised.value.registered == []


# --- cluster ------------------------------------------------------------------------------------------------------

def test_cluster_is_private_encrypted_audited_api_authenticated_and_protected():
    plan = cluster()
    eks = plan.one("aws:eks/cluster:Cluster")
    assert eks.protect and eks.inputs["deletionProtection"] is True
    assert eks.inputs["version"] == "1.36"  # the newest version in standard support
    assert eks.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert eks.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in eks.inputs["vpcConfig"]
    assert set(eks.inputs["enabledClusterLogTypes"]) >= {"api", "audit", "authenticator"}
    assert eks.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert eks.inputs["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert plan.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs["clientIdLists"] == [
        "sts.amazonaws.com"]


def test_core_addons_are_pinned_and_the_cni_enforces_network_policies():
    addons = {a.inputs["addonName"]: a.inputs for a in cluster().all("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"}
    assert all(a["addonVersion"].startswith("v") and "eksbuild" in a["addonVersion"] for a in addons.values())
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert addons["vpc-cni"]["serviceAccountRoleArn"] and addons["aws-ebs-csi-driver"]["serviceAccountRoleArn"]


def test_launch_templates_require_imdsv2_and_encrypt_gp3_root_volumes():
    for template in cluster(instance_tags={"cost-center": "ml"}, node_tags="launch_template").all(
            "aws:ec2/launchTemplate:LaunchTemplate"):
        assert template.inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                                      "httpPutResponseHopLimit": 1}
        ebs = template.inputs["blockDeviceMappings"][0]["ebs"]
        assert ebs["volumeType"] == "gp3" and ebs["encrypted"] == "true"
        assert {spec["resourceType"] for spec in template.inputs["tagSpecifications"]} >= {"instance", "volume"}


def test_admins_get_access_entries_and_without_any_the_deploying_role_does():
    named = cluster(admin_principal_arns=["arn:aws:iam::123456789012:role/admin"])
    assert [e.inputs["principalArn"] for e in named.all("aws:eks/accessEntry:AccessEntry")] == [
        "arn:aws:iam::123456789012:role/admin"]
    deployer = cluster().one("aws:eks/accessEntry:AccessEntry").inputs["principalArn"]
    assert deployer == "arn:aws:iam::123456789012:user/preview"


def test_the_public_endpoint_is_an_explicit_opt_in_with_an_allow_list():
    vpc_config = cluster(public_endpoint=True, public_access_cidrs=["203.0.113.0/24"]).one(
        "aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc_config["endpointPublicAccess"] is True and vpc_config["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_the_gpu_pool_is_optional_and_tainted():
    assert {g.name for g in cluster().all("aws:eks/nodeGroup:NodeGroup")} == {"c-system", "c-cpu"}
    gpu = cluster(gpu_pool={"max_size": 2}).one("aws:eks/nodeGroup:NodeGroup", "c-gpu").inputs
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu["labels"]["nvidia.com/gpu.present"] == "true"


@pytest.mark.parametrize(("args", "message"), [
    ({"name": "-bad"}, r"^cluster\.name: '-bad' is not allowed"),
    ({"subnet_ids": None}, r"^cluster\.subnet_ids: missing"),
    ({"kubernetes_version": 1.36}, r"^cluster\.kubernetes_version: 1\.36 is not allowed; use one of 1\.35, 1\.36"),
    ({"kubernetes_version": "1.33"}, r"^cluster\.kubernetes_version: '1\.33' is not allowed; use one of 1\.35, 1\.36"),
    ({"kubernetes_version": "1.25"}, r"^cluster\.kubernetes_version: '1\.25' is not allowed"),
    ({"admin_principal_arns": ["admin"]}, r"^cluster\.admin_principal_arns: \['admin'\] is not allowed"),
    ({"public_endpoint": True}, r"^cluster\.public_access_cidrs: None is not allowed with public_endpoint: true"),
    ({"public_endpoint": True, "public_access_cidrs": ["0.0.0.0/0"]},
     r"^cluster\.public_access_cidrs: '0\.0\.0\.0/0' is not allowed"),
    ({"public_access_cidrs": ["203.0.113.0/24"]}, r"^cluster\.public_access_cidrs: .* without public_endpoint"),
    ({"public_endpoint": "yes"}, r"^cluster\.public_endpoint: 'yes' is not allowed; use true or false"),
    ({"log_retention_days": 0}, r"^cluster\.log_retention_days: 0 is not allowed"),
    ({"addon_versions": {"cilium": "v1.0.0-eksbuild.1"}}, r"^cluster\.addon_versions\.cilium: unknown key"),
    ({"addon_versions": {"coredns": "latest"}}, r"^cluster\.addon_versions\.coredns: 'latest' is not allowed"),
    ({"system_pool": {"min_size": 0}}, r"^cluster\.system_pool\.min_size: 0 is not allowed; use an integer from 1"),
    ({"system_pool": {"capacity_type": "spot"}}, r"^cluster\.system_pool\.capacity_type: 'spot' is not allowed"),
    ({"cpu_pool": {"min_size": 2, "max_size": 1}}, r"^cluster\.cpu_pool\.max_size: 1 is not allowed"),
    ({"cpu_pool": {"desired_size": 50}}, r"^cluster\.cpu_pool\.desired_size: 50 is not allowed; use an integer from 0"),
    ({"cpu_pool": {"instance_types": []}}, r"^cluster\.cpu_pool\.instance_types: \[\] is not allowed"),
    ({"cpu_pool": {"capacity_type": "SPOT"}}, r"^cluster\.cpu_pool\.capacity_type: 'SPOT' is not allowed"),
    ({"gpu_pool": {"disk_size_gib": 5}}, r"^cluster\.gpu_pool\.disk_size_gib: 5 is not allowed"),
    ({"gpu_pool": {"gpus": 1}}, r"^cluster\.gpu_pool\.gpus: unknown key"),
])
def test_bad_cluster_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ProgramError, match=message) as raised:
        cluster(**args)
    assert raised.value.registered == []


# --- database -----------------------------------------------------------------------------------------------------

def test_database_is_private_encrypted_backed_up_protected_and_iam_enabled():
    plan = database()
    instance = plan.one("aws:rds/instance:Instance")
    assert instance.protect
    expected = {"publiclyAccessible": False, "storageEncrypted": True, "deletionProtection": True,
                "skipFinalSnapshot": False, "finalSnapshotIdentifier": "ml-db-final", "backupRetentionPeriod": 7,
                "multiAz": True, "performanceInsightsEnabled": True, "iamDatabaseAuthenticationEnabled": True,
                "manageMasterUserPassword": True, "engine": "postgres"}
    assert {key: instance.inputs.get(key) for key in expected} == expected
    assert set(instance.inputs["enabledCloudwatchLogsExports"]) == {"postgresql", "upgrade"}
    assert "password" not in instance.inputs
    assert instance.inputs["kmsKeyId"] == instance.inputs["masterUserSecretKmsKeyId"]


def test_tls_is_forced_through_the_parameter_group():
    parameters = {p["name"]: p["value"] for p in database().one(
        "aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]}
    assert parameters["rds.force_ssl"] == "1"


def test_only_the_client_security_group_may_connect_on_5432():
    plan = database()
    rules = plan.all("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert [(r.inputs["referencedSecurityGroupId"], r.inputs["fromPort"], r.inputs["toPort"]) for r in rules] == [
        ("sg-cluster", 5432, 5432)]
    assert not any("cidrIpv4" in r.inputs for r in rules)


def test_multi_az_is_a_named_opt_out():
    assert database(multi_az=False).one("aws:rds/instance:Instance").inputs["multiAz"] is False


@pytest.mark.parametrize(("args", "message"), [
    ({"identifier": "ML_DB"}, r"^database\.identifier: 'ML_DB' is not allowed"),
    ({"client_security_group_id": None}, r"^database\.client_security_group_id: missing"),
    ({"engine_version": "12.1"}, r"^database\.engine_version: '12\.1' is not allowed; use one of 16, 17 \(quoted"),
    ({"engine_version": "17.5"}, r"^database\.engine_version: '17\.5' is not allowed; use one of 16, 17 \(quoted, as a "
                                 r"string\) \(the major version only"),
    ({"instance_class": "t3.micro"}, r"^database\.instance_class: 't3\.micro' is not allowed"),
    ({"allocated_storage_gib": 5}, r"^database\.allocated_storage_gib: 5 is not allowed"),
    ({"allocated_storage_gib": 200, "max_allocated_storage_gib": 100},
     r"^database\.max_allocated_storage_gib: 100 is not allowed; use an integer from 200"),
    ({"backup_retention_days": 1}, r"^database\.backup_retention_days: 1 is not allowed; use an integer from 7 to 35"),
    ({"multi_az": "no"}, r"^database\.multi_az: 'no' is not allowed; use true or false"),
    ({"username": "postgres"}, r"^database\.username: 'postgres' is not allowed"),
    ({"performance_insights_retention_days": 30}, r"^database\.performance_insights_retention_days: 30 is not allowed"),
    ({"password": "hunter2"}, r"^database\.password: unknown key"),
])
def test_bad_database_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ProgramError, match=message) as raised:
        database(**args)
    assert raised.value.registered == []


# --- workload identity --------------------------------------------------------------------------------------------

def test_the_trust_policy_admits_exactly_one_service_account_with_the_sts_audience():
    role = run_function(lambda: WorkloadIdentity("id", IDENTITY)).one("aws:iam/role:Role")
    statement, = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Federated": OIDC["oidc_provider_arn"]}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {
        "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:mlflow:mlflow",
        "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com"}}


def test_a_bucket_key_adds_kms_use_on_that_key_only():
    key = "arn:aws:kms:eu-west-1:123456789012:key/abc"
    policy = json.loads(run_function(lambda: WorkloadIdentity("id", {**IDENTITY, "kms_key_arn": key})).one(
        "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    kms = [s for s in policy["Statement"] if s["Sid"] == "UseBucketKey"]
    assert kms == [{"Sid": "UseBucketKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": key}]


@pytest.mark.parametrize(("args", "message"), [
    ({"namespace": "ML"}, r"^workload_identity\.namespace: 'ML' is not allowed"),
    ({"service_account": "*"}, r"^workload_identity\.service_account: '\*' is not allowed"),
    ({"prefix": "models"}, r"^workload_identity\.prefix: 'models' is not allowed; use a key prefix ending in '/'"),
    ({"prefix": "models/*/"}, r"^workload_identity\.prefix: 'models/\*/' is not allowed"),
    ({"oidc_issuer": "oidc.eks.amazonaws.com"}, r"^workload_identity\.oidc_issuer: .* is not allowed; use .*https://"),
    ({"bucket_arn": None}, r"^workload_identity\.bucket_arn: missing"),
    ({"read_only": "yes"}, r"^workload_identity\.read_only: 'yes' is not allowed"),
])
def test_bad_identity_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ProgramError, match=message) as raised:
        run_function(lambda: WorkloadIdentity("id", {**IDENTITY, **args}))
    assert raised.value.registered == []


# --- karpenter ----------------------------------------------------------------------------------------------------

def test_karpenter_installs_a_pinned_chart_and_node_pools_after_it():
    plan = run_function(lambda: Karpenter("k", KARPENTER))
    release = plan.one("kubernetes:helm.sh/v3:Release", "k-controller")
    crds = plan.one("kubernetes:helm.sh/v3:Release", "k-crds")
    assert release.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert release.inputs["version"] == crds.inputs["version"] == "1.14.1"
    assert crds.urn in release.dependencies
    controller_role = plan.one("aws:iam/role:Role", "k-controller").outputs["arn"]
    assert release.inputs["values"]["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": controller_role}
    for pool in plan.all("kubernetes:karpenter.sh/v1:NodePool") + plan.all("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"):
        assert release.urn in pool.dependencies
    node_class = plan.one("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass").inputs["spec"]
    assert node_class["metadataOptions"]["httpTokens"] == "required"
    assert node_class["blockDeviceMappings"][0]["ebs"]["encrypted"] is True


def test_karpenter_interruption_queue_is_encrypted_and_fed_by_four_event_rules():
    plan = run_function(lambda: Karpenter("k", KARPENTER))
    assert plan.one("aws:sqs/queue:Queue").inputs["sqsManagedSseEnabled"] is True
    assert len(plan.all("aws:cloudwatch/eventTarget:EventTarget")) == 4
    assert "aws:SecureTransport" in plan.one("aws:sqs/queuePolicy:QueuePolicy").inputs["policy"]


@pytest.mark.parametrize(("args", "message"), [
    ({"chart_version": "latest"}, r"^karpenter\.chart_version: 'latest' is not allowed"),
    ({"ami_alias": "ubuntu"}, r"^karpenter\.ami_alias: 'ubuntu' is not allowed"),
    ({"cpu_limit": 0}, r"^karpenter\.cpu_limit: 0 is not allowed"),
    ({"cluster_name": None}, r"^karpenter\.cluster_name: missing"),
])
def test_bad_karpenter_arguments_fail_before_any_resource(args, message):
    with pytest.raises(ProgramError, match=message) as raised:
        run_function(lambda: Karpenter("k", {**KARPENTER, **args}))
    assert raised.value.registered == []
