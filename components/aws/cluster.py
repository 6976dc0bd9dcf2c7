"""An EKS cluster with a system, a CPU (spot-capable) and an optional GPU node group, ready for IRSA.

What it gives: a pinned Kubernetes version; an API endpoint that is private unless a public one is explicitly
opted into with an allow-list of CIDRs; control-plane logs (api, audit, authenticator) in a KMS-encrypted log group
with a retention; envelope encryption of Secrets with a rotated KMS key; access entries (API authentication mode,
no implicit admin for whoever created the cluster) for the admin principals; the core add-ons pinned (vpc-cni and
the EBS CSI driver with their own IRSA roles, coredns, kube-proxy); the IAM OIDC provider for IRSA; and managed
node groups whose launch templates require IMDSv2 (hop limit 1, so pods cannot borrow the node's role) and encrypt
gp3 root volumes. Desired sizes are ignored on update so an autoscaler owns them. Outputs a kubeconfig that
authenticates with ``aws eks get-token`` and a ``pulumi_kubernetes.Provider`` built from it.

What it deliberately does not: install anything inside the cluster besides the EKS add-ons (Karpenter is
``mlops_platform.aws.karpenter``; everything else is the Kubernetes layer), or open the API to the internet by default.

The provider's default tags reach the node groups and launch templates but not the instances EKS launches, which
is where the cost is: ``node_tags`` chooses how ``instance_tags`` get there (Auto Scaling group tags propagated at
launch by default, so a retag rolls no node; or the launch templates' tag specifications, which also tag volumes but
replace every node on a retag).
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
from .log_encryption import logs_encryption_key
from .network import LOG_RETENTION_DAYS
from ..cloud_layer import NodeTaint
from ..kubeconfig import exec_kubeconfig
from ..node_pools import capacity_type, pool_sizes, validate_pools
from ..tagging import tagged_options
from ..validation import (
    ArgumentError,
    field_path,
    optional_bool,
    optional_int,
    public_access_cidrs,
    reject_unknown_keys,
    require_wired,
)

ADDON_VERSIONS: Mapping[str, Mapping[str, str]] = {
    "1.35": {"vpc-cni": "v1.22.4-eksbuild.3", "coredns": "v1.13.2-eksbuild.1", "kube-proxy": "v1.35.0-eksbuild.2",
             "aws-ebs-csi-driver": "v1.63.1-eksbuild.1"},
    "1.36": {"vpc-cni": "v1.22.4-eksbuild.3", "coredns": "v1.14.3-eksbuild.16", "kube-proxy": "v1.36.0-eksbuild.21",
             "aws-ebs-csi-driver": "v1.63.1-eksbuild.1"},
}
"""The one table of supported Kubernetes versions and the core add-on versions pinned for each: the versions in
EKS standard support on 2026-12-01 (1.35 until 2027-03-27, 1.36 until mid-2027; 1.34 ends 2026-12-02 and 1.33
ended 2026-07-29, after which extended support costs extra). Add-on versions as ``aws eks describe-addon-versions
--kubernetes-version <v>`` lists them (checked against published EKS 1.35/1.36 configurations). Add a row with a new
version, drop the oldest when its standard support ends; ``addon_versions`` overrides one add-on."""
SUPPORTED_VERSIONS = tuple(ADDON_VERSIONS)
DEFAULT_VERSION = max(SUPPORTED_VERSIONS, key=lambda v: tuple(map(int, v.split("."))))
"""The newest supported version."""
CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every control-plane log type EKS offers."""
DEFAULT_CONTROL_PLANE_LOGS = ("api", "audit", "authenticator")
"""Who called the API, and how they authenticated; ``control_plane_logs`` adds the controller manager and the
scheduler (production enables all: they explain evictions and unschedulable pods, at the cost of log volume)."""
NODE_TAGS = ("autoscaling_group", "launch_template")
CAPACITY_TYPES = {"on_demand": "ON_DEMAND", "spot": "SPOT"}
GPU_NODE_LABELS: Mapping[str, str] = {"nvidia.com/gpu.present": "true"}
"""Labels every GPU node carries, from the managed GPU node group or Karpenter's GPU NodePool alike (the label NVIDIA's
GPU feature discovery would set): what GPU pods and the GPU daemons select on."""
GPU_TAINT = NodeTaint(key="nvidia.com/gpu", value="true", effect="NoSchedule")
"""The taint of every GPU node, so only pods that ask for a GPU land on one."""
_EKS_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                      "NoExecute": "NO_EXECUTE"}
POOL_LABEL = "mlops.io/pool"
_ARN = r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+"
_INSTANCE_TYPE = r"[a-z][a-z0-9-]*\.[a-z0-9]+"
_NAME = r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}"
_POOL_KEYS = frozenset({"instance_types", "min_size", "max_size", "desired_size", "disk_size_gib", "capacity_type"})
_POOL_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "system_pool": {"instance_types": ["m7i.large"], "min_size": 2, "max_size": 3, "disk_size_gib": 50,
                    "capacity_type": "on_demand"},
    "cpu_pool": {"instance_types": ["m7i.xlarge", "m6i.xlarge", "m5.xlarge"], "min_size": 0, "max_size": 10,
                 "disk_size_gib": 100, "capacity_type": "spot"},
    "gpu_pool": {"instance_types": ["g5.xlarge"], "min_size": 0, "max_size": 2, "disk_size_gib": 200,
                 "capacity_type": "on_demand"},
}
_CONFIG_KEYS = frozenset({"name", "kubernetes_version", "admin_principal_arns", "public_endpoint",
                          "public_access_cidrs", "log_retention_days", "addon_versions", "control_plane_logs",
                          "node_tags", *_POOL_DEFAULTS})
