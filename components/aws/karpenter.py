"""Karpenter on an EKS cluster: the controller (Helm chart), its IRSA role, the interruption queue and NodePools.

What it gives: the controller installed from the pinned OCI chart in ``kube-system`` with an IRSA role whose policy
is scoped to this cluster's tagged resources (Karpenter's reference policy, condensed); a node role with its own
access entry; an SQS queue (SSE, TLS only) fed by EventBridge rules for spot interruptions, rebalance
recommendations, scheduled health events and instance state changes, so nodes are drained before AWS takes them;
one EC2NodeClass (AL2023, IMDSv2 with hop limit 1, encrypted gp3 root volume, cost-tagged instances) and three
NodePools: ``on-demand`` and ``spot`` (each limited to ``cpu_limit`` vCPUs) and ``gpu`` (tainted
``nvidia.com/gpu=true:NoSchedule``, limited to ``gpu_limit`` GPUs).

What it deliberately does not: replace the managed node groups (system pods stay on them) or pick workloads'
pools (pods choose with ``karpenter.sh/capacity-type`` selectors or the GPU toleration).

Instances that Karpenter launches are not Pulumi resources, so the provider's default tags never reach them; the
EC2NodeClass carries ``instance_tags`` for cost attribution.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi import Input

from . import iam_documents
from .cluster import GPU_NODE_LABELS, GPU_TAINT, POOL_LABEL
from ..tagging import tagged_options
from ..validation import ArgumentError, field_path, optional_bool, optional_int, reject_unknown_keys, require_wired

CHART = "oci://public.ecr.aws/karpenter/karpenter"
CRD_CHART = "oci://public.ecr.aws/karpenter/karpenter-crd"
"""Karpenter's CRDs as their own chart: Helm installs a chart's bundled CRDs once and never upgrades them, so the
controller chart skips its copy and this release upgrades the CRDs with every version bump."""
CHART_VERSION = "1.14.1"
"""Pinned to the release in ../shared/reference/karpenter (aws/karpenter-provider-aws v1.14.1, whose NodePool and
EC2NodeClass CRDs the tests validate against); it supports the Kubernetes versions of
``mlops_platform.aws.cluster.ADDON_VERSIONS``. Update the folder and this pin together."""
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
AMI_ALIAS = "al2023@latest"
"""Follows each new EKS-optimised AL2023 release (nodes drift to it). Production pins a dated release instead
(``ami_alias: al2023@vYYYYMMDD``, from awslabs/amazon-eks-ami releases) and bumps it after testing in dev."""
INTERRUPTION_EVENTS: Mapping[str, dict[str, Any]] = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
_CONFIG_KEYS = frozenset({"enabled", "chart_version", "ami_alias", "cpu_limit", "gpu_limit", "replicas"})
_WIRING_KEYS = frozenset({"cluster_name", "cluster_endpoint", "oidc_provider_arn", "oidc_issuer", "subnet_ids",
                          "security_group_id", "region", "instance_tags"})


class KarpenterArgs(TypedDict):
    """Inputs of Karpenter. The cluster wiring is required; the sizing has defaults."""

    cluster_name: Input[str]
    cluster_endpoint: Input[str]
    oidc_provider_arn: Input[str]
    oidc_issuer: Input[str]
    subnet_ids: Input[list[str]]
    """Private subnets nodes are launched in."""
    security_group_id: Input[str]
    """The cluster security group every node gets."""
    region: str
    enabled: NotRequired[bool]
    """Read by the AWS layer only (a stack turns Karpenter on with it); the component ignores it."""
    chart_version: NotRequired[str]
    """Karpenter chart version (default ``CHART_VERSION``)."""
    ami_alias: NotRequired[str]
    """EC2NodeClass AMI alias, e.g. ``al2023@v20250715`` to pin a release (default ``al2023@latest``)."""
    cpu_limit: NotRequired[int]
    """vCPUs each CPU NodePool may provision in total (default 200)."""
    gpu_limit: NotRequired[int]
    """GPUs the GPU NodePool may provision in total (default 8; 0 leaves the GPU NodePool out)."""
    replicas: NotRequired[int]
    """Controller replicas (default 2)."""
    instance_tags: NotRequired[Mapping[str, str]]
    """Tags for the instances and volumes Karpenter launches."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class KarpenterSettings:
    enabled: bool
    chart_version: str
    ami_alias: str
    cpu_limit: int
    gpu_limit: int
    replicas: int


