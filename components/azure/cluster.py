"""An AKS cluster with a system, a CPU (Spot-capable) and an optional GPU node pool, ready for Entra workload
identity.

What it gives: a pinned Kubernetes version with an automatic upgrade channel (patch releases by default) and a
node OS upgrade channel (node images); Microsoft Entra ID authentication with Azure RBAC for Kubernetes and local
accounts disabled, so every request is a named Entra principal and no static admin credential exists; cluster admin
for the given principals (default: whoever runs Pulumi) through a role assignment on the cluster only; a private
API server by default, integrated into its own delegated subnet, that is public only as an explicit opt-in with
authorized IP ranges; the OIDC issuer and workload identity on; Azure CNI overlay powered by Cilium, which enforces
NetworkPolicies; outbound traffic through the network's NAT gateway; KMS v2 encryption of etcd Secrets with a
rotating Key Vault key reached over private link; the control-plane audit log (``kube-audit-admin``, ``guard``) in
the stack's Log Analytics workspace; the Standard tier (financially backed API server SLA) unless set to Free.

Pools: a system pool tainted ``CriticalAddonsOnly`` (only AKS's own add-ons run there), a user CPU pool that runs on
Spot by default (evicted nodes are deleted; AKS taints them ``kubernetes.azure.com/scalesetpriority=spot``, which
the platform's workloads tolerate through the contract), and an optional GPU pool (an NC/ND VM size, AKS installs
the NVIDIA driver, taint ``nvidia.com/gpu=true:NoSchedule``, label ``nvidia.com/gpu.present=true``). Every pool
autoscales within its bounds, encrypts at host, gets no public IPs, and leaves its node count to the autoscaler
after creation. Every pool is its own AgentPool, the system pool included: AKS creates the cluster with the system
pool inline but never updates that inline profile, so its AgentPool of the same name carries later changes. The cluster autoscaler profile is the knob that Karpenter is on AWS.

Outputs a kubeconfig that authenticates with ``kubelogin`` (the cluster's user credentials carry no secret; local
accounts are off) and a ``pulumi_kubernetes.Provider`` built from it.

What it deliberately does not: install anything inside the cluster (the Kubernetes layer does), or expose the API
server to the internet by default. Encryption at host needs the subscription feature ``EncryptionAtHost``
registered once (``az feature register --namespace Microsoft.Compute --name EncryptionAtHost``).
"""

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.containerservice as containerservice
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.monitor as monitor
import pulumi_kubernetes as k8s
import yaml
from pulumi import Input

from .key_vault import encryption_key
from .roles import assign_role
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

SUPPORTED_VERSIONS = ("1.35", "1.36")
"""Kubernetes minor versions in AKS standard support on 2026-12-01 (AKS Kubernetes release calendar, checked
2026-12-01: 1.34 leaves it in November 2026; upstream supports 1.35 to 2027-02-28). Confirm for a region with
``az aks get-versions --location <region>``."""
DEFAULT_VERSION = "1.36"
UPGRADE_CHANNELS = ("patch", "stable", "rapid", "node-image", "none")
NODE_OS_UPGRADE_CHANNELS = ("NodeImage", "SecurityPatch", "Unmanaged", "None")
SKU_TIERS = ("Free", "Standard", "Premium")
KUBELOGIN_LOGINS = ("azurecli", "workloadidentity", "msi", "azd", "spn")
"""``kubelogin get-token --login`` modes that need no interaction (devicecode and interactive do)."""
EXPANDERS = ("least-waste", "random", "most-pods", "priority")
AUDIT_LOG_CATEGORIES = ("kube-audit-admin", "guard")
"""Every request that changes the cluster, and every Entra sign-in decision; ``kube-audit`` (reads too) is a
larger, costlier superset."""
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""The Entra application behind every AKS API server: the audience ``kubelogin`` requests tokens for."""
POOL_LABEL = "mlops.io/pool"
SYSTEM_POOL_TAINT = "CriticalAddonsOnly=true:NoSchedule"
"""Keeps everything but AKS's critical add-ons off the system pool."""
SPOT_TAINT = NodeTaint(key="kubernetes.azure.com/scalesetpriority", value="spot", effect="NoSchedule")
"""The taint AKS puts on every Spot node (it cannot be left out): the platform's workloads tolerate it."""
GPU_TAINT = NodeTaint(key="nvidia.com/gpu", value="true", effect="NoSchedule")
"""The taint of every GPU node, so only pods that ask for a GPU land on one."""
GPU_NODE_LABELS: Mapping[str, str] = {"nvidia.com/gpu.present": "true"}
"""Labels every GPU node carries: what GPU pods and the GPU daemons select on."""
SERVICE_CIDR = "172.16.0.0/16"
DNS_SERVICE_IP = "172.16.0.10"
POD_CIDR = "192.168.0.0/16"
"""Overlay ranges: pods and services never take VNet addresses, so they must not overlap it (VNets use 10.x)."""
_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{0,61}[A-Za-z0-9]"
_VM_SIZE = r"Standard_[A-Za-z0-9_]+"
_GPU_VM_SIZE = r"Standard_N[CDV][A-Za-z0-9_]+"
_OBJECT_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_POOL_KEYS = frozenset({"vm_size", "min_size", "max_size", "desired_size", "disk_size_gib", "capacity_type",
                        "spot_max_price"})
