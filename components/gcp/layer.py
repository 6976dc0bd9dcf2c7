"""The GCP cloud layer: the five building blocks wired together and handed over as a ``CloudLayer``.

``validate_gcp_layer_args`` checks the stack's ``gcp`` (the project), ``artifacts``, ``network``, ``cluster`` and
``database`` sections with each component's own validator (so errors name the config key) and derives the names a
stack does not set from the platform's base name (never from tags, so retagging renames nothing): the cluster
``<name>``, the database ``<name>-mlflow``, the buckets ``<name>-artifacts-<suffix>``.
``build_gcp_layer`` then creates Network -> Cluster -> Database, plus the artifact store, and returns the contract
the Kubernetes layer reads, with a workload-identity factory that binds a Google service account to one Kubernetes
ServiceAccount and the artifact bucket.

No pod knows a database password: MLflow's Google service account is a Cloud SQL IAM user, and the bootstrap Job's
is one in ``cloudsqlsuperuser``; both connect through the Cloud SQL Auth Proxy, a native sidecar on 127.0.0.1 that
signs in with the pod's own Workload Identity token (the contract's ``ConnectorSidecar``).

What it deliberately does not: create providers (the caller passes the GCP provider carrying the project, the
region and the cost tags as default labels) or anything inside the cluster.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from ..cloud_layer import (
    CloudLayer,
    DatabaseAccess,
    DatabaseAdmin,
    DatabaseRole,
    DatabaseTls,
    EgressTarget,
    GpuCapacity,
    ServiceAccountIdentity,
)
from .account_ids import account_id, iam_user_name, service_account_email
from .artifact_store import ArtifactStore, ArtifactStoreArgs, validate_artifact_store_args
from .cluster import Cluster, ClusterArgs, gpu_capacity, validate_cluster_args
from .database import PROXY_LISTEN_PORT, Database, DatabaseArgs, validate_database_args
from .network import Network, NetworkArgs, validate_network_args
from .regions import REGION_MEANING, REGION_PATTERN
from .workload_identity import WorkloadIdentity
from ..tags import CostTags
from ..validation import ArgumentError, config_section, field_path, reject_unknown_keys

SECTIONS = ("gcp", "network", "cluster", "database")
"""The stack config sections (``mlops:<section>``) this layer reads besides ``artifacts``."""
PROJECT_PATTERN = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
INSTANCE_PROXY_PORT = 3307
"""The port Cloud SQL instances accept Auth Proxy connections on."""
LOCAL_PROXY_ADDRESS = "127.0.0.1"
METADATA_SERVER_EGRESS = (EgressTarget(ports=(80,), cidrs=("169.254.169.254/32",)),
                          EgressTarget(ports=(988,), cidrs=("169.254.169.252/32",)))
"""Where a pod with GKE Workload Identity gets its tokens: the GKE metadata server (``GKE_METADATA`` on every
pool). Dataplane V2 evaluates NetworkPolicy before it translates ``169.254.169.254:80`` to the node's metadata
server; the legacy dataplane evaluates after, at ``169.254.169.252:988``. Both are allowed, so the policy holds on
either (GKE's Workload Identity documentation lists the same two)."""
DATABASE_USER_ROLE = "mlflow"
"""The role of MLflow's Google service account in its id (``<name>-mlflow``): the IAM database user."""
DATABASE_ADMIN_ROLE = "db-admin"
"""The role of the bootstrap Job's Google service account in its id (``<name>-db-admin``)."""
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


ARTIFACT_REGISTRY = r"(?P<location>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/(?P<repository>[a-z0-9][a-z0-9-]*)"
"""An Artifact Registry Docker repository, ``<location>-docker.pkg.dev/<project>/<repository>``: the only kind
``mlops:images.digests: registry`` can read digests from on GCP."""


def validate_registry_lookup(registry: str, region: str, field: str) -> None:
    """Digests are read from an Artifact Registry Docker repository: ``<location>-docker.pkg.dev/<project>/<repo>``."""
    if re.fullmatch(ARTIFACT_REGISTRY, registry) is None:
        raise ArgumentError(f"{field}: {registry!r} is not allowed with digests: registry; use an Artifact Registry "
                            f"repository, such as {region}-docker.pkg.dev/<project>/<repository>")


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

    database = Database(f"{name}-database", DatabaseArgs(
        **settings.database, project=settings.project, region=settings.region,
        private_network_id=network.private_network_id, instance_labels=settings.instance_labels), opts=on_gcp)
    # The database users' names are their accounts' emails, known before the accounts exist: the contract names
    # MLflow's role (and the admin's) before the Kubernetes layer asks for their identities.
    mlflow_account = account_id(settings.name, DATABASE_USER_ROLE)
    admin_account = account_id(settings.name, DATABASE_ADMIN_ROLE)
    made: set[str] = set()

    def identity_of(identity_name: str, namespace: str, service_account: str, google_account: str,
                    extra: Mapping[str, Any]) -> ServiceAccountIdentity:
        if google_account in made:
            raise ArgumentError(f"{identity_name}: a second identity for Google service account {google_account!r} "
                                f"is not allowed; the database user and its admin each exist once")
        made.add(google_account)
        identity = WorkloadIdentity(
            identity_name,
            {"workload_pool": cluster.workload_pool, "namespace": namespace, "service_account": service_account,
             "account_id": google_account, "project": settings.project, **extra},
            opts=on_gcp,
        )
        return ServiceAccountIdentity(annotations=identity.service_account_annotations,
                                      labels=identity.service_account_labels)

    def workload_identity(identity_name: str, namespace: str, service_account: str, *,
                          read_only: bool = False, database_user: bool = False) -> ServiceAccountIdentity:
        """A Google service account for ``namespace/service_account`` on the artifact bucket (reads only, when
        ``read_only``); with ``database_user``, also MLflow's IAM database user, connecting to this instance only."""
        google_account = mlflow_account if database_user else account_id(settings.name,
                                                                          f"{namespace}-{service_account}")
        extra: dict[str, Any] = {"bucket": store.name, "read_only": read_only}
        if database_user:
            extra["database_instance"] = database.instance_name
        return identity_of(identity_name, namespace, service_account, google_account, extra)

    def admin_identity(identity_name: str, namespace: str, service_account: str) -> ServiceAccountIdentity:
        """The bootstrap Job's Google service account: an IAM database user in cloudsqlsuperuser, no storage."""
        return identity_of(identity_name, namespace, service_account, admin_account,
                           {"database_instance": database.instance_name, "database_superuser": True})

    def user_name(google_account: str) -> pulumi.Output[str]:
        return pulumi.Output.from_input(iam_user_name(service_account_email(google_account, settings.project)))

    def image_digest(registry: str, repository: str, tag: str) -> pulumi.Output[str]:
        """The digest Artifact Registry reports for ``repository:tag``; a tag never pushed fails the deployment."""
        validate_registry_lookup(registry, settings.region, "images.registry")
        match = re.fullmatch(ARTIFACT_REGISTRY, registry)
        assert match is not None
        image = gcp.artifactregistry.get_docker_image_output(
            location=match["location"], project=match["project"], repository_id=match["repository"],
            image_name=f"{repository}:{tag}", opts=pulumi.InvokeOutputOptions(parent=parent, provider=gcp_provider))
        return image.self_link.apply(lambda link: link.rsplit("@", 1)[1])

    return CloudLayer(
        cluster_name=cluster.name,
        kubernetes_provider=cluster.provider,
        artifact_uri=store.uri,
        artifact_pod_env=store.pod_env,
        database=DatabaseAccess(
            host=pulumi.Output.from_input(LOCAL_PROXY_ADDRESS),
            address=database.host,
            port=pulumi.Output.from_input(PROXY_LISTEN_PORT),
            database=database.database,
            username=user_name(mlflow_account),
            login=database.proxy,
            # Plain PostgreSQL on the pod's loopback only; the proxy's own connection to the instance is TLS 1.3.
            tls=DatabaseTls(mode="disable"),
            # Cloud SQL creates the IAM users (with their accounts); the bootstrap only grants.
            role=DatabaseRole(),
            admin=DatabaseAdmin(username=user_name(admin_account), login=database.proxy, identity=admin_identity),
        ),
        workload_identity=workload_identity,
        database_egress=EgressTarget(ports=(INSTANCE_PROXY_PORT,), cidrs=(settings.private_service_cidr,)),
        # The proxy's Cloud SQL Admin API calls and Google's OAuth token endpoint: HTTPS without a stable range.
        credential_egress=EgressTarget(ports=(443,)),
        identity_egress=METADATA_SERVER_EGRESS,
        # Spot VMs are labelled cloud.google.com/gke-spot=true; GKE taints them only when asked to.
        cpu_taints=(),
        cluster_endpoint=cluster.endpoint,
        kubeconfig=cluster.kubeconfig,
        oidc_issuer=cluster.oidc_issuer,
        artifact_name=store.name,
        gpu=settings.gpu,
        image_digest=image_digest,
    )
