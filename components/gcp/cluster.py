"""A GKE Standard cluster with a system, a CPU (Spot-capable) and an optional GPU node pool, ready for Workload
Identity.

What it gives: a regional cluster (zonal only as an explicit ``zone`` opt-out for development) on a release channel
with a pinned minimum version; private nodes; a control-plane endpoint that is private unless a public one is
explicitly opted into with an allow-list of CIDRs (master authorized networks); Workload Identity
(``<project>.svc.id.goog``); Dataplane V2, so NetworkPolicies are enforced; Shielded Nodes with secure boot and
integrity monitoring; application-layer Secrets encryption with a Cloud KMS key that rotates every 90 days and is
protected; control-plane logs including the API server; legacy ABAC and client certificates off (GKE removed basic
auth in 1.19, so there is no password to turn off); deletion protection twice (GKE's flag and Pulumi's
``protect``); the Gateway API CRDs (the platform's HTTPRoutes) and the Persistent Disk CSI driver.

Nodes run as a dedicated service account that may write logs and metrics and pull from Artifact Registry, nothing
else, with ``GKE_METADATA`` (pods see only their own Workload Identity, never the node's account). The default node
pool is removed; each pool has autoscaling bounds (``min_size``/``max_size`` for the whole pool, as on AWS) and its
starting size is left to the autoscaler afterwards. GPU pools get the accelerators with the GKE-managed driver
installation (which also runs the NVIDIA device plugin), the ``nvidia.com/gpu=true:NoSchedule`` taint and the
label the endpoints' GPU node selector uses. Node auto-provisioning (with CPU, memory and GPU limits) is the option
that plays Karpenter's role.

Outputs a kubeconfig that authenticates with ``gke-gcloud-auth-plugin`` (no stored credential) and a
``pulumi_kubernetes.Provider`` built from it.

What it deliberately does not: Autopilot, Binary Authorization, or anything inside the cluster (that is the
Kubernetes layer).
"""

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pulumi import Input

from ..cloud_layer import GpuCapacity, NodeTaint
from ..kubeconfig import exec_kubeconfig
from ..node_pools import capacity_type, pool_sizes, validate_pools
from .account_ids import account_id
from .encryption_key import service_encryption_key
from ..tagging import tagged_options
from ..validation import ArgumentError, field_path, optional_bool, optional_int, reject_unknown_keys, require_wired