_POOL_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "system_pool": {"vm_size": "Standard_D4ds_v5", "min_size": 2, "max_size": 3, "disk_size_gib": 64,
                    "capacity_type": "on_demand"},
    "cpu_pool": {"vm_size": "Standard_D4ds_v5", "min_size": 0, "max_size": 10, "disk_size_gib": 128,
                 "capacity_type": "spot"},
    "gpu_pool": {"vm_size": "Standard_NC4as_T4_v3", "min_size": 0, "max_size": 2, "disk_size_gib": 256,
                 "capacity_type": "on_demand"},
}
_AUTOSCALER_KEYS = frozenset({"expander", "scale_down_unneeded_minutes", "scale_down_delay_after_add_minutes",
                              "max_node_provision_minutes", "balance_similar_node_groups"})
_CONFIG_KEYS = frozenset({"name", "kubernetes_version", "upgrade_channel", "node_os_upgrade_channel", "sku_tier",
                          "admin_principal_ids", "public_endpoint", "public_access_cidrs", "zone_count",
                          "kubelogin_login", "autoscaler", *_POOL_DEFAULTS})
_WIRING_KEYS = frozenset({"resource_group_name", "location", "node_subnet_id", "api_server_subnet_id",
                          "log_workspace_id"})


class AzureNodePoolArgs(TypedDict):
    """One AKS node pool. Sizes are bounds for the autoscaler; the desired size is only the starting point."""

    vm_size: NotRequired[str]
    """The VM size (``Standard_D4ds_v5``; for the GPU pool an NC/ND size such as ``Standard_NC4as_T4_v3``)."""
    min_size: NotRequired[int]
    max_size: NotRequired[int]
    desired_size: NotRequired[int]
    """Initial node count (default min_size, at least 1 for the system pool); ignored after creation."""
    disk_size_gib: NotRequired[int]
    """OS disk size, 30-2048 GiB."""
    capacity_type: NotRequired[str]
    """``on_demand`` or ``spot``; the system pool is always on-demand."""
    spot_max_price: NotRequired[float]
    """Spot only: the most to pay per VM-hour in US dollars, or -1 (default) for up to the on-demand price (nodes
    are then evicted for capacity only, never for price)."""


NodePoolArgs = AzureNodePoolArgs
"""The name the three clouds share in Python; the schema of other languages needs one name per cloud."""


