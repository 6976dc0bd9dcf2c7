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
