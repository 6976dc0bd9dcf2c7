"""The AWS layer as the stacks build it: secure defaults, the contract's output shapes, and that a change of tags
or node counts never changes an input that forces the replacement of the cluster, the database or the bucket."""

from __future__ import annotations

import json

import pulumi_kubernetes as k8s
import pytest

from mlops_platform.aws.layer import build_aws_layer, validate_aws_layer_args
from mlops_platform.cloud_layer import CloudLayer
from mlops_platform.tags import CostTags
from mlops_platform_offline.harness import SECRET_MARKER, SECRET_SIG, run_function
from mlops_platform_offline.stateful_resources import REPLACED_ON
from tests.stack_variants import config_sections, every_tag_changed, forcing_inputs, preview_with, record_outputs, stack_config

EKS = "aws:eks/cluster:Cluster"
RDS = "aws:rds/instance:Instance"
BUCKET = "aws:s3/bucket:Bucket"
KMS = "aws:kms/key:Key"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"

REPLACE_FORCING = {type_: REPLACED_ON[type_] for type_ in (EKS, RDS, BUCKET, KMS)}
"""The replace-forcing inputs of the stateful AWS types, from the one table the plan diff uses too."""




@pytest.fixture(scope="module")
def resized_and_retagged():
    config = stack_config("aws-prod")
    cluster = json.loads(config["mlops:cluster"])
    cluster["system_pool"] = {**cluster["system_pool"], "min_size": 3, "max_size": 6}
    cluster["cpu_pool"] = {**cluster["cpu_pool"], "min_size": 2, "max_size": 20, "desired_size": 5}
    cluster["gpu_pool"] = {**cluster["gpu_pool"], "max_size": 8}
    database = {**json.loads(config["mlops:database"]), "allocated_storage_gib": 200, "max_allocated_storage_gib": 800,
                "instance_class": "db.m7g.xlarge"}
    return preview_with("aws-prod", tags=every_tag_changed("aws-prod"), cluster=cluster, database=database)


def test_tag_and_size_changes_leave_every_replace_forcing_input_alone(preview, resized_and_retagged):
    before = forcing_inputs(preview("aws-prod"), REPLACE_FORCING)
    after = forcing_inputs(resized_and_retagged, REPLACE_FORCING)
    assert set(before) == set(after)
    assert {key for key in before if key[0] in (EKS, RDS, BUCKET)} == {
        (EKS, "mlops-cluster-eks"), (RDS, "mlops-database-instance"), (BUCKET, "mlops-artifacts-bucket"),
        (BUCKET, "mlops-artifacts-access-logs-bucket")}
    assert before == after


def test_the_size_change_really_reached_the_node_groups_and_the_database(preview, resized_and_retagged):
    """Guards the test above: the changed config did change sizes, so equal forcing inputs mean something."""
    def cpu_max(plan):
        return plan.one(NODE_GROUP, "mlops-cluster-cpu").inputs["scalingConfig"]["maxSize"]
    assert (cpu_max(preview("aws-prod")), cpu_max(resized_and_retagged)) == (10, 20)
    assert resized_and_retagged.one(RDS).inputs["allocatedStorage"] == 200
    tags = resized_and_retagged.one("pulumi:providers:aws").inputs["defaultTags"]
    assert json.loads(tags)["tags"]["cost-center"] == "research"


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_stateful_resources_are_protected(preview, stack):
    plan = preview(stack)
    for type_ in (EKS, RDS, BUCKET, KMS):
        assert plan.all(type_) and all(r.protect for r in plan.all(type_)), type_


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_node_group_desired_sizes_belong_to_the_autoscaler(preview, stack):
    for group in preview(stack).all(NODE_GROUP):
        assert "scalingConfig.desiredSize" in group.ignore_changes


def test_dev_is_two_zones_one_nat_single_az_db_spot_cpu_no_gpu_no_karpenter(preview):
    plan = preview("aws-dev")
    assert len(plan.all("aws:ec2/subnet:Subnet")) == 4
    assert len(plan.all("aws:ec2/natGateway:NatGateway")) == 1
    assert plan.one(RDS).inputs["multiAz"] is False
    pools = {g.name: g.inputs for g in plan.all(NODE_GROUP)}
    assert set(pools) == {"mlops-cluster-system", "mlops-cluster-cpu"}
    assert pools["mlops-cluster-cpu"]["capacityType"] == "SPOT"
    assert pools["mlops-cluster-system"]["capacityType"] == "ON_DEMAND"
    assert not plan.all("mlops:aws:Karpenter")


