"""The cloud-layer contract (DESIGN.md): what any cloud layer hands to the cloud-neutral Kubernetes layer.

Each cloud (``components/aws``, and ``gcp``/``azure``/``local`` as they land) builds its five blocks (Network,
Cluster, ArtifactStore, Database, WorkloadIdentity) and returns a :class:`CloudLayer`; ``components/kubernetes`` and
``components/platform.py`` read only this, never which cloud they are on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class DatabaseEndpoint:
    """How to reach the platform's PostgreSQL database."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    username: pulumi.Output[str]
    connection_uri: pulumi.Output[str]
    """``postgresql://user:password@host:port/database?sslmode=...``, always a Pulumi secret."""


@dataclass(frozen=True)
class ServiceAccountIdentity:
    """What to put on one Kubernetes ServiceAccount so its pods get cloud credentials without keys."""

    annotations: pulumi.Output[Mapping[str, str]]
    labels: pulumi.Output[Mapping[str, str]]


@dataclass(frozen=True)
class EgressTarget:
    """Where the platform's pods must be allowed to connect (NetworkPolicy egress): by IP range for a managed
    service outside the cluster, or by namespace and pod labels for a service inside it."""

    ports: tuple[int, ...]
    """TCP ports of the service."""
    cidrs: pulumi.Input[Sequence[str]] = ("0.0.0.0/0",)
    """IP ranges of the service (ignored when ``namespace`` is set). The default, anywhere, suits endpoints with no
    stable range (S3, GCS, Azure Blob); a cloud narrows it where it can (its private subnets for the database)."""
    namespace: str | None = None
    """In-cluster service: the namespace it runs in."""
    pod_labels: Mapping[str, str] | None = None
    """In-cluster service: the labels of its pods."""


GPU_RESOURCE = "nvidia.com/gpu"
"""The extended resource the NVIDIA device plugin advertises and GPU pods request."""
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class NodeTaint:
    """A taint in Kubernetes' spelling (``effect`` one of ``TAINT_EFFECTS``), whatever the cloud API calls it."""

    key: str
    value: str
    effect: str = "NoSchedule"


@dataclass(frozen=True)
class GpuCapacity:
    """NVIDIA GPU nodes the cloud layer provides, from any of its pools (node groups, node pools, an autoscaler's
    NodePools). Every GPU node, whichever pool launched it, carries all of ``node_labels`` and all of ``taints``;
    the Kubernetes layer places GPU pods with exactly these, runs the GPU daemons (device plugin, DCGM exporter) on
    these nodes only, and lets no other pod tolerate the taints."""

    node_labels: Mapping[str, str]
    """Labels every GPU node carries (non-empty): GPU pods and the GPU daemons select on all of them."""
    taints: tuple[NodeTaint, ...] = ()
    """Taints every GPU node carries, so CPU pods stay off GPU capacity; GPU pods and the GPU daemons tolerate them."""
    managed_device_plugin: bool = False
    """True when the cloud already runs the NVIDIA device plugin on its GPU nodes (GKE does with its default driver
    installation); the Kubernetes layer then does not install another one. The DCGM exporter runs either way."""

    def __post_init__(self) -> None:
        if not self.node_labels:
            raise ValueError("GpuCapacity.node_labels: empty is not allowed; name at least one label every GPU node "
                             "carries")
        for taint in self.taints:
            if taint.effect not in TAINT_EFFECTS:
                raise ValueError(f"GpuCapacity.taints: effect {taint.effect!r} is not allowed; use one of "
                                 f"{', '.join(TAINT_EFFECTS)}")


class IdentityFactory(Protocol):
    """Makes a workload identity bound to exactly one ServiceAccount, with access to the layer's artifact store only.
    ``name`` names the cloud resources it creates; ``read_only`` limits the access to reading (model servers)."""

    def __call__(self, name: str, namespace: str, service_account: str, *,
                 read_only: bool = False) -> ServiceAccountIdentity: ...


@dataclass(frozen=True)
class CloudLayer:
    """The outputs every cloud layer provides."""

    cluster_name: pulumi.Output[str]
    kubernetes_provider: k8s.Provider
    """A ready provider for the cluster; every Kubernetes resource of the platform uses it."""
    artifact_uri: pulumi.Output[str]
    """``s3://``, ``gs://`` or ``wasbs://`` URI of the artifact store."""
    artifact_pod_env: pulumi.Output[Mapping[str, str]]
    """Environment a pod needs, besides its workload identity, to reach the artifact store."""
    database: DatabaseEndpoint
    workload_identity: IdentityFactory
    database_egress: EgressTarget = field(default_factory=lambda: EgressTarget(ports=(5432,)))
    """Where the database listens, for NetworkPolicy egress (added for issue 4; default: PostgreSQL anywhere)."""
    storage_egress: EgressTarget = field(default_factory=lambda: EgressTarget(ports=(443,)))
    """Where the artifact store listens, for NetworkPolicy egress (added for issue 4; default: HTTPS anywhere)."""
    artifact_secret_env: pulumi.Output[Mapping[str, str]] | None = None
    """Secret environment a pod needs to reach the artifact store when the store has no workload identity (the
    ``local`` target's access keys); rendered into a Kubernetes Secret, never into a pod spec. None on clouds."""
    cluster_endpoint: pulumi.Output[str] | None = None
    """The Kubernetes API URL (added for issue 3; None when the layer does not create the cluster)."""
    kubeconfig: pulumi.Output[str] | None = None
    """A kubeconfig for the cluster, always a Pulumi secret (added for issue 3; None when the layer does not create
    the cluster)."""
    oidc_issuer: pulumi.Output[str] | None = None
    """The cluster's OIDC issuer URL, ``https://...`` (added for issue 3; None without workload identity)."""
    artifact_name: pulumi.Output[str] | None = None
    """The bucket / container name of the artifact store (added for issue 3)."""
    gpu: GpuCapacity | None = None
    """The cluster's GPU capacity; None when it has none (GPU endpoints are then refused). When set, the Kubernetes
    layer installs the NVIDIA device plugin (unless the cloud manages it) and the DCGM exporter on the GPU nodes."""