SUPPORTED_VERSIONS = ("1.35", "1.36")
"""Minor versions in GKE standard support on 2026-12-01 (GKE release schedule, as endoflife.date mirrors it: 1.34's
standard support ended 2026-10-01, 1.35's runs to 2027-04; 1.35.8 is the Regular channel's default since
2026-09). Confirm for a location with ``gcloud container get-server-config --location <region>``."""
DEFAULT_VERSION = "1.35"
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE")
CONTROL_PLANE_LOGS = ("SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER", "WORKLOADS")
GPU_TAINT = NodeTaint(key="nvidia.com/gpu", value="true", effect="NoSchedule")
"""The taint of every GPU node, so only pods that ask for a GPU land on one."""
GPU_NODE_LABELS: Mapping[str, str] = {"nvidia.com/gpu": "true"}
"""Labels every GPU node carries, from the fixed GPU pool or node auto-provisioning alike: the label and the taint
share key and value, which is how GKE's workload separation lets auto-provisioning create a pool with exactly this
label and taint for a pending GPU pod that selects and tolerates them."""
GPU_POOL_LABELS: Mapping[str, str] = {**GPU_NODE_LABELS, "nvidia.com/gpu.present": "true"}
"""The fixed GPU pool's labels: also the one NVIDIA's feature discovery sets, as on the other clouds."""
_GKE_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                      "NoExecute": "NO_EXECUTE"}
POOL_LABEL = "mlops.io/pool"
NODE_ROLES = ("roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader")
"""Writing logs and metrics (GKE's minimal node role) and pulling images from Artifact Registry: nothing else."""
REGIONAL_ZONES = 3
"""Zones a regional cluster spreads each node pool over (GKE's default)."""
_NAME = r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?"
_MACHINE_TYPE = r"[a-z][a-z0-9]*-[a-z0-9-]+"
_ACCELERATOR = r"nvidia-[a-z0-9-]+"
_ZONE = r"[a-z]+-[a-z]+\d+-[a-z]"
_POOL_KEYS = frozenset({"machine_type", "min_size", "max_size", "desired_size", "disk_size_gib", "capacity_type"})
_GPU_KEYS = frozenset({"accelerator_type", "accelerator_count"})
_POOL_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "system_pool": {"machine_type": "e2-standard-4", "min_size": 2, "max_size": 3, "disk_size_gib": 50,
                    "capacity_type": "on_demand"},
    "cpu_pool": {"machine_type": "n2-standard-4", "min_size": 0, "max_size": 10, "disk_size_gib": 100,
                 "capacity_type": "spot"},
    "gpu_pool": {"machine_type": "g2-standard-4", "min_size": 0, "max_size": 2, "disk_size_gib": 200,
                 "capacity_type": "on_demand", "accelerator_type": "nvidia-l4", "accelerator_count": 1},
}
_AUTO_PROVISIONING_KEYS = frozenset({"enabled", "cpu_limit", "memory_limit_gib", "gpu_limit", "gpu_type"})
_CONFIG_KEYS = frozenset({"name", "kubernetes_version", "release_channel", "zone", "public_endpoint",
                          "public_access_cidrs", "control_plane_cidr", "auto_provisioning", *_POOL_DEFAULTS})
_WIRING_KEYS = frozenset({"project", "region", "network_id", "subnet_id", "pods_range_name", "services_range_name",
                          "node_cidr", "instance_labels"})


class GcpNodePoolArgs(TypedDict):
    """One node pool. Sizes are bounds for the whole pool; the desired size is only the starting point."""

    machine_type: NotRequired[str]
    """A Compute Engine machine type (e2-standard-4, n2-standard-4, g2-standard-4 for L4 GPUs)."""
    min_size: NotRequired[int]
    max_size: NotRequired[int]
    desired_size: NotRequired[int]
    """Initial size (default min_size, at least 1 for the system pool); ignored after creation."""
    disk_size_gib: NotRequired[int]
    """Balanced persistent disk size of each node (20-65536)."""
    capacity_type: NotRequired[str]
    """``on_demand`` or ``spot`` (Spot VMs); the system pool is always on-demand."""
    accelerator_type: NotRequired[str]
    """GPU pool only: the accelerator (default nvidia-l4)."""
    accelerator_count: NotRequired[int]
    """GPU pool only: GPUs per node (1-8, default 1)."""


NodePoolArgs = GcpNodePoolArgs
"""The name the three clouds share in Python; the schema of other languages needs one name per cloud."""


class AutoProvisioningArgs(TypedDict):
    """Node auto-provisioning: GKE creates and deletes node pools for pending pods, within these limits."""

    enabled: NotRequired[bool]
    """Default false."""
    cpu_limit: NotRequired[int]
    """Most vCPUs all auto-provisioned and fixed pools may have together (default 100)."""
    memory_limit_gib: NotRequired[int]
    """Most memory, in GiB (default 4 x cpu_limit)."""
    gpu_limit: NotRequired[int]
    """Most GPUs of ``gpu_type`` (default 0: no GPU pools are auto-provisioned)."""
    gpu_type: NotRequired[str]
    """The accelerator auto-provisioning may use (default nvidia-l4)."""


