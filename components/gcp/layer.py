"""The GCP cloud layer: the five building blocks wired together and handed over as a ``CloudLayer``.

``validate_gcp_layer_args`` checks the stack's ``gcp`` (the project), ``artifacts``, ``network``, ``cluster`` and
``database`` sections with each component's own validator (so errors name the config key) and derives the names a
stack does not set from the platform's base name (never from tags, so retagging renames nothing): the cluster
``<name>``, the database ``<name>-mlflow``, the buckets ``<name>-artifacts-<suffix>``.
``build_gcp_layer`` then creates Network -> Cluster -> Database, plus the artifact store, and returns the contract
the Kubernetes layer reads, with a workload-identity factory that binds a Google service account to one Kubernetes
ServiceAccount and the artifact bucket.

MLflow reaches Cloud SQL without a password: its Google service account is an IAM database user, and the connection
URI points at the Cloud SQL Auth Proxy beside it on 127.0.0.1, which signs in with that account's token.

What it deliberately does not: create providers (the caller passes the GCP provider carrying the project, the
region and the cost tags as default labels) or anything inside the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_gcp as gcp

from components.cloud_layer import CloudLayer, DatabaseEndpoint, EgressTarget, GpuCapacity, ServiceAccountIdentity
from components.gcp.account_ids import account_id, service_account_email
from components.gcp.artifact_store import ArtifactStore, ArtifactStoreArgs, validate_artifact_store_args
from components.gcp.cluster import Cluster, ClusterArgs, gpu_capacity, validate_cluster_args
from components.gcp.database import Database, DatabaseArgs, iam_user_name, validate_database_args
from components.gcp.network import Network, NetworkArgs, validate_network_args
from components.gcp.regions import REGION_MEANING, REGION_PATTERN
from components.gcp.workload_identity import WorkloadIdentity
from components.tags import CostTags
from components.validation import ArgumentError, config_section, field_path, reject_unknown_keys

SECTIONS = ("gcp", "network", "cluster", "database")
"""The stack config sections (``mlops:<section>``) this layer reads besides ``artifacts``."""
PROJECT_PATTERN = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
PROXY_PORT = 3307
"""The port Cloud SQL instances accept Auth Proxy connections on."""
LOCAL_PROXY_ADDRESS = "127.0.0.1"
__all__ = ["REGION_MEANING", "REGION_PATTERN", "SECTIONS", "GcpLayerSettings", "build_gcp_layer",
           "validate_gcp_layer_args"]


@dataclass(frozen=True)
class GcpLayerSettings:
    """The validated sections, with derived names filled in, ready to become component args."""

    project: str
    region: str
    name: str
    network: Mapping[str, Any]
    cluster: Mapping[str, Any]
    database: Mapping[str, Any]
    artifacts: Mapping[str, Any]
    instance_labels: Mapping[str, str]
    node_cidr: str
    private_service_cidr: str
    gpu: GpuCapacity | None
    """GPU nodes, from the fixed GPU pool and/or node auto-provisioning; None without either."""


def validate_gcp_layer_args(sections: Mapping[str, Any], *, region: str, tags: CostTags, name: str,
                            prefix: str = "") -> GcpLayerSettings:
    """Check each section of ``sections`` (missing ones take defaults, except ``gcp.project``); errors name
    ``<prefix><section>.<key>``. ``name`` is the platform's stable base name."""
    if not re.fullmatch(REGION_PATTERN, region):
        raise ArgumentError(f"{prefix}region: {region!r} is not allowed; use {REGION_MEANING}")
    copies = {section: config_section(sections, section, prefix) for section in (*SECTIONS, "artifacts")}
    reject_unknown_keys(copies["gcp"], {"project"}, f"{prefix}gcp")
    project = copies["gcp"].get("project")
    if project is None:
        raise ArgumentError(f"{prefix}gcp.project: missing; every GCP stack names its project id "
                            f"(6-30 lowercase letters, digits and '-')")
    if not isinstance(project, str) or not re.fullmatch(PROJECT_PATTERN, project) or "google" in project:
        raise ArgumentError(f"{prefix}gcp.project: {project!r} is not allowed; use a project id: 6-30 lowercase "
                            f"letters, digits and '-', starting with a letter and not ending with '-'")
    copies["cluster"].setdefault("name", name)
    copies["database"].setdefault("identifier", f"{name}-mlflow")
    copies["artifacts"].setdefault("name_prefix", f"{name}-artifacts-")
    copies["artifacts"].setdefault("location", region)
    network = validate_network_args({**copies["network"], "region": region}, f"{prefix}network", wiring=False)
    cluster = validate_cluster_args(copies["cluster"], f"{prefix}cluster", wiring=False, region=region)
    validate_database_args(copies["database"], f"{prefix}database", wiring=False)
    validate_artifact_store_args(copies["artifacts"], f"{prefix}artifacts", wiring=False)
    return GcpLayerSettings(
        project=project,
        region=region,
        name=name,
        network=copies["network"],
        cluster={**copies["cluster"]},
        database=copies["database"],
        artifacts=copies["artifacts"],
        instance_labels=tags.for_gcp(),
        node_cidr=network.cidr_block,
        private_service_cidr=network.private_service_cidr,
        gpu=gpu_capacity(cluster),
    )