_WIRING_KEYS = frozenset({"region", "vpc_id", "subnet_ids", "instance_tags"})


class AwsNodePoolArgs(TypedDict):
    """One managed node group. Sizes are bounds; the desired size is only the starting point."""

    instance_types: NotRequired[list[str]]
    """EC2 instance types; several widen spot capacity."""
    min_size: NotRequired[int]
    max_size: NotRequired[int]
    desired_size: NotRequired[int]
    """Initial size (default min_size, at least 1 for the system pool); ignored after creation."""
    disk_size_gib: NotRequired[int]
    """Encrypted gp3 root volume size (20-16384)."""
    capacity_type: NotRequired[str]
    """``on_demand`` or ``spot``; the system pool is always on-demand."""


NodePoolArgs = AwsNodePoolArgs
"""The name the three clouds share in Python; the schema of other languages needs one name per cloud."""


class ClusterArgs(TypedDict):
    """Inputs of a cluster. The name and the network wiring are required; the rest have safe defaults."""

    name: str
    """The EKS cluster name (fixed for the cluster's life)."""
    region: str
    """The cluster's region (for the kubeconfig's ``aws eks get-token``)."""
    vpc_id: Input[str]
    subnet_ids: Input[list[str]]
    """Private subnets, in 2 or more zones, for the control-plane interfaces and nodes."""
    admin_principal_arns: NotRequired[list[str]]
    """IAM roles or users that get cluster-admin through access entries; include the identity that runs Pulumi.
    Absent or empty: the IAM role or user running Pulumi (resolved from the caller's session), so the platform's
    Kubernetes resources can be applied. EKS's implicit creator admin is never used, so changing this list never
    touches the cluster itself."""
    kubernetes_version: NotRequired[str]
    """One of ``SUPPORTED_VERSIONS`` (default ``DEFAULT_VERSION``)."""
    public_endpoint: NotRequired[bool]
    """Opt-out: also expose the API endpoint publicly, to ``public_access_cidrs`` only (default false)."""
    public_access_cidrs: NotRequired[list[str]]
    """Allow-list for the public endpoint; required with ``public_endpoint``, and 0.0.0.0/0 is refused."""
    log_retention_days: NotRequired[int]
    """Days control-plane logs are kept (default 90)."""
    control_plane_logs: NotRequired[list[str]]
    """Control-plane log types, from ``CONTROL_PLANE_LOGS`` (default api, audit, authenticator)."""
    node_tags: NotRequired[str]
    """How the cost tags reach the nodes EKS launches. ``autoscaling_group`` (default): as tags of each node group's
    Auto Scaling group, propagated to instances at launch, so a tag change rolls no node (running nodes keep their
    old tags until they are replaced; root volumes are not tagged). ``launch_template``: in the launch template's
    tag specifications, so instances, volumes and network interfaces are tagged from boot, but a tag change is a
    new template version and EKS replaces every node of every pool."""
    addon_versions: NotRequired[Mapping[str, str]]
    """Overrides of the pinned add-on versions, by add-on name."""
    system_pool: NotRequired[NodePoolArgs]
    cpu_pool: NotRequired[NodePoolArgs]
    gpu_pool: NotRequired[NodePoolArgs | None]
    """Absent or null: no GPU node group."""
    instance_tags: NotRequired[Mapping[str, str]]
    """Tags for the instances and volumes EKS launches (see the module docstring)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class NodePoolSettings:
    role: str
    instance_types: tuple[str, ...]
    min_size: int
    max_size: int
    desired_size: int
    disk_size_gib: int
    capacity_type: str


@dataclass(frozen=True)
class ClusterSettings:
    name: str
    region: str | None
    kubernetes_version: str
    admin_principal_arns: tuple[str, ...]
    public_endpoint: bool
    public_access_cidrs: tuple[str, ...]
    log_retention_days: int
    control_plane_logs: tuple[str, ...]
    node_tags: str
    addon_versions: Mapping[str, str]
    pools: tuple[NodePoolSettings, ...]
    vpc_id: Any = None
    subnet_ids: Any = None
    instance_tags: Mapping[str, str] | None = None


def validate_cluster_args(args: Mapping[str, Any], field: str = "cluster", *, wiring: bool = True) -> ClusterSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are checked."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    name = args.get("name")
    if not isinstance(name, str) or not re.fullmatch(_NAME, name):
        raise ArgumentError(
            f"{field_path(field, 'name')}: {name!r} is not allowed; use 1 to 100 letters, digits, '-' or '_', "
            f"starting with a letter or digit"
        )
    if wiring:
        require_wired(args, ("region", "vpc_id", "subnet_ids"), field)
    version = args.get("kubernetes_version", DEFAULT_VERSION)
    if version not in SUPPORTED_VERSIONS:
        raise ArgumentError(
            f"{field_path(field, 'kubernetes_version')}: {version!r} is not allowed; use one of "
            f"{', '.join(SUPPORTED_VERSIONS)} (quoted, as a string)"
        )
    admins = args.get("admin_principal_arns", ())
    if (not isinstance(admins, (list, tuple))
            or not all(isinstance(a, str) and re.fullmatch(_ARN, a) for a in admins)):
        raise ArgumentError(
            f"{field_path(field, 'admin_principal_arns')}: {admins!r} is not allowed; use a list of IAM role or user "
            f"ARNs (arn:aws:iam::<account>:role/<name>)"
        )
    public = optional_bool(args, "public_endpoint", field, False)
    cidrs = public_access_cidrs(args.get("public_access_cidrs"), public, field_path(field, "public_access_cidrs"),
                                "the endpoint is private")
    retention = args.get("log_retention_days", 90)
    if isinstance(retention, bool) or retention not in LOG_RETENTION_DAYS:
        raise ArgumentError(
            f"{field_path(field, 'log_retention_days')}: {retention!r} is not allowed; use one of "
            f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    logs = args.get("control_plane_logs", list(DEFAULT_CONTROL_PLANE_LOGS))
    if (not isinstance(logs, (list, tuple)) or not logs or len(set(logs)) != len(logs)
            or not all(log in CONTROL_PLANE_LOGS for log in logs)):
        raise ArgumentError(f"{field_path(field, 'control_plane_logs')}: {logs!r} is not allowed; use a non-empty "
                            f"list of distinct log types from {', '.join(CONTROL_PLANE_LOGS)}")
    node_tags = args.get("node_tags", NODE_TAGS[0])
    if node_tags not in NODE_TAGS:
        raise ArgumentError(f"{field_path(field, 'node_tags')}: {node_tags!r} is not allowed; use autoscaling_group "
                            f"(a tag change rolls no node) or launch_template (volumes tagged too; a tag change "
                            f"replaces every node)")
    overrides = args.get("addon_versions") or {}
    reject_unknown_keys(overrides, frozenset(ADDON_VERSIONS[version]), field_path(field, "addon_versions"))
    for addon, addon_version in overrides.items():
        if not isinstance(addon_version, str) or not re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", addon_version):
            raise ArgumentError(
                f"{field_path(field, 'addon_versions')}.{addon}: {addon_version!r} is not allowed; use an EKS add-on "
                f"version such as v1.19.6-eksbuild.7"
            )
    pools = validate_pools(args, field, _pool)
    tags = args.get("instance_tags")
    return ClusterSettings(
        name=name,
        region=args.get("region"),
        kubernetes_version=version,
        admin_principal_arns=tuple(admins),
        public_endpoint=public,
        public_access_cidrs=cidrs,
        log_retention_days=retention,
        control_plane_logs=tuple(logs),
        node_tags=node_tags,
        addon_versions={**ADDON_VERSIONS[version], **overrides},
        pools=pools,
        vpc_id=args.get("vpc_id"),
        subnet_ids=args.get("subnet_ids"),
        instance_tags=dict(tags) if tags else None,
    )


def _pool(role: str, args: Any, field: str) -> NodePoolSettings:
    path = field_path(field, role)
    args = {} if args is None else args
    reject_unknown_keys(args, _POOL_KEYS, path)
    merged = {**_POOL_DEFAULTS[role], **args}
    types = merged["instance_types"]
    if (not isinstance(types, (list, tuple)) or not types
            or not all(isinstance(t, str) and re.fullmatch(_INSTANCE_TYPE, t) for t in types)):
        raise ArgumentError(f"{path}.instance_types: {types!r} is not allowed; use a non-empty list of EC2 instance "
                            f"types such as m7i.large")
    min_size, max_size, desired = pool_sizes(merged, role, path)
    capacity = capacity_type(merged, role, path)
    return NodePoolSettings(
        role=role.removesuffix("_pool"),
        instance_types=tuple(types),
        min_size=min_size,
        max_size=max_size,
        desired_size=desired,
        disk_size_gib=optional_int(merged, "disk_size_gib", path, 0, 20, 16384),
        capacity_type=CAPACITY_TYPES[capacity],
    )


def render_kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig for one cluster whose user authenticates with ``aws eks get-token`` (no stored credentials)."""
    return exec_kubeconfig(cluster_name, endpoint, certificate_authority, "aws",
                           args=["eks", "get-token", "--cluster-name", cluster_name, "--region", region,
                                 "--output", "json"])