def test_prod_is_three_zones_nat_per_zone_private_api_multi_az_db_gpu_and_karpenter(preview):
    plan = preview("aws-prod")
    assert len(plan.all("aws:ec2/subnet:Subnet")) == 6
    assert len(plan.all("aws:ec2/natGateway:NatGateway")) == 3
    assert plan.one(EKS).inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert plan.one(RDS).inputs["multiAz"] is True
    gpu = plan.one(NODE_GROUP, "mlops-cluster-gpu").inputs
    assert gpu["amiType"] == "AL2023_x86_64_NVIDIA"
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert plan.one("kubernetes:helm.sh/v3:Release", "mlops-karpenter-controller")
    assert {r.name for r in plan.all("kubernetes:karpenter.sh/v1:NodePool")} == {
        "mlops-karpenter-on-demand", "mlops-karpenter-spot", "mlops-karpenter-gpu"}


# --- the contract's output shapes ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def contract():
    """The CloudLayer of the aws-dev settings, with its outputs resolved inside an offline run."""
    config = stack_config("aws-dev")
    sections = config_sections("aws-dev", ("network", "cluster", "database", "karpenter"))
    tags = CostTags.from_mapping(json.loads(config["mlops:tags"]))
    settings = validate_aws_layer_args(sections, region="eu-west-1", tags=tags, name="mlops-dev")
    seen: dict[str, object] = {}

    def program():
        import pulumi
        import pulumi_aws as aws

        parent = pulumi.ComponentResource("test:index:Parent", "parent")
        provider = aws.Provider("aws", region="eu-west-1", opts=pulumi.ResourceOptions(parent=parent))
        layer = build_aws_layer("layer", settings, {"name_prefix": "mlops-dev-artifacts-"}, parent=parent,
                                aws_provider=provider)
        seen["layer"] = layer
        identity = layer.workload_identity("layer-mlflow", "mlflow", "mlflow", database_user=True)
        admin = layer.database.admin.identity("layer-bootstrap", "mlflow", "database-bootstrap")
        record_outputs({"kubeconfig": layer.kubeconfig, "issuer": layer.oidc_issuer,
                        "username": layer.database.username, "artifact_uri": layer.artifact_uri,
                        "annotations": identity.annotations, "port": layer.database.port,
                        "admin_annotations": admin.annotations, "admin_username": layer.database.admin.username,
                        "admin_settings": pulumi.Output.from_input(layer.database.admin.login.settings),
                        "cluster_name": layer.cluster_name}, seen)
        pulumi.export("kubeconfig", layer.kubeconfig)  # stack outputs record secrets as "[secret]"
        pulumi.export("oidc_issuer", layer.oidc_issuer)

    plan = run_function(program)
    return plan, seen


def test_the_layer_returns_the_contract_with_a_kubernetes_provider(contract):
    _, seen = contract
    layer = seen["layer"]
    assert isinstance(layer, CloudLayer)
    assert isinstance(layer.kubernetes_provider, k8s.Provider)
    assert seen["cluster_name"] == "mlops-dev"


def test_the_kubeconfig_is_a_secret_that_authenticates_with_aws_eks_get_token(contract):
    plan, seen = contract
    provider = plan.one("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"][SECRET_SIG] == SECRET_MARKER
    assert plan.outputs["kubeconfig"] == "[secret]"
    kubeconfig = json.loads(seen["kubeconfig"])
    user = kubeconfig["users"][0]["user"]["exec"]
    assert user["command"] == "aws" and user["args"][:4] == ["eks", "get-token", "--cluster-name", "mlops-dev"]
    assert "token" not in kubeconfig["users"][0]["user"]
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")


def test_the_oidc_issuer_is_an_https_url(contract):
    plan, seen = contract
    assert seen["issuer"].startswith("https://oidc.eks.eu-west-1.amazonaws.com/id/")
    assert plan.outputs["oidc_issuer"] == seen["issuer"]