def validate_karpenter_args(args: Mapping[str, Any], field: str = "karpenter", *, wiring: bool = True) -> KarpenterSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are checked."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    if wiring:
        require_wired(args, sorted(_WIRING_KEYS - {"instance_tags"}), field)
    version = args.get("chart_version", CHART_VERSION)
    if not isinstance(version, str) or not re.fullmatch(r"1\.\d+\.\d+", version):
        raise ArgumentError(f"{field_path(field, 'chart_version')}: {version!r} is not allowed; use an exact Karpenter "
                            f"1.x chart version such as {CHART_VERSION}")
    alias = args.get("ami_alias", AMI_ALIAS)
    if not isinstance(alias, str) or not re.fullmatch(r"al2023@(latest|v\d{8})", alias):
        raise ArgumentError(f"{field_path(field, 'ami_alias')}: {alias!r} is not allowed; use al2023@latest or a "
                            f"pinned release such as al2023@v20250715")
    return KarpenterSettings(
        enabled=optional_bool(args, "enabled", field, False),
        chart_version=version,
        ami_alias=alias,
        cpu_limit=optional_int(args, "cpu_limit", field, 200, 1, 100000),
        gpu_limit=optional_int(args, "gpu_limit", field, 8, 0, 10000),
        replicas=optional_int(args, "replicas", field, 2, 1, 5),
    )