def connection_uri(username: str, database: str) -> str:
    """``postgresql://`` URI of the Cloud SQL Auth Proxy beside the pod: no password (the proxy signs in with the
    pod's IAM token), no TLS on the loopback (the proxy's own connection to the instance is TLS 1.3)."""
    return (f"postgresql://{quote(username, safe='')}@{LOCAL_PROXY_ADDRESS}:5432/{database}"
            f"?sslmode=disable")


def build_gcp_layer(name: str, settings: GcpLayerSettings, *, parent: pulumi.Resource,
                    gcp_provider: gcp.Provider) -> CloudLayer:
    """Create the GCP blocks beneath ``parent`` with ``gcp_provider`` and return the cloud-layer contract."""
    on_gcp = pulumi.ResourceOptions(parent=parent, providers={"gcp": gcp_provider})
    network = Network(f"{name}-network", NetworkArgs(**settings.network, region=settings.region), opts=on_gcp)
    cluster = Cluster(f"{name}-cluster", ClusterArgs(
        **settings.cluster, project=settings.project, region=settings.region, network_id=network.network_id,
        subnet_id=network.subnet_id, pods_range_name=network.pods_range_name,
        services_range_name=network.services_range_name, node_cidr=settings.node_cidr,
        instance_labels=settings.instance_labels), opts=on_gcp)
    store = ArtifactStore(f"{name}-artifacts", ArtifactStoreArgs(**settings.artifacts, project=settings.project),
                          opts=on_gcp)

    mlflow_account = account_id(settings.name, "mlflow-mlflow")
    mlflow_email = service_account_email(mlflow_account, settings.project)
    database = Database(f"{name}-database", DatabaseArgs(
        **settings.database, project=settings.project, region=settings.region,
        private_network_id=network.private_network_id, iam_service_accounts=[],
        instance_labels=settings.instance_labels), opts=on_gcp)
    database_name = settings.database.get("database_name", "mlflow")
    username = iam_user_name(mlflow_email)

    def workload_identity(identity_name: str, namespace: str, service_account: str, *,
                          read_only: bool = False) -> ServiceAccountIdentity:
        """A Google service account for ``namespace/service_account`` on the artifact bucket (reads only, when
        ``read_only``)."""
        identity = WorkloadIdentity(
            identity_name,
            {"workload_pool": cluster.workload_pool, "namespace": namespace, "service_account": service_account,
             "account_id": account_id(settings.name, f"{namespace}-{service_account}"), "project": settings.project,
             "bucket": store.name, "read_only": read_only},
            opts=on_gcp,
        )
        return ServiceAccountIdentity(annotations=identity.service_account_annotations,
                                      labels=identity.service_account_labels)

    return CloudLayer(
        cluster_name=cluster.name,
        kubernetes_provider=cluster.provider,
        artifact_uri=store.uri,
        artifact_pod_env=store.pod_env,
        database=DatabaseEndpoint(
            host=database.host, port=database.port, database=database.database,
            username=pulumi.Output.from_input(username),
            connection_uri=pulumi.Output.secret(connection_uri(username, database_name)),
        ),
        workload_identity=workload_identity,
        database_egress=EgressTarget(ports=(PROXY_PORT,), cidrs=(settings.private_service_cidr,)),
        cluster_endpoint=cluster.endpoint,
        kubeconfig=cluster.kubeconfig,
        oidc_issuer=cluster.oidc_issuer,
        artifact_name=store.name,
        gpu=settings.gpu,
    )