def test_mlflow_signs_in_as_its_own_role_with_rds_iam_tokens_verified_against_the_rds_ca(contract):
    plan, seen = contract
    database = seen["layer"].database
    assert seen["username"] == "mlflow_tracking" and seen["admin_username"] == "mlflow"
    assert seen["port"] == 5432
    assert database.login.source == "aws-rds-iam"
    assert (database.tls.mode, database.tls.ca_bundle) == ("verify-full", "aws-rds")
    assert database.role.ensure == ("GRANT rds_iam TO {role}",)
    # No password is kept at deployment time: the instance's inputs carry none, and no secret value is read (the
    # harness has no fake for getSecretVersion, so reading one would fail the run).
    assert "password" not in json.dumps([r.inputs for r in plan.all(RDS)]).lower().replace(
        "managemasteruserpassword", "")


def test_the_bootstrap_reads_the_master_secret_at_run_time_through_its_own_role(contract):
    plan, seen = contract
    instance = plan.one(RDS)
    secret_arn = instance.outputs["masterUserSecrets"][0]["secretArn"]
    assert seen["layer"].database.admin.login.source == "aws-secrets-manager"
    assert seen["admin_settings"]["MLOPS_DB_SECRET_ID"] == secret_arn
    role = plan.one("aws:iam/role:Role", "layer-bootstrap-role")
    assert seen["admin_annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}
    assert [p.name for p in plan.all("aws:iam/rolePolicy:RolePolicy") if p.parent == role.parent] == [
        "layer-bootstrap-secret"]


def test_the_identity_annotation_names_its_role(contract):
    plan, seen = contract
    role = plan.one("aws:iam/role:Role", "layer-mlflow-role")
    assert seen["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}
    assert seen["artifact_uri"].startswith("s3://mlops-dev-artifacts-")


def test_node_roles_leave_network_permissions_to_the_vpc_cni_irsa_role(preview):
    """Every node role, managed groups' and Karpenter's alike, has the same two managed policies and no CNI policy."""
    attachments = [r for r in preview("aws-prod").all("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                   if "-node-" in r.name]
    by_role: dict[str, set[str]] = {}
    for attachment in attachments:
        by_role.setdefault(attachment.name.split("-node-")[0], set()).add(attachment.inputs["policyArn"].rsplit("/", 1)[1])
    assert by_role == {
        "mlops-cluster": {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"},
        "mlops-karpenter": {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"},
    }


# --- GPU capacity in the contract ---------------------------------------------------------------------------------

def _layer_settings(stack: str, **overrides):
    config = stack_config(stack)
    sections = {key.removeprefix("mlops:"): json.loads(value) for key, value in config.items()
                if key.removeprefix("mlops:") in ("network", "cluster", "database", "karpenter")}
    sections.update(overrides)
    return validate_aws_layer_args(sections, region="eu-west-1", tags=CostTags.from_mapping(
        json.loads(config["mlops:tags"])), name="mlops")


def test_the_layer_reports_gpu_capacity_only_when_a_gpu_pool_or_karpenter_gpu_nodepool_exists():
    assert _layer_settings("aws-dev").gpu is None
    assert _layer_settings("aws-dev", cluster={"gpu_pool": {}}).gpu is not None
    assert _layer_settings("aws-dev", karpenter={"enabled": True}).gpu is not None
    assert _layer_settings("aws-dev", karpenter={"enabled": True, "gpu_limit": 0}).gpu is None
    gpu = _layer_settings("aws-prod").gpu
    assert dict(gpu.node_labels) == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.value, t.effect) for t in gpu.taints] == [("nvidia.com/gpu", "true", "NoSchedule")]
    assert gpu.managed_device_plugin is False  # EKS's NVIDIA AMI has the driver, not the device plugin


def test_every_aws_gpu_pool_carries_the_labels_and_taints_the_layer_reports(preview):
    """The managed GPU node group and Karpenter's GPU NodePool both put the reported labels and taints on nodes."""
    plan = preview("aws-prod")
    gpu = _layer_settings("aws-prod").gpu
    group = plan.one(NODE_GROUP, "mlops-cluster-gpu").inputs
    assert dict(gpu.node_labels).items() <= group["labels"].items()
    assert group["taints"] == [{"key": t.key, "value": t.value, "effect": "NO_SCHEDULE"} for t in gpu.taints]
    template = plan.one("kubernetes:karpenter.sh/v1:NodePool", "mlops-karpenter-gpu").inputs["spec"]["template"]
    assert dict(gpu.node_labels).items() <= template["metadata"]["labels"].items()
    assert template["spec"]["taints"] == [{"key": t.key, "value": t.value, "effect": t.effect} for t in gpu.taints]


# --- drift and retagging ------------------------------------------------------------------------------------------

def test_the_database_pins_the_major_version_and_lets_aws_own_the_minor(preview):
    rds = preview("aws-prod").one(RDS).inputs
    # a prefix version with automatic minor upgrades: the provider compares it with engine_version_actual as a
    # prefix, so the instance AWS upgraded to 17.x previews as unchanged, not as a downgrade
    assert (rds["engineVersion"], rds["autoMinorVersionUpgrade"]) == ("17", True)


def test_retagging_changes_no_launch_template_so_no_node_rolls(preview, resized_and_retagged):
    def templates(plan):
        return {r.name: r.inputs for r in plan.all("aws:ec2/launchTemplate:LaunchTemplate")}

    def node_templates(plan):
        return {r.name: r.inputs["launchTemplate"] for r in plan.all(NODE_GROUP)}

    assert templates(preview("aws-prod")) == templates(resized_and_retagged)
    assert node_templates(preview("aws-prod")) == node_templates(resized_and_retagged)


def test_the_nodes_still_get_the_cost_tags_through_their_auto_scaling_groups(preview, resized_and_retagged):
    def asg_tags(plan):
        tags: dict[str, dict[str, str]] = {}
        for tag in plan.all("aws:autoscaling/tag:Tag"):
            tags.setdefault(tag.inputs["autoscalingGroupName"], {})[tag.inputs["tag"]["key"]] = tag.inputs["tag"]["value"]
            assert tag.inputs["tag"]["propagateAtLaunch"] is True
        return tags

    before, after = asg_tags(preview("aws-prod")), asg_tags(resized_and_retagged)
    assert len(before) == len(preview("aws-prod").all(NODE_GROUP)) == 3
    assert all(tags["cost-center"] == "ml-platform" for tags in before.values())
    assert all(tags["cost-center"] == "research" and tags["team"] == "vision" for tags in after.values())


def test_tagging_through_launch_templates_is_an_explicit_choice():
    cluster = {**json.loads(stack_config("aws-dev")["mlops:cluster"]), "node_tags": "launch_template"}
    plan = preview_with("aws-dev", cluster=cluster)
    for template in plan.all("aws:ec2/launchTemplate:LaunchTemplate"):
        kinds = {spec["resourceType"] for spec in template.inputs["tagSpecifications"]}
        assert kinds == {"instance", "volume", "network-interface"}
    assert plan.all("aws:autoscaling/tag:Tag") == []


# --- key policies and control-plane logs --------------------------------------------------------------------------

def _key_policy(plan, name):
    return json.loads(plan.one(KMS, name).inputs["policy"])["Statement"]


def test_the_secrets_and_database_keys_have_explicit_least_privilege_policies(preview):
    plan = preview("aws-prod")
    cluster_role = plan.one("aws:iam/role:Role", "mlops-cluster-role").outputs["arn"]
    secrets = {s["Sid"]: s for s in _key_policy(plan, "mlops-cluster-secrets-key")}
    database = {s["Sid"]: s for s in _key_policy(plan, "mlops-database-key")}
    for statements in (secrets, database):
        admin = statements["AccountAdministersThroughIam"]
        # administrators manage the key but cannot decrypt with it
        assert "kms:*" not in admin["Action"] and "kms:Decrypt" not in admin["Action"]
        assert "kms:Put*" in admin["Action"]  # so the account can always correct the policy
    assert secrets["NamedRolesEncryptDirectly"]["Principal"] == {"AWS": [cluster_role]}
    assert database["UseThroughTheServicesOnly"]["Condition"]["StringEquals"]["kms:ViaService"] == [
        "rds.eu-west-1.amazonaws.com", "secretsmanager.eu-west-1.amazonaws.com"]
    assert "NamedRolesEncryptDirectly" not in database


def test_production_enables_every_control_plane_log_type(preview):
    assert sorted(preview("aws-prod").one(EKS).inputs["enabledClusterLogTypes"]) == [
        "api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert sorted(preview("aws-dev").one(EKS).inputs["enabledClusterLogTypes"]) == ["api", "audit", "authenticator"]
