"""The cloud-layer contract: what any cloud layer hands to the cloud-neutral Kubernetes layer.

Each cloud (``components/aws``, and ``gcp``/``azure``/``local`` as they land) builds its five blocks (Network,
Cluster, ArtifactStore, Database, WorkloadIdentity) and returns a :class:`CloudLayer`; ``components/kubernetes`` and
``components/platform.py`` read only this, never which cloud they are on.

The database part (:class:`DatabaseAccess`) says how a pod signs in, as one of three credential kinds the Kubernetes
layer renders alike for every workload that opens a connection (the MLflow server, its migration Job, the bootstrap
Job): a token refreshed in the pod by the tracking image's refresher (AWS RDS IAM, Azure Entra), a connector sidecar
that authenticates itself (the Cloud SQL Auth Proxy), or a static password in a Kubernetes Secret (``local`` only).
It also says how the bootstrap Job signs in as the admin (at run time, through its own identity) and the
cloud-specific SQL that makes the workload's role use its credential kind; the cloud-neutral grants are the
bootstrap's own (the tracking image's database bootstrap).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class ServiceAccountIdentity:
    """What to put on one Kubernetes ServiceAccount so its pods get cloud credentials without keys."""

    annotations: pulumi.Output[Mapping[str, str]]
    labels: pulumi.Output[Mapping[str, str]]


TRACKING_IMAGE_CA_BUNDLES: Mapping[str, str] = {
    "aws-rds": "/opt/mlops/ca/rds-global-bundle.pem",
    "system": "/etc/ssl/certs/ca-certificates.crt",
}
"""CA bundles the MLflow tracking image ships, by name: Amazon RDS's global
bundle, and Debian's public roots (DigiCert and Microsoft roots sign Azure's database certificates)."""


@dataclass(frozen=True)
class DatabaseTls:
    """How libpq checks the database server: an ``sslmode`` and the CA bundle it verifies against."""

    mode: str = "verify-full"
    """libpq's ``sslmode``: ``verify-full`` for a managed database; ``disable`` only for a connection that never leaves
    the pod (a connector sidecar on 127.0.0.1) or the ``local`` target's in-cluster database."""
    ca_bundle: str | None = None
    """A key of ``TRACKING_IMAGE_CA_BUNDLES`` (required with ``verify-ca``/``verify-full``)."""


@dataclass(frozen=True)
class StaticPassword:
    """The ``local`` target's login: a password generated at deployment, kept only in a Kubernetes Secret and handed
    to libpq as ``PGPASSWORD`` from that Secret. No cloud uses it: a cloud password would go stale when rotated."""

    password: pulumi.Output[str]
    """Always a Pulumi secret."""


@dataclass(frozen=True)
class RefreshedToken:
    """A short-lived credential obtained from the pod's own workload identity by the token refresher, a native
    sidecar (an init container with ``restartPolicy: Always``) running the tracking image's
    ``serving_image.tracking.token_refresher``. It writes the credential to a ``PGPASSFILE`` on an in-memory volume
    (mode 0600), where libpq reads it at every new connection, and refreshes it well before it expires.

    ``source`` names one of the refresher's token sources (``serving_image.tracking.token_sources.SOURCES``):
    ``aws-rds-iam`` (RDS IAM authentication tokens, 15 minutes), ``aws-secrets-manager`` (a password read at run
    time from a secret, e.g. the RDS-managed master secret, so its rotation never matters), ``azure-entra`` (an Entra
    access token through Entra workload identity). The pod's ServiceAccount must carry an identity allowed to get it:
    ``IdentityFactory(..., database_user=True)`` for the workload, ``DatabaseAdmin.identity`` for the admin."""

    source: str
    settings: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    """Plain (never secret) environment the source reads, e.g. ``AWS_REGION``, ``MLOPS_DB_SECRET_ID``,
    ``MLOPS_DB_TOKEN_SCOPE``; rendered as env values of the refresher container only."""
    refresh_seconds: int = 300
    """Longest time between two refreshes; the refresher also refreshes once a third of a token's life is gone."""