class ClusterArgs(TypedDict):
    """Inputs of a cluster. The name and the network wiring are required; the rest have safe defaults."""

    name: str
    """The GKE cluster name (fixed for the cluster's life; 1-40 lowercase letters, digits, '-')."""
    project: Input[str]
    """The project that owns the cluster; Workload Identity uses its pool ``<project>.svc.id.goog``."""
    region: str
    """The cluster's region (regional clusters) and the KMS key's location."""
    network_id: Input[str]
    subnet_id: Input[str]
    pods_range_name: Input[str]
    services_range_name: Input[str]
    node_cidr: NotRequired[str]
    """The node subnet's range: allowed to reach a private control plane."""
    kubernetes_version: NotRequired[str]
    """One of ``SUPPORTED_VERSIONS`` (default ``DEFAULT_VERSION``): the minimum control-plane version; the release
    channel upgrades patch versions and, in time, minors."""
    release_channel: NotRequired[str]
    """``RAPID``, ``REGULAR`` (default) or ``STABLE``."""
    zone: NotRequired[str]
    """Opt-out for development: a zonal cluster in this zone of the region. Absent: regional (three zones)."""
    public_endpoint: NotRequired[bool]
    """Opt-out: also expose the control plane publicly, to ``public_access_cidrs`` only (default false)."""
    public_access_cidrs: NotRequired[list[str]]
    """Allow-list for the public endpoint; required with ``public_endpoint``, and 0.0.0.0/0 is refused."""
    control_plane_cidr: NotRequired[str]
    """The /28 the control plane's private endpoint uses (default 172.16.0.0/28); must not overlap the network."""
    auto_provisioning: NotRequired[AutoProvisioningArgs]
    system_pool: NotRequired[NodePoolArgs]
    cpu_pool: NotRequired[NodePoolArgs]
    gpu_pool: NotRequired[NodePoolArgs | None]
    """Absent or null: no GPU node pool."""
    instance_labels: NotRequired[Mapping[str, str]]
    """Labels for the node VMs and their disks (the cost tags; node pools take no provider default labels)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class NodePoolSettings:
    role: str
    machine_type: str
    min_size: int
    max_size: int
    desired_size: int
    disk_size_gib: int
    spot: bool
    accelerator_type: str | None = None
    accelerator_count: int = 0


@dataclass(frozen=True)
class AutoProvisioningSettings:
    enabled: bool
    cpu_limit: int
    memory_limit_gib: int
    gpu_limit: int
    gpu_type: str


@dataclass(frozen=True)
class ClusterSettings:
    name: str
    kubernetes_version: str
    release_channel: str
    zone: str | None
    public_endpoint: bool
    public_access_cidrs: tuple[str, ...]
    control_plane_cidr: str
    auto_provisioning: AutoProvisioningSettings
    pools: tuple[NodePoolSettings, ...]
    project: Any = None
    region: str | None = None
    network_id: Any = None
    subnet_id: Any = None
    pods_range_name: Any = None
    services_range_name: Any = None
    node_cidr: str | None = None
    instance_labels: Mapping[str, str] | None = None


def validate_cluster_args(args: Mapping[str, Any], field: str = "cluster", *, wiring: bool = True,
                          region: str | None = None) -> ClusterSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are checked, and
    ``region`` (the platform's) is what ``zone`` must lie in."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    name = args.get("name")
    if not isinstance(name, str) or not re.fullmatch(_NAME, name):
        raise ArgumentError(f"{field_path(field, 'name')}: {name!r} is not allowed; use 1 to 40 lowercase letters, "
                            f"digits and '-', starting with a letter and not ending with '-'")
    if wiring:
        require_wired(args, ("project", "region", "network_id", "subnet_id", "pods_range_name", "services_range_name"),
                      field)
    version = args.get("kubernetes_version", DEFAULT_VERSION)
    if version not in SUPPORTED_VERSIONS:
        raise ArgumentError(f"{field_path(field, 'kubernetes_version')}: {version!r} is not allowed; use one of "
                            f"{', '.join(SUPPORTED_VERSIONS)} (quoted, as a string)")
    channel = args.get("release_channel", "REGULAR")
    if channel not in RELEASE_CHANNELS:
        raise ArgumentError(f"{field_path(field, 'release_channel')}: {channel!r} is not allowed; use one of "
                            f"{', '.join(RELEASE_CHANNELS)}")
    zone = args.get("zone")
    region = args.get("region", region)
    if zone is not None and (not isinstance(zone, str) or not re.fullmatch(_ZONE, zone)
                             or (isinstance(region, str) and not zone.startswith(f"{region}-"))):
        where = f" of {region}" if isinstance(region, str) else ""
        raise ArgumentError(f"{field_path(field, 'zone')}: {zone!r} is not allowed; use a zone{where} such as "
                            f"{region or 'europe-west1'}-b, or leave it out for a regional cluster")
    public = optional_bool(args, "public_endpoint", field, False)
    cidrs = _public_access_cidrs(args.get("public_access_cidrs"), public, field)
    control_plane = _control_plane_cidr(args.get("control_plane_cidr", "172.16.0.0/28"),
                                        field_path(field, "control_plane_cidr"))
    pools = validate_pools(args, field, _pool)
    labels = args.get("instance_labels")
    return ClusterSettings(
        name=name,
        kubernetes_version=version,
        release_channel=channel,
        zone=zone,
        public_endpoint=public,
        public_access_cidrs=cidrs,
        control_plane_cidr=control_plane,
        auto_provisioning=_auto_provisioning(args.get("auto_provisioning"), field_path(field, "auto_provisioning")),
        pools=pools,
        project=args.get("project"),
        region=region,
        network_id=args.get("network_id"),
        subnet_id=args.get("subnet_id"),
        pods_range_name=args.get("pods_range_name"),
        services_range_name=args.get("services_range_name"),
        node_cidr=args.get("node_cidr"),
        instance_labels=dict(labels) if labels else None,
    )


def _public_access_cidrs(cidrs: Any, public: bool, field: str) -> tuple[str, ...]:
    path = field_path(field, "public_access_cidrs")
    if not public:
        if cidrs:
            raise ArgumentError(
                f"{path}: {cidrs!r} is not allowed without public_endpoint: true; the endpoint is private by default"
            )
        return ()
    allowed = "a non-empty list of IPv4 CIDRs narrower than 0.0.0.0/0, such as 203.0.113.0/24"
    if not isinstance(cidrs, (list, tuple)) or not cidrs:
        raise ArgumentError(f"{path}: {cidrs!r} is not allowed with public_endpoint: true; use {allowed}")
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr)
        except (ValueError, TypeError):
            raise ArgumentError(f"{path}: {cidr!r} is not allowed; use {allowed}") from None
        if network.prefixlen == 0:
            raise ArgumentError(f"{path}: {cidr!r} is not allowed; use {allowed}")
    return tuple(cidrs)


def _control_plane_cidr(cidr: Any, field: str) -> str:
    allowed = "a private IPv4 /28 such as 172.16.0.0/28"
    try:
        network = ipaddress.IPv4Network(cidr)
    except (ValueError, TypeError):
        raise ArgumentError(f"{field}: {cidr!r} is not allowed; use {allowed}") from None
    if not network.is_private or network.prefixlen != 28:
        raise ArgumentError(f"{field}: {cidr!r} is not allowed; use {allowed}")
    return str(network)


def _pool(role: str, args: Any, field: str) -> NodePoolSettings:
    path = field_path(field, role)
    args = {} if args is None else args
    reject_unknown_keys(args, _POOL_KEYS | (_GPU_KEYS if role == "gpu_pool" else frozenset()), path)
    merged = {**_POOL_DEFAULTS[role], **args}
    machine = merged["machine_type"]
    if not isinstance(machine, str) or not re.fullmatch(_MACHINE_TYPE, machine):
        raise ArgumentError(f"{path}.machine_type: {machine!r} is not allowed; use a Compute Engine machine type "
                            f"such as n2-standard-4")
    min_size, max_size, desired = pool_sizes(merged, role, path)
    capacity = capacity_type(merged, role, path)
    accelerator, count = None, 0
    if role == "gpu_pool":
        accelerator = merged["accelerator_type"]
        if not isinstance(accelerator, str) or not re.fullmatch(_ACCELERATOR, accelerator):
            raise ArgumentError(f"{path}.accelerator_type: {accelerator!r} is not allowed; use a GKE accelerator "
                                f"type such as nvidia-l4 or nvidia-tesla-t4")
        count = optional_int(merged, "accelerator_count", path, 1, 1, 8)
    return NodePoolSettings(
        role=role.removesuffix("_pool"),
        machine_type=machine,
        min_size=min_size,
        max_size=max_size,
        desired_size=desired,
        disk_size_gib=optional_int(merged, "disk_size_gib", path, 0, 20, 65536),
        spot=capacity == "spot",
        accelerator_type=accelerator,
        accelerator_count=count,
    )


def _auto_provisioning(args: Any, field: str) -> AutoProvisioningSettings:
    args = {} if args is None else args
    reject_unknown_keys(args, _AUTO_PROVISIONING_KEYS, field)
    cpu = optional_int(args, "cpu_limit", field, 100, 1, 100000)
    gpu_type = args.get("gpu_type", "nvidia-l4")
    if not isinstance(gpu_type, str) or not re.fullmatch(_ACCELERATOR, gpu_type):
        raise ArgumentError(f"{field}.gpu_type: {gpu_type!r} is not allowed; use a GKE accelerator type such as "
                            f"nvidia-l4")
    return AutoProvisioningSettings(
        enabled=optional_bool(args, "enabled", field, False),
        cpu_limit=cpu,
        memory_limit_gib=optional_int(args, "memory_limit_gib", field, 4 * cpu, 1, 1000000),
        gpu_limit=optional_int(args, "gpu_limit", field, 0, 0, 10000),
        gpu_type=gpu_type,
    )


def workload_pool(project: str) -> str:
    """The Workload Identity pool of a project's GKE clusters."""
    return f"{project}.svc.id.goog"


