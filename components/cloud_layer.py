"""The cloud-layer contract (DESIGN.md): what any cloud layer hands to the cloud-neutral Kubernetes layer.

Each cloud (``components/aws``, and ``gcp``/``azure``/``local`` as they land) builds its five blocks (Network,
Cluster, ArtifactStore, Database, WorkloadIdentity) and returns a :class:`CloudLayer`; ``components/kubernetes`` and
``components/platform.py`` read only this, never which cloud they are on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

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


IdentityFactory = Callable[[str, str, str], ServiceAccountIdentity]
"""``(name, namespace, service_account) -> identity``: a workload identity bound to exactly that ServiceAccount,
with access to the layer's artifact store only. ``name`` names the cloud resources it creates."""


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