@dataclass(frozen=True)
class ConnectorSidecar:
    """A proxy next to the workload that authenticates itself to the database with the pod's workload identity
    (the Cloud SQL Auth Proxy with ``--auto-iam-authn``). It runs as a native sidecar (an init container with
    ``restartPolicy: Always``) gated by its startup probe, listens on 127.0.0.1 at ``DatabaseAccess.port``, and the
    workload connects to it without any password (``DatabaseAccess.host`` is ``127.0.0.1``, TLS ``disable``: the
    proxy encrypts the hop to the database)."""

    name: str
    """Container name (a DNS label), e.g. ``cloud-sql-proxy``."""
    image: str
    """Pinned by tag (and digest where the stack pins digests)."""
    args: pulumi.Input[Sequence[str]]
    """Container args, e.g. ``--auto-iam-authn --private-ip --port 5432 --health-check --http-address 0.0.0.0
    --http-port 9090 <project:region:instance>``."""
    health_port: int
    """Port of its health endpoints (probed by the kubelet on the pod IP)."""
    startup_path: str
    liveness_path: str
    readiness_path: str
    run_as_user: int = 65532
    """The image's non-root user (distroless ``nonroot`` by default)."""


DatabaseLogin = StaticPassword | RefreshedToken | ConnectorSidecar
"""How a pod signs in to the database. The Kubernetes layer renders each kind (``components/kubernetes/
database_login.py``) without knowing the cloud."""


@dataclass(frozen=True)
class DatabaseRole:
    """The cloud-specific SQL that gives the workload's role its credential kind, run by the bootstrap Job as the
    admin before the cloud-neutral grants (its own schema, CONNECT on its own database only, no other privilege).

    Statements use ``{role}`` for the role name (quoted as an identifier by the bootstrap) and psycopg2's
    ``%(name)s`` for ``parameters`` and ``secret_parameters``. Examples: AWS ``create=("CREATE ROLE {role} LOGIN",)``,
    ``ensure=("GRANT rds_iam TO {role}",)``; Azure ``create=("SELECT pgaadauth_create_principal_with_oid(%(role)s,
    %(object_id)s, 'service', false, false)",)``; GCP creates the IAM user itself (``create=()``, the bootstrap only
    grants, and fails clearly when the role does not exist yet); ``local``: ``CREATE ROLE {role} LOGIN`` and
    ``ALTER ROLE {role} PASSWORD %(password)s`` from a secret parameter."""

    create: tuple[str, ...] = ()
    """Run once, only when the role does not exist yet."""
    ensure: tuple[str, ...] = ()
    """Run on every bootstrap; must be idempotent."""
    parameters: pulumi.Input[Mapping[str, str]] = field(default_factory=dict)
    """Plain values for ``%(name)s`` (e.g. an Entra object id); ``role`` is always provided."""
    secret_parameters: pulumi.Input[Mapping[str, str]] | None = None
    """Secret values for ``%(name)s``; rendered into a Kubernetes Secret, never into a pod spec."""


class AdminIdentityFactory(Protocol):
    """Makes the identity of the bootstrap Job's ServiceAccount: it can get the admin credential (on AWS: read the
    RDS-managed master secret and nothing else) and has no access to the artifact store."""

    def __call__(self, name: str, namespace: str, service_account: str) -> ServiceAccountIdentity: ...


@dataclass(frozen=True)
class DatabaseAdmin:
    """How the bootstrap Job signs in as the database's administrator, at run time through its own identity."""

    username: pulumi.Input[str]
    login: DatabaseLogin
    """AWS: ``RefreshedToken("aws-secrets-manager", {MLOPS_DB_SECRET_ID: <master secret>})``; ``local``: the
    superuser's ``StaticPassword``."""
    identity: AdminIdentityFactory | None = None
    """None when the admin login needs no cloud identity (``local``)."""