class AutoscalerProfileArgs(TypedDict):
    """The cluster autoscaler's behaviour for every pool (the role Karpenter plays on AWS)."""

    expander: NotRequired[str]
    """Which pool grows first: ``least-waste`` (default), ``random``, ``most-pods`` or ``priority``."""
    scale_down_unneeded_minutes: NotRequired[int]
    """Minutes a node must be unneeded before it is removed, 1-1440 (default 10)."""
    scale_down_delay_after_add_minutes: NotRequired[int]
    """Minutes after a scale-up before scale-down resumes, 0-1440 (default 10)."""
    max_node_provision_minutes: NotRequired[int]
    """Minutes to wait for a node before trying another pool, 1-60 (default 15)."""
    balance_similar_node_groups: NotRequired[bool]
    """Keep pools of the same VM size balanced across zones (default true)."""


class ClusterArgs(TypedDict):
    """Inputs of a cluster. The name and the network wiring are required; the rest have safe defaults."""

    name: str
    """The AKS cluster name (fixed for the cluster's life)."""
    resource_group_name: Input[str]
    location: str
    node_subnet_id: Input[str]
    """The subnet the nodes live in (pods take overlay addresses)."""
    api_server_subnet_id: Input[str]
    """A subnet delegated to ``Microsoft.ContainerService/managedClusters`` for the API server."""
    log_workspace_id: Input[str]
    """The Log Analytics workspace the audit log goes to."""
    kubernetes_version: NotRequired[str]
    """One of ``SUPPORTED_VERSIONS`` (default ``DEFAULT_VERSION``); patch versions follow the upgrade channel."""
    upgrade_channel: NotRequired[str]
    """Automatic cluster upgrades: ``patch`` (default), ``stable``, ``rapid``, ``node-image`` or ``none``."""
    node_os_upgrade_channel: NotRequired[str]
    """Automatic node OS updates: ``NodeImage`` (default), ``SecurityPatch``, ``Unmanaged`` or ``None``."""
    sku_tier: NotRequired[str]
    """``Standard`` (default: an API server SLA), ``Premium`` (long-term support) or ``Free`` (no SLA; dev)."""
    admin_principal_ids: NotRequired[list[str]]
    """Entra object ids (users, groups, service principals) that get cluster admin through Azure RBAC. Absent or
    empty: the principal running Pulumi, so the platform's Kubernetes resources can be applied."""
    public_endpoint: NotRequired[bool]
    """Opt-out: a public API server, reachable from ``public_access_cidrs`` only (default false: private)."""
    public_access_cidrs: NotRequired[list[str]]
    """Authorized IP ranges of the public API server; required with ``public_endpoint``; 0.0.0.0/0 is refused."""
    zone_count: NotRequired[int]
    """Availability zones the pools spread over: 1-3 (default 3), or 0 in a region without zones."""
    kubelogin_login: NotRequired[str]
    """How the kubeconfig's ``kubelogin`` signs in: ``azurecli`` (default), ``workloadidentity`` (CI), ``msi``,
    ``azd`` or ``spn``."""
    autoscaler: NotRequired[AutoscalerProfileArgs]
    system_pool: NotRequired[NodePoolArgs]
    cpu_pool: NotRequired[NodePoolArgs]
    gpu_pool: NotRequired[NodePoolArgs | None]
    """Absent or null: no GPU pool."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class NodePoolSettings:
    role: str
    vm_size: str
    min_size: int
    max_size: int
    desired_size: int
    disk_size_gib: int
    spot: bool
    spot_max_price: float


@dataclass(frozen=True)
class ClusterSettings:
    name: str
    kubernetes_version: str
    upgrade_channel: str
    node_os_upgrade_channel: str
    sku_tier: str
    admin_principal_ids: tuple[str, ...]
    public_endpoint: bool
    public_access_cidrs: tuple[str, ...]
    zones: tuple[str, ...]
    kubelogin_login: str
    autoscaler: Mapping[str, str]
    pools: tuple[NodePoolSettings, ...]
    resource_group_name: Any = None
    location: str | None = None
    node_subnet_id: Any = None
    api_server_subnet_id: Any = None
    log_workspace_id: Any = None


def _choice(args: Mapping[str, Any], key: str, field: str, default: str, allowed: tuple[str, ...]) -> str:
    value = args.get(key, default)
    if value not in allowed:
        raise ArgumentError(f"{field_path(field, key)}: {value!r} is not allowed; use one of {', '.join(allowed)}")
    return value


def validate_cluster_args(args: Mapping[str, Any], field: str = "cluster", *, wiring: bool = True) -> ClusterSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are checked."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    name = args.get("name")
    if not isinstance(name, str) or not re.fullmatch(_NAME, name):
        raise ArgumentError(f"{field_path(field, 'name')}: {name!r} is not allowed; use 2 to 63 letters, digits, '-' "
                            f"or '_', starting and ending with a letter or digit")
    if wiring:
        require_wired(args, sorted(_WIRING_KEYS), field)
    version = args.get("kubernetes_version", DEFAULT_VERSION)
    if version not in SUPPORTED_VERSIONS:
        raise ArgumentError(f"{field_path(field, 'kubernetes_version')}: {version!r} is not allowed; use one of "
                            f"{', '.join(SUPPORTED_VERSIONS)} (quoted, as a string)")
    admins = args.get("admin_principal_ids", ())
    if not isinstance(admins, (list, tuple)) or not all(isinstance(a, str) and re.fullmatch(_OBJECT_ID, a)
                                                         for a in admins):
        raise ArgumentError(f"{field_path(field, 'admin_principal_ids')}: {admins!r} is not allowed; use a list of "
                            f"Entra object ids (lowercase GUIDs)")
    public = optional_bool(args, "public_endpoint", field, False)
    zone_count = optional_int(args, "zone_count", field, 3, 0, 3)
    pools = validate_pools(args, field, _pool)
    return ClusterSettings(
        name=name,
        kubernetes_version=version,
        upgrade_channel=_choice(args, "upgrade_channel", field, "patch", UPGRADE_CHANNELS),
        node_os_upgrade_channel=_choice(args, "node_os_upgrade_channel", field, "NodeImage", NODE_OS_UPGRADE_CHANNELS),
        sku_tier=_choice(args, "sku_tier", field, "Standard", SKU_TIERS),
        admin_principal_ids=tuple(admins),
        public_endpoint=public,
        public_access_cidrs=public_access_cidrs(args.get("public_access_cidrs"), public,
                                                field_path(field, "public_access_cidrs"), "the API server is private"),
        zones=tuple(str(zone) for zone in range(1, zone_count + 1)),
        kubelogin_login=_choice(args, "kubelogin_login", field, "azurecli", KUBELOGIN_LOGINS),
        autoscaler=_autoscaler(args.get("autoscaler"), field_path(field, "autoscaler")),
        pools=pools,
        resource_group_name=args.get("resource_group_name"),
        location=args.get("location"),
        node_subnet_id=args.get("node_subnet_id"),
        api_server_subnet_id=args.get("api_server_subnet_id"),
        log_workspace_id=args.get("log_workspace_id"),
    )


def _autoscaler(args: Any, path: str) -> dict[str, str]:
    args = {} if args is None else args
    reject_unknown_keys(args, _AUTOSCALER_KEYS, path)
    expander = _choice(args, "expander", path, "least-waste", EXPANDERS)
    unneeded = optional_int(args, "scale_down_unneeded_minutes", path, 10, 1, 1440)
    delay = optional_int(args, "scale_down_delay_after_add_minutes", path, 10, 0, 1440)
    provision = optional_int(args, "max_node_provision_minutes", path, 15, 1, 60)
    balance = optional_bool(args, "balance_similar_node_groups", path, True)
    return {"expander": expander, "scale_down_unneeded_time": f"{unneeded}m",
            "scale_down_delay_after_add": f"{delay}m", "max_node_provision_time": f"{provision}m",
            "balance_similar_node_groups": str(balance).lower()}


def _pool(role: str, args: Any, field: str) -> NodePoolSettings:
    path = field_path(field, role)
    args = {} if args is None else args
    reject_unknown_keys(args, _POOL_KEYS, path)
    merged = {**_POOL_DEFAULTS[role], **args}
    size_pattern, size_meaning = ((_GPU_VM_SIZE, "an NC, ND or NV GPU VM size such as Standard_NC4as_T4_v3")
                                  if role == "gpu_pool" else (_VM_SIZE, "a VM size such as Standard_D4ds_v5"))
    vm_size = merged["vm_size"]
    if not isinstance(vm_size, str) or not re.fullmatch(size_pattern, vm_size):
        raise ArgumentError(f"{path}.vm_size: {vm_size!r} is not allowed; use {size_meaning}")
    min_size, max_size, desired = pool_sizes(merged, role, path)
    capacity = capacity_type(merged, role, path)
    price = merged.get("spot_max_price", -1)
    if "spot_max_price" in args and capacity != "spot":
        raise ArgumentError(f"{path}.spot_max_price: {price!r} is not allowed without capacity_type: spot")
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not (price == -1 or 0 < price <= 1000):
        raise ArgumentError(f"{path}.spot_max_price: {price!r} is not allowed; use -1 (up to the on-demand price) or "
                            f"a US dollar price per hour above 0")
    return NodePoolSettings(
        role=role.removesuffix("_pool"),
        vm_size=vm_size,
        min_size=min_size,
        max_size=max_size,
        desired_size=desired,
        disk_size_gib=optional_int(merged, "disk_size_gib", path, 0, 30, 2048),
        spot=capacity == "spot",
        spot_max_price=float(price),
    )


def aks_taint(taint: NodeTaint) -> str:
    """A taint in the AKS API's spelling, ``key=value:Effect``."""
    return f"{taint.key}={taint.value}:{taint.effect}"