def controller_policy(cluster_name: str, partition: str, region: str, account_id: str, queue_arn: str,
                      node_role_arn: str) -> str:
    """The controller's permissions: Karpenter's reference policy (v1), scoped to this cluster's tags and region."""
    ec2 = f"arn:{partition}:ec2:{region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
             "aws:RequestTag/eks:eks-cluster-name": cluster_name}
    owned_resource = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"}
    in_region = {"aws:RequestedRegion": region}
    profile = f"arn:{partition}:iam::{account_id}:instance-profile/*"
    launched = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface",
                                                  "launch-template", "spot-instances-request")]
    return iam_documents.document(
        {"Sid": "AllowScopedEC2InstanceAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
         "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*",
                      f"{ec2}:*:capacity-reservation/*"]},
        {"Sid": "AllowScopedEC2LaunchTemplateAccessActions", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"], "Resource": f"{ec2}:*:launch-template/*",
         "Condition": {"StringEquals": owned_resource, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow",
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"], "Resource": launched,
         "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": launched,
         "Condition": {"StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet",
                                                                      "CreateLaunchTemplate"]},
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": f"{ec2}:*:instance/*",
         "Condition": {"StringEquals": owned_resource, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                       "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim",
                                                                     "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow", "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
         "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
         "Condition": {"StringEquals": owned_resource, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow",
         "Action": ["ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets"],
         "Resource": "*", "Condition": {"StringEquals": in_region}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*"},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow",
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], "Resource": queue_arn},
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": node_role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com"]}}},
        {"Sid": "AllowScopedInstanceProfileCreationActions", "Effect": "Allow",
         "Action": ["iam:CreateInstanceProfile", "iam:TagInstanceProfile"], "Resource": profile,
         "Condition": {"StringEquals": {**owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileActions", "Effect": "Allow",
         "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile",
                    "iam:TagInstanceProfile"],
         "Resource": profile,
         "Condition": {"StringEquals": {**owned_resource, "aws:ResourceTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow",
         "Action": ["iam:GetInstanceProfile", "iam:ListInstanceProfiles"], "Resource": profile},
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow", "Action": "eks:DescribeCluster",
         "Resource": f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster_name}"},
    )


def interruption_queue_policy(queue_arn: str) -> str:
    """EventBridge (and SQS itself) may deliver to the queue; nothing may use it without TLS."""
    return iam_documents.document(
        {"Sid": "EventBridgeDelivers", "Effect": "Allow",
         "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
         "Action": "sqs:SendMessage", "Resource": queue_arn},
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": queue_arn,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    )


class Karpenter(pulumi.ComponentResource):
    """Karpenter with its IAM, interruption handling and on-demand, spot and GPU NodePools."""

    queue_name: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    controller_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_karpenter_args(args)
        super().__init__("mlops:aws:Karpenter", name, None, tagged_options(args.get("tags"), opts, "karpenter.tags"))
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        region = args["region"]

        queue = aws.sqs.Queue(f"{name}-interruptions", message_retention_seconds=300, sqs_managed_sse_enabled=True,
                              opts=child)
        aws.sqs.QueuePolicy(f"{name}-interruptions", queue_url=queue.url,
                            policy=queue.arn.apply(interruption_queue_policy), opts=child)
        for rule_name, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(f"{name}-{rule_name}", event_pattern=json.dumps(pattern, sort_keys=True),
                                            description=f"Karpenter interruption handling: {rule_name}", opts=child)
            aws.cloudwatch.EventTarget(f"{name}-{rule_name}", rule=rule.name, arn=queue.arn, opts=child)

        node_role = aws.iam.Role(f"{name}-node", assume_role_policy=iam_documents.service_trust_policy("ec2.amazonaws.com"),
                                 opts=child)
        # No AmazonEKS_CNI_Policy: the VPC CNI has its own IRSA role, so nodes need not carry its ENI permissions.
        for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"):
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=node_role.name,
                                         policy_arn=partition.apply(lambda p, policy=policy: f"arn:{p}:iam::aws:policy/{policy}"),
                                         opts=child)
        node_access = aws.eks.AccessEntry(f"{name}-node", cluster_name=args["cluster_name"],
                                          principal_arn=node_role.arn, type="EC2_LINUX", opts=child)

        controller_role = aws.iam.Role(
            f"{name}-controller",
            assume_role_policy=pulumi.Output.all(args["oidc_provider_arn"], args["oidc_issuer"]).apply(
                lambda values: iam_documents.irsa_trust_policy(values[0], values[1], NAMESPACE, SERVICE_ACCOUNT)
            ),
            opts=child,
        )
        controller_permissions = aws.iam.RolePolicy(
            f"{name}-controller",
            role=controller_role.id,
            policy=pulumi.Output.all(args["cluster_name"], partition, account, queue.arn, node_role.arn).apply(
                lambda values: controller_policy(values[0], values[1], region, values[2], values[3], values[4])
            ),
            opts=child,
        )

        crds = k8s.helm.v3.Release(
            f"{name}-crds",
            k8s.helm.v3.ReleaseArgs(chart=CRD_CHART, version=settings.chart_version, namespace=NAMESPACE,
                                    atomic=True, cleanup_on_fail=True),
            opts=child,
        )
        release = k8s.helm.v3.Release(
            f"{name}-controller",
            k8s.helm.v3.ReleaseArgs(
                chart=CHART,
                version=settings.chart_version,
                namespace=NAMESPACE,
                skip_crds=True,
                values={
                    "replicas": settings.replicas,
                    "serviceAccount": {"name": SERVICE_ACCOUNT,
                                       "annotations": {"eks.amazonaws.com/role-arn": controller_role.arn}},
                    "settings": {"clusterName": args["cluster_name"], "clusterEndpoint": args["cluster_endpoint"],
                                 "interruptionQueue": queue.name},
                    "controller": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                                                 "limits": {"cpu": "1", "memory": "1Gi"}}},
                },
                atomic=True,
                cleanup_on_fail=True,
            ),
            opts=child.merge(pulumi.ResourceOptions(depends_on=[controller_permissions, node_access, crds])),
        )
        after_release = child.merge(pulumi.ResourceOptions(depends_on=[release]))

        node_class = k8s.apiextensions.CustomResource(
            f"{name}-nodeclass",
            api_version="karpenter.k8s.aws/v1",
            kind="EC2NodeClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="default"),
            spec=pulumi.Output.all(node_role.name, args["subnet_ids"], args["security_group_id"]).apply(
                lambda values: _node_class_spec(values[0], values[1], values[2], settings,
                                                dict(args.get("instance_tags") or {}))
            ),
            opts=after_release,
        )
        on_node_class = child.merge(pulumi.ResourceOptions(depends_on=[release, node_class]))
        pools = {"on-demand": _node_pool_spec("on-demand", settings), "spot": _node_pool_spec("spot", settings)}
        if settings.gpu_limit:
            pools["gpu"] = _node_pool_spec("gpu", settings)
        for pool_name, spec in pools.items():
            k8s.apiextensions.CustomResource(
                f"{name}-{pool_name}",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pool_name),
                spec=spec,
                opts=on_node_class,
            )

        self.queue_name = queue.name
        self.node_role_arn = node_role.arn
        self.controller_role_arn = controller_role.arn
        self.register_outputs({"queue_name": self.queue_name, "node_role_arn": self.node_role_arn,
                               "controller_role_arn": self.controller_role_arn})


def _node_class_spec(role_name: str, subnet_ids: list[str], security_group_id: str, settings: KarpenterSettings,
                     instance_tags: dict[str, str]) -> dict[str, Any]:
    return {
        "role": role_name,
        "amiSelectorTerms": [{"alias": settings.ami_alias}],
        "subnetSelectorTerms": [{"id": subnet_id} for subnet_id in subnet_ids],
        "securityGroupSelectorTerms": [{"id": security_group_id}],
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1,
                            "httpTokens": "required"},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda",
                                 "ebs": {"volumeSize": "100Gi", "volumeType": "gp3", "encrypted": True,
                                         "deleteOnTermination": True}}],
        "tags": instance_tags,
    }


def _node_pool_spec(pool: str, settings: KarpenterSettings) -> dict[str, Any]:
    gpu = pool == "gpu"
    requirements = [
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot" if pool == "spot" else "on-demand"]},
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["g"] if gpu else ["c", "m", "r"]},
    ]
    if not gpu:
        requirements.append({"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": ["5"]})
    template: dict[str, Any] = {
        "metadata": {"labels": {POOL_LABEL: f"karpenter-{pool}", **(GPU_NODE_LABELS if gpu else {})}},
        "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                 "requirements": requirements,
                 "expireAfter": "720h"},
    }
    if gpu:
        template["spec"]["taints"] = [{"key": GPU_TAINT.key, "value": GPU_TAINT.value, "effect": GPU_TAINT.effect}]
    limits = {"nvidia.com/gpu": settings.gpu_limit} if gpu else {"cpu": settings.cpu_limit}
    return {
        "template": template,
        "limits": limits,
        "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5m"},
        "weight": {"on-demand": 10, "spot": 50, "gpu": 10}[pool],
    }