def oidc_issuer(project: str, location: str, cluster_name: str) -> str:
    """The issuer of a GKE cluster's service account tokens."""
    return f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{cluster_name}"


def render_kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str) -> str:
    """A kubeconfig for one cluster whose user authenticates with ``gke-gcloud-auth-plugin`` (no stored
    credentials)."""
    return exec_kubeconfig(cluster_name, endpoint, certificate_authority, "gke-gcloud-auth-plugin", extra={
        "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
        "provideClusterInfo": True})


class Cluster(pulumi.ComponentResource):
    """A private GKE Standard cluster with Workload Identity, Dataplane V2, KMS-encrypted Secrets and node pools."""

    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    """``https://<control-plane IP>``."""
    kubeconfig: pulumi.Output[str]
    """A secret: JSON kubeconfig whose user runs ``gke-gcloud-auth-plugin``."""
    provider: k8s.Provider
    oidc_issuer: pulumi.Output[str]
    """``https://container.googleapis.com/v1/projects/<project>/locations/<location>/clusters/<name>``."""
    workload_pool: pulumi.Output[str]
    """``<project>.svc.id.goog``: the identity namespace of the cluster's Kubernetes service accounts."""
    location: pulumi.Output[str]
    node_service_account: pulumi.Output[str]
    """The email of the nodes' service account."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_cluster_args(args)
        super().__init__("mlops:gcp:Cluster", name, None, tagged_options(args.get("tags"), opts, "cluster.tags"))
        child = pulumi.ResourceOptions(parent=self)
        stateful = child.merge(pulumi.ResourceOptions(protect=True))
        project = pulumi.Output.from_input(settings.project)
        project_number = gcp.organizations.get_project_output(
            project_id=project, opts=pulumi.InvokeOutputOptions(parent=self)).number

        secrets_key = service_encryption_key(
            f"{name}-secrets-key", parent=self, location=settings.region, project=project,
            agent_member=project_number.apply(
                lambda number: f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com"),
        )

        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=account_id(settings.name, "nodes"),
            display_name=f"Nodes of GKE cluster {settings.name}",
            description="Writes logs and metrics and pulls images; workloads use their own Workload Identity",
            project=project,
            opts=child,
        )
        node_roles = [
            gcp.projects.IAMMember(f"{name}-nodes-{role.split('/')[1].split('.')[0]}", project=project, role=role,
                                   member=node_account.member, opts=child)
            for role in NODE_ROLES
        ]

        location = settings.zone or settings.region
        shielded = gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True)
        authorized = [*([settings.node_cidr] if settings.node_cidr else []), *settings.public_access_cidrs]
        cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=settings.name,
            project=project,
            location=location,
            network=settings.network_id,
            subnetwork=settings.subnet_id,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=settings.pods_range_name,
                services_secondary_range_name=settings.services_range_name,
            ),
            min_master_version=settings.kubernetes_version,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=settings.release_channel),
            remove_default_node_pool=True,
            initial_node_count=1,
            # The default pool exists for a moment before it is removed: even then, the dedicated account and the
            # GKE metadata server, never the Compute Engine default account.
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_account.email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True),
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=not settings.public_endpoint,
                master_ipv4_cidr_block=settings.control_plane_cidr,
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                    cidr_block=cidr, display_name="nodes" if cidr == settings.node_cidr else "allow-listed")
                    for cidr in authorized],
                gcp_public_cidrs_access_enabled=False,
            ),
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=project.apply(workload_pool)),
            datapath_provider="ADVANCED_DATAPATH",
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            master_auth=gcp.container.ClusterMasterAuthArgs(
                client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False)),
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(state="ENCRYPTED",
                                                                             key_name=secrets_key.key.id),
            logging_config=gcp.container.ClusterLoggingConfigArgs(enable_components=list(CONTROL_PLANE_LOGS)),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS"],
                # The platform runs its own Prometheus; Google's managed collection would bill for the same series.
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=False),
            ),
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                http_load_balancing=gcp.container.ClusterAddonsConfigHttpLoadBalancingArgs(disabled=False),
                gce_persistent_disk_csi_driver_config=gcp.container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(
                    enabled=True),
            ),
            gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
            cluster_autoscaling=self._auto_provisioning(settings.auto_provisioning, node_account, shielded),
            deletion_protection=True,
            opts=stateful.merge(pulumi.ResourceOptions(depends_on=[secrets_key.grant, *node_roles],
                                                       ignore_changes=["nodeConfig", "initialNodeCount"])),
        )

        pools = [self._node_pool(name, pool, cluster, node_account, settings, child) for pool in settings.pools]

        endpoint = cluster.endpoint.apply(lambda address: f"https://{address}")
        kubeconfig = pulumi.Output.all(cluster.name, endpoint, cluster.master_auth.cluster_ca_certificate).apply(
            lambda values: render_kubeconfig(values[0], values[1], values[2] or "")
        )
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=child.merge(pulumi.ResourceOptions(depends_on=pools)),
        )
        self.name = cluster.name
        self.endpoint = endpoint
        self.location = cluster.location
        self.workload_pool = project.apply(workload_pool)
        self.oidc_issuer = pulumi.Output.all(project, cluster.location, cluster.name).apply(
            lambda values: oidc_issuer(values[0], values[1], values[2]))
        self.node_service_account = node_account.email
        self.register_outputs({"name": self.name, "endpoint": self.endpoint, "kubeconfig": self.kubeconfig,
                               "oidc_issuer": self.oidc_issuer, "workload_pool": self.workload_pool,
                               "location": self.location, "node_service_account": self.node_service_account})

    @staticmethod
    def _auto_provisioning(settings: AutoProvisioningSettings, node_account: gcp.serviceaccount.Account,
                           shielded: Any) -> gcp.container.ClusterClusterAutoscalingArgs:
        """Node auto-provisioning within the limits, its pools hardened like the fixed ones; off unless enabled."""
        if not settings.enabled:
            return gcp.container.ClusterClusterAutoscalingArgs(enabled=False)
        limits = [
            gcp.container.ClusterClusterAutoscalingResourceLimitArgs(resource_type="cpu", minimum=0,
                                                                     maximum=settings.cpu_limit),
            gcp.container.ClusterClusterAutoscalingResourceLimitArgs(resource_type="memory", minimum=0,
                                                                     maximum=settings.memory_limit_gib),
        ]
        if settings.gpu_limit:
            limits.append(gcp.container.ClusterClusterAutoscalingResourceLimitArgs(
                resource_type=settings.gpu_type, minimum=0, maximum=settings.gpu_limit))
        return gcp.container.ClusterClusterAutoscalingArgs(
            enabled=True,
            autoscaling_profile="OPTIMIZE_UTILIZATION",
            resource_limits=limits,
            auto_provisioning_defaults=gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsArgs(
                service_account=node_account.email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                disk_type="pd-balanced",
                image_type="COS_CONTAINERD",
                shielded_instance_config=shielded,
                management=gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsManagementArgs(
                    auto_repair=True, auto_upgrade=True),
            ),
        )

    def _node_pool(self, name: str, pool: NodePoolSettings, cluster: gcp.container.Cluster,
                   node_account: gcp.serviceaccount.Account, settings: ClusterSettings,
                   child: pulumi.ResourceOptions) -> gcp.container.NodePool:
        gpu = pool.accelerator_type is not None
        zones = 1 if settings.zone else REGIONAL_ZONES
        accelerators = [gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
            type=pool.accelerator_type,
            count=pool.accelerator_count,
            # GKE installs the driver and runs the NVIDIA device plugin itself.
            gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                gpu_driver_version="DEFAULT"),
        )] if gpu else None
        return gcp.container.NodePool(
            f"{name}-{pool.role}",
            cluster=cluster.id,
            location=cluster.location,
            # The pool's starting size per zone; afterwards the autoscaler owns the node count.
            initial_node_count=math.ceil(pool.desired_size / zones),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=pool.min_size,
                total_max_node_count=pool.max_size,
                location_policy="ANY" if pool.spot else "BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(strategy="SURGE", max_surge=1,
                                                                       max_unavailable=0),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=pool.machine_type,
                disk_size_gb=pool.disk_size_gib,
                disk_type="pd-balanced",
                image_type="COS_CONTAINERD",
                spot=pool.spot,
                service_account=node_account.email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True),
                metadata={"disable-legacy-endpoints": "true"},
                labels={POOL_LABEL: pool.role, **(GPU_POOL_LABELS if gpu else {})},
                taints=[gcp.container.NodePoolNodeConfigTaintArgs(
                    key=GPU_TAINT.key, value=GPU_TAINT.value, effect=_GKE_TAINT_EFFECTS[GPU_TAINT.effect])]
                if gpu else None,
                guest_accelerators=accelerators,
                resource_labels=dict(settings.instance_labels) if settings.instance_labels else None,
            ),
            opts=child.merge(pulumi.ResourceOptions(ignore_changes=["initialNodeCount", "nodeCount"])),
        )


def gpu_capacity(settings: ClusterSettings) -> GpuCapacity | None:
    """The cluster's GPU nodes for the contract: from the fixed GPU pool and/or node auto-provisioning with a GPU
    limit; None without either. GKE's managed driver installation runs the NVIDIA device plugin itself."""
    has_pool = any(pool.accelerator_type for pool in settings.pools)
    auto = settings.auto_provisioning
    if not has_pool and not (auto.enabled and auto.gpu_limit):
        return None
    return GpuCapacity(node_labels=dict(GPU_NODE_LABELS), taints=(GPU_TAINT,), managed_device_plugin=True)