def render_kubeconfig(cluster_name: str, server: str, certificate_authority: str, login: str) -> str:
    """A kubeconfig for one cluster whose user gets an Entra token from ``kubelogin`` (no stored credentials)."""
    return exec_kubeconfig(cluster_name, server, certificate_authority, "kubelogin",
                           args=["get-token", "--login", login, "--server-id", AKS_SERVER_APP_ID,
                                 "--environment", "AzurePublicCloud"])


def cluster_of(user_kubeconfig_base64: str) -> tuple[str, str]:
    """The API server URL and CA data of the first cluster in a kubeconfig AKS returned (base64 YAML)."""
    document = yaml.safe_load(base64.b64decode(user_kubeconfig_base64))
    cluster = document["clusters"][0]["cluster"]
    return cluster["server"], cluster["certificate-authority-data"]


def pool_taints(pool: NodePoolSettings) -> tuple[NodeTaint, ...]:
    """The taints of a user pool's nodes: the GPU taint on GPU pools, AKS's Spot taint on Spot pools."""
    return (*((GPU_TAINT,) if pool.role == "gpu" else ()), *((SPOT_TAINT,) if pool.spot else ()))


class Cluster(pulumi.ComponentResource):
    """An AKS cluster with Entra-only access, a private API server, KMS-encrypted Secrets, audit logs, workload
    identity and autoscaled system, CPU and GPU pools."""

    name: pulumi.Output[str]
    id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """A secret: JSON kubeconfig whose user runs ``kubelogin get-token``."""
    provider: k8s.Provider
    oidc_issuer: pulumi.Output[str]
    """``https://<region>.oic.prod-aks.azure.com/<tenant>/<id>/``: the issuer of the cluster's service account
    tokens, which federated credentials trust."""
    control_plane_principal_id: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_cluster_args(args)
        super().__init__("mlops:azure:Cluster", name, None, tagged_options(args.get("tags"), opts, "cluster.tags"))
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        group, location = settings.resource_group_name, settings.location

        identity = managedidentity.UserAssignedIdentity(f"{name}-identity", resource_group_name=group,
                                                        location=location, opts=child)
        secrets = encryption_key(f"{name}-secrets", purpose="etcd-secrets",
                                 vault_name_prefix=f"{settings.name[:10]}-kms-",
                                 resource_group_name=group, location=location, tenant_id=client.tenant_id,
                                 parent=self)

        def control_plane_role(role_name: str, role: str, scope: Input[str]) -> "authorization.RoleAssignment":
            return assign_role(f"{name}-{role_name}", role=role, scope=scope, principal_id=identity.principal_id,
                               subscription_id=client.subscription_id, parent=self)

        # What AKS needs before it exists: its subnets, and its key (plus the vault, to open the private link).
        prerequisites = [
            control_plane_role("node-subnet", "Network Contributor", settings.node_subnet_id),
            control_plane_role("api-server-subnet", "Network Contributor", settings.api_server_subnet_id),
            control_plane_role("kms-key", "Key Vault Crypto User", secrets.key.id),
            control_plane_role("kms-vault", "Key Vault Contributor", secrets.vault_id),
        ]
        system = next(pool for pool in settings.pools if pool.role == "system")
        cluster = containerservice.ManagedCluster(
            f"{name}-aks",
            resource_group_name=group,
            location=location,
            resource_name_=settings.name,
            dns_prefix=settings.name,
            kubernetes_version=settings.kubernetes_version,
            sku=containerservice.ManagedClusterSKUArgs(name="Base", tier=settings.sku_tier),
            support_plan="AKSLongTermSupport" if settings.sku_tier == "Premium" else "KubernetesOfficial",
            identity=containerservice.ManagedClusterIdentityArgs(
                type=containerservice.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[identity.id],
            ),
            enable_rbac=True,
            disable_local_accounts=True,
            aad_profile=containerservice.ManagedClusterAADProfileArgs(managed=True, enable_azure_rbac=True,
                                                                      tenant_id=client.tenant_id),
            api_server_access_profile=containerservice.ManagedClusterAPIServerAccessProfileArgs(
                enable_private_cluster=not settings.public_endpoint,
                authorized_ip_ranges=list(settings.public_access_cidrs) or None,
                enable_vnet_integration=True,
                subnet_id=settings.api_server_subnet_id,
            ),
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True),
                azure_key_vault_kms=containerservice.AzureKeyVaultKmsArgs(
                    enabled=True,
                    key_id=secrets.key.key_uri_with_version,
                    key_vault_network_access=containerservice.KeyVaultNetworkAccessTypes.PRIVATE,
                    key_vault_resource_id=secrets.vault_id,
                ),
                image_cleaner=containerservice.ManagedClusterSecurityProfileImageCleanerArgs(enabled=True,
                                                                                             interval_hours=168),
            ),
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin=containerservice.NetworkPlugin.AZURE,
                network_plugin_mode=containerservice.NetworkPluginMode.OVERLAY,
                network_dataplane=containerservice.NetworkDataplane.CILIUM,
                network_policy=containerservice.NetworkPolicy.CILIUM,
                outbound_type=containerservice.OutboundType.USER_ASSIGNED_NAT_GATEWAY,
                load_balancer_sku="standard",
                pod_cidr=POD_CIDR,
                service_cidr=SERVICE_CIDR,
                dns_service_ip=DNS_SERVICE_IP,
            ),
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=settings.upgrade_channel,
                node_os_upgrade_channel=settings.node_os_upgrade_channel,
            ),
            auto_scaler_profile=containerservice.ManagedClusterPropertiesAutoScalerProfileArgs(**settings.autoscaler),
            # AKS creates a cluster with its system pool inline but never updates the inline profile; the system
            # pool's own AgentPool below, of the same name, takes it over from then on.
            agent_pool_profiles=[containerservice.ManagedClusterAgentPoolProfileArgs(
                name=system.role, mode=containerservice.AgentPoolMode.SYSTEM,
                node_taints=[SYSTEM_POOL_TAINT], **self._pool_shape(system, settings))],
            opts=child.merge(pulumi.ResourceOptions(protect=True, depends_on=prerequisites,
                                                    ignore_changes=["agentPoolProfiles"])),
        )
        monitor.DiagnosticSetting(
            f"{name}-audit-logs",
            resource_uri=cluster.id,
            workspace_id=settings.log_workspace_id,
            log_analytics_destination_type="Dedicated",
            logs=[monitor.DiagnosticsLogSettingsArgs(category=category, enabled=True)
                  for category in AUDIT_LOG_CATEGORIES],
            opts=child,
        )

        pools = [self._agent_pool(name, pool, cluster, settings, child) for pool in settings.pools]
        admins: dict[str, Input[str]] = {str(i): oid for i, oid in enumerate(settings.admin_principal_ids)}
        if not admins:
            admins["deployer"] = client.object_id
        admin_roles = [assign_role(f"{name}-admin-{index}", role="Azure Kubernetes Service RBAC Cluster Admin",
                                   scope=cluster.id, principal_id=principal, principal_type=None,
                                   subscription_id=client.subscription_id, parent=self)
                       for index, principal in admins.items()]

        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=group, resource_name=cluster.name, format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self))
        server_and_ca = credentials.kubeconfigs.apply(lambda kubeconfigs: cluster_of(kubeconfigs[0].value))
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(cluster.name, server_and_ca).apply(
            lambda values: render_kubeconfig(values[0], values[1][0], values[1][1], settings.kubelogin_login)))
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=child.merge(pulumi.ResourceOptions(depends_on=[*admin_roles, *pools])),
        )
        self.name = cluster.name
        self.id = cluster.id
        self.endpoint = server_and_ca.apply(lambda values: values[0])
        self.oidc_issuer = cluster.oidc_issuer_profile.apply(lambda profile: profile.issuer_url)
        self.control_plane_principal_id = identity.principal_id
        self.register_outputs({"name": self.name, "id": self.id, "endpoint": self.endpoint,
                               "kubeconfig": self.kubeconfig, "oidc_issuer": self.oidc_issuer,
                               "control_plane_principal_id": self.control_plane_principal_id})

    @staticmethod
    def _pool_shape(pool: NodePoolSettings, settings: ClusterSettings) -> dict[str, Any]:
        """What every pool shares: size bounds, zones, subnet, OS, disk, host encryption, no public IPs."""
        gpu = pool.role == "gpu"
        shape: dict[str, Any] = {
            "vm_size": pool.vm_size,
            "count": pool.desired_size,
            "min_count": pool.min_size,
            "max_count": pool.max_size,
            "enable_auto_scaling": True,
            "availability_zones": list(settings.zones) or None,
            "vnet_subnet_id": settings.node_subnet_id,
            "os_type": containerservice.OSType.LINUX,
            "os_sku": containerservice.OSSKU.AZURE_LINUX,
            "os_disk_size_gb": pool.disk_size_gib,
            "os_disk_type": containerservice.OSDiskType.MANAGED,
            "enable_encryption_at_host": True,
            "enable_node_public_ip": False,
            "orchestrator_version": settings.kubernetes_version,
            "type": containerservice.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
            "node_labels": {POOL_LABEL: pool.role, **(GPU_NODE_LABELS if gpu else {})},
            "upgrade_settings": containerservice.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
        }
        if gpu:
            shape["gpu_profile"] = containerservice.GPUProfileArgs(driver=containerservice.GPUDriver.INSTALL)
        if pool.spot:
            shape.update(scale_set_priority=containerservice.ScaleSetPriority.SPOT,
                         scale_set_eviction_policy=containerservice.ScaleSetEvictionPolicy.DELETE,
                         spot_max_price=pool.spot_max_price)
        return shape

    def _agent_pool(self, name: str, pool: NodePoolSettings, cluster: "containerservice.ManagedCluster",
                    settings: ClusterSettings, child: pulumi.ResourceOptions) -> "containerservice.AgentPool":
        system = pool.role == "system"
        taints = [SYSTEM_POOL_TAINT] if system else [aks_taint(taint) for taint in pool_taints(pool)]
        return containerservice.AgentPool(
            f"{name}-{pool.role}",
            resource_group_name=settings.resource_group_name,
            resource_name_=cluster.name,
            agent_pool_name=pool.role,
            mode=containerservice.AgentPoolMode.SYSTEM if system else containerservice.AgentPoolMode.USER,
            node_taints=taints or None,
            **self._pool_shape(pool, settings),
            opts=child.merge(pulumi.ResourceOptions(ignore_changes=["count"])),
        )