class Cluster(pulumi.ComponentResource):
    """An EKS cluster with private API, encrypted Secrets, audit logs, IRSA and managed node groups."""

    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """A secret: JSON kubeconfig whose user runs ``aws eks get-token``."""
    provider: k8s.Provider
    oidc_issuer: pulumi.Output[str]
    """``https://oidc.eks.<region>.amazonaws.com/id/<id>``."""
    oidc_provider_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    """The security group EKS puts on the control plane and every node: what the database admits."""
    node_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_cluster_args(args)
        super().__init__("mlops:aws:Cluster", name, None, tagged_options(args.get("tags"), opts, "cluster.tags"))
        child = pulumi.ResourceOptions(parent=self)
        stateful = child.merge(pulumi.ResourceOptions(protect=True))
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition

        account = aws.get_caller_identity_output(opts=invoke).account_id
        logs_key = logs_encryption_key(f"{name}-logs-key", description=f"Encrypts the control-plane logs of "
                                       f"{settings.name}", region=settings.region, parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/eks/{settings.name}/cluster",  # the name EKS writes to; created first to own its retention
            retention_in_days=settings.log_retention_days,
            kms_key_id=logs_key.arn,
            opts=child,
        )

        role = aws.iam.Role(f"{name}-role",
                            assume_role_policy=iam_documents.service_trust_policy("eks.amazonaws.com", tag_session=True),
                            opts=child)
        # Only the cluster role encrypts with it (EKS calls KMS as that role); administrators manage it through IAM.
        secrets_key = aws.kms.Key(
            f"{name}-secrets-key", description=f"Envelope encryption of {settings.name} Secrets",
            enable_key_rotation=True, deletion_window_in_days=30,
            policy=pulumi.Output.all(account, partition, role.arn).apply(
                lambda values: iam_documents.service_key_policy(values[0], values[1], [], users=[values[2]])),
            opts=stateful)
        role_policy = aws.iam.RolePolicyAttachment(
            f"{name}-role-cluster-policy", role=role.name,
            policy_arn=partition.apply(lambda p: f"arn:{p}:iam::aws:policy/AmazonEKSClusterPolicy"), opts=child)
        key_use = aws.iam.RolePolicy(f"{name}-role-secrets-key", role=role.id,
                                     policy=secrets_key.arn.apply(iam_documents.key_user_policy), opts=child)

        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=settings.name,
            version=settings.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=settings.subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=settings.public_endpoint,
                public_access_cidrs=list(settings.public_access_cidrs) or None,
            ),
            enabled_cluster_log_types=list(settings.control_plane_logs),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
                resources=["secrets"],
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False
            ),
            bootstrap_self_managed_addons=False,  # the core add-ons are managed, pinned EKS add-ons below
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=True,
            opts=stateful.merge(pulumi.ResourceOptions(depends_on=[log_group, role_policy, key_use])),
        )

        admins: dict[str, Input[str]] = {str(i): arn for i, arn in enumerate(settings.admin_principal_arns)}
        if not admins:
            caller = aws.get_caller_identity_output(opts=invoke)
            admins["deployer"] = aws.iam.get_session_context_output(arn=caller.arn, opts=invoke).issuer_arn
        admin_policies = []
        for index, principal in admins.items():
            entry = aws.eks.AccessEntry(f"{name}-admin-{index}", cluster_name=cluster.name, principal_arn=principal,
                                        type="STANDARD", opts=child)
            admin_policies.append(aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{index}",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=partition.apply(lambda p: f"arn:{p}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child,
            ))

        oidc_issuer = cluster.identities.apply(lambda identities: identities[0].oidcs[0].issuer)
        oidc = aws.iam.OpenIdConnectProvider(f"{name}-oidc", url=oidc_issuer, client_id_lists=["sts.amazonaws.com"],
                                             opts=child)

        def irsa_role(role_name: str, namespace: str, service_account: str, managed_policy: str) -> aws.iam.Role:
            irsa = aws.iam.Role(
                f"{name}-{role_name}",
                assume_role_policy=pulumi.Output.all(oidc.arn, oidc_issuer).apply(
                    lambda values: iam_documents.irsa_trust_policy(values[0], values[1], namespace, service_account)
                ),
                opts=child,
            )
            aws.iam.RolePolicyAttachment(f"{name}-{role_name}", role=irsa.name,
                                         policy_arn=partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{managed_policy}"),
                                         opts=child)
            return irsa

        cni_role = irsa_role("vpc-cni", "kube-system", "aws-node", "AmazonEKS_CNI_Policy")
        ebs_role = irsa_role("ebs-csi", "kube-system", "ebs-csi-controller-sa", "service-role/AmazonEBSCSIDriverPolicy")

        def addon(addon_name: str, role_arn: Input[str] | None = None, after: list[pulumi.Resource] | None = None,
                  configuration: str | None = None):
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=settings.addon_versions[addon_name],
                service_account_role_arn=role_arn,
                configuration_values=configuration,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                opts=child.merge(pulumi.ResourceOptions(depends_on=after or [])),
            )

        # Networking add-ons come before the nodes (a node is not Ready without its CNI); the rest need nodes.
        # The VPC CNI enforces NetworkPolicies, so the platform's default-deny policies take effect.
        before_nodes = [addon("vpc-cni", cni_role.arn, configuration=json.dumps({"enableNetworkPolicy": "true"})),
                        addon("kube-proxy")]

        node_role = aws.iam.Role(f"{name}-node", assume_role_policy=iam_documents.service_trust_policy("ec2.amazonaws.com"),
                                 opts=child)
        node_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=node_role.name,
                                         policy_arn=partition.apply(lambda p, policy=policy: f"arn:{p}:iam::aws:policy/{policy}"),
                                         opts=child)
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
        ]
        node_groups = [
            self._node_group(name, pool, cluster, node_role, settings, [*before_nodes, *node_policies], child)
            for pool in settings.pools
        ]
        addon("coredns", after=node_groups)
        addon("aws-ebs-csi-driver", ebs_role.arn, after=node_groups)

        kubeconfig = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
            lambda values: render_kubeconfig(values[0], values[1], values[2], settings.region)
        )
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=child.merge(pulumi.ResourceOptions(depends_on=[*admin_policies, *node_groups])),
        )
        self.name = cluster.name
        self.endpoint = cluster.endpoint
        self.oidc_issuer = oidc_issuer
        self.oidc_provider_arn = oidc.arn
        self.security_group_id = cluster.vpc_config.cluster_security_group_id
        self.node_role_arn = node_role.arn
        self.register_outputs({"name": self.name, "endpoint": self.endpoint, "kubeconfig": self.kubeconfig,
                               "oidc_issuer": self.oidc_issuer, "oidc_provider_arn": self.oidc_provider_arn,
                               "security_group_id": self.security_group_id, "node_role_arn": self.node_role_arn})

    def _node_group(self, name: str, pool: NodePoolSettings, cluster: aws.eks.Cluster, node_role: aws.iam.Role,
                    settings: ClusterSettings, after: list[pulumi.Resource], child: pulumi.ResourceOptions):
        volume = aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_size=pool.disk_size_gib, volume_type="gp3", encrypted="true", delete_on_termination="true"
        )
        in_template = settings.instance_tags and settings.node_tags == "launch_template"
        tag_specifications = [
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=dict(settings.instance_tags))
            for kind in ("instance", "volume", "network-interface")
        ] if in_template else None
        template = aws.ec2.LaunchTemplate(
            f"{name}-{pool.role}",
            description=f"{pool.role} nodes of {settings.name}: IMDSv2 only, encrypted gp3 root volume",
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name="/dev/xvda", ebs=volume)],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1,
            ),
            tag_specifications=tag_specifications,
            update_default_version=True,
            opts=child,
        )
        gpu = pool.role == "gpu"
        group = aws.eks.NodeGroup(
            f"{name}-{pool.role}",
            cluster_name=cluster.name,
            node_group_name_prefix=f"{settings.name}-{pool.role}-",
            node_role_arn=node_role.arn,
            subnet_ids=settings.subnet_ids,
            ami_type="AL2023_x86_64_NVIDIA" if gpu else "AL2023_x86_64_STANDARD",
            capacity_type=pool.capacity_type,
            instance_types=list(pool.instance_types),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size, max_size=pool.max_size, desired_size=pool.desired_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
            labels={POOL_LABEL: pool.role, **(GPU_NODE_LABELS if gpu else {})},
            taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT.key, value=GPU_TAINT.value,
                                               effect=_EKS_TAINT_EFFECTS[GPU_TAINT.effect])] if gpu else None,
            opts=child.merge(pulumi.ResourceOptions(depends_on=after,
                                                    ignore_changes=["scalingConfig.desiredSize"])),
        )
        if settings.instance_tags and settings.node_tags == "autoscaling_group":
            # Tags of the group's Auto Scaling group, copied to each instance it launches: changing one updates the
            # group's tag and no launch template, so no node is replaced.
            group_name = group.resources.apply(lambda resources: resources[0].autoscaling_groups[0].name)
            for key, value in sorted(settings.instance_tags.items()):
                aws.autoscaling.Tag(
                    f"{name}-{pool.role}-tag-{key}",
                    autoscaling_group_name=group_name,
                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=True),
                    opts=child,
                )
        return group