@dataclass(frozen=True)
class DatabaseAccess:
    """How the platform's pods reach and sign in to PostgreSQL: where it listens, as which least-privilege role,
    with which credential kind, and how the bootstrap Job creates that role as the admin. No password of a cloud
    database is ever known at deployment time."""

    host: pulumi.Output[str]
    """Where libpq connects from a pod (``127.0.0.1`` with a connector sidecar)."""
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    username: pulumi.Output[str]
    """The workload's own role (MLflow's): not the admin, not a superuser."""
    login: DatabaseLogin
    """How the workload signs in as ``username``."""
    tls: DatabaseTls
    role: DatabaseRole
    admin: DatabaseAdmin
    schema: str = "mlflow"
    """The schema the workload's tables live in (its ``search_path``)."""
    address: pulumi.Output[str] | None = None
    """Where the database server itself listens, for people (the stack output ``database_host``) when that is not
    ``host``: with a connector sidecar, ``host`` is the pod's loopback and this is the instance's private IP. None:
    ``host`` is the server's address."""


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
    ``name`` names the cloud resources it creates; ``read_only`` limits the access to reading (model servers);
    ``database_user`` also lets it sign in to the database as ``DatabaseAccess.username`` with the login's credential
    (AWS: ``rds-db:connect`` on exactly that user; GCP: the Google service account that is the IAM database user;
    Azure: the managed identity that is the Entra principal), and nothing more on the database."""

    def __call__(self, name: str, namespace: str, service_account: str, *,
                 read_only: bool = False, database_user: bool = False) -> ServiceAccountIdentity: ...


class DigestLookup(Protocol):
    """Reads the digest (``sha256:...``) of ``<registry>/<repository>:<tag>`` from the cloud's own registry at
    deploy time; fails the deployment when the tag was never pushed."""

    def __call__(self, registry: str, repository: str, tag: str) -> pulumi.Output[str]: ...


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
    database: DatabaseAccess
    workload_identity: IdentityFactory
    database_egress: EgressTarget = field(default_factory=lambda: EgressTarget(ports=(5432,)))
    """Where the database (or, with a connector sidecar, the connector's upstream) listens, for NetworkPolicy egress
    of every pod that signs in (default: PostgreSQL anywhere)."""
    credential_egress: EgressTarget | None = None
    """Where a pod that signs in to the database gets its credential (AWS: STS and Secrets Manager; Azure: Entra;
    GCP: the Cloud SQL Admin API), for NetworkPolicy egress; None when no pod fetches one (``local``)."""
    storage_egress: EgressTarget = field(default_factory=lambda: EgressTarget(ports=(443,)))
    """Where the artifact store listens, for NetworkPolicy egress (default: HTTPS anywhere)."""
    identity_egress: tuple[EgressTarget, ...] = ()
    """Where a pod whose ServiceAccount carries a workload identity gets its cloud tokens, for NetworkPolicy egress
    of every such pod (the MLflow server, its migration Job, the bootstrap Job, the model endpoints). AWS IRSA: the
    SDK reads the projected token file and calls STS (``sts.<region>.amazonaws.com``) over HTTPS; Azure Entra
    workload identity: the projected token is exchanged at ``login.microsoftonline.com`` over HTTPS (no IMDS);
    GKE Workload Identity: the GKE metadata server, which answers on ``169.254.169.254:80`` (what Dataplane V2
    evaluates, before its NAT) and ``169.254.169.252:988`` (where that address is translated to on the legacy
    dataplane). Empty when no pod has a cloud identity (``local``)."""
    cpu_taints: tuple[NodeTaint, ...] = ()
    """Taints the cluster's CPU nodes carry (on any of its CPU pools) that every platform pod tolerates, so the
    platform runs on the capacity the stack chose: AKS puts ``kubernetes.azure.com/scalesetpriority=spot:
    NoSchedule`` on every Spot node. Empty where CPU nodes carry no taint a workload must tolerate (EKS managed
    node groups and Karpenter's spot NodePool, GKE Spot VMs: each only labels its spot nodes). A system pool's
    own taint (AKS's ``CriticalAddonsOnly``) is not among them: the platform's pods stay off that pool."""
    artifact_secret_env: pulumi.Output[Mapping[str, str]] | None = None
    """Secret environment a pod needs to reach the artifact store when the store has no workload identity (the
    ``local`` target's access keys); rendered into a Kubernetes Secret, never into a pod spec. None on clouds."""
    cluster_endpoint: pulumi.Output[str] | None = None
    """The Kubernetes API URL (None when the layer does not create the cluster)."""
    kubeconfig: pulumi.Output[str] | None = None
    """A kubeconfig for the cluster, always a Pulumi secret (None when the layer does not create
    the cluster)."""
    oidc_issuer: pulumi.Output[str] | None = None
    """The cluster's OIDC issuer URL, ``https://...`` (None without workload identity)."""
    artifact_name: pulumi.Output[str] | None = None
    """The bucket / container name of the artifact store."""
    image_digest: DigestLookup | None = None
    """Reads image digests from the cloud's registry (``mlops:images.digests: registry``); None when the layer has
    no registry to ask."""
    gpu: GpuCapacity | None = None
    """The cluster's GPU capacity; None when it has none (GPU endpoints are then refused). When set, the Kubernetes
    layer installs the NVIDIA device plugin (unless the cloud manages it) and the DCGM exporter on the GPU nodes."""
