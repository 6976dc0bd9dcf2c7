"""The AWS cloud layer: the five building blocks wired together and handed over as a ``CloudLayer``.

``validate_aws_layer_args`` checks the stack's ``network``, ``cluster``, ``database`` and ``karpenter`` sections
with each component's own validator (so errors name the config key) and derives the names a stack does not set
from the platform's base name (never from tags, so retagging renames nothing): the cluster ``<name>``, the database
``<name>-mlflow``.
``build_aws_layer`` then creates Network -> Cluster (-> Karpenter when enabled) -> Database, plus the artifact
store, and returns the contract the Kubernetes layer reads, with a workload-identity factory that binds IRSA roles
to one ServiceAccount and the artifact bucket (and, for MLflow, ``rds-db:connect`` as its own database user).

How pods sign in to RDS: MLflow as its own role with RDS IAM tokens (``aws-rds-iam``, refreshed in the pod through
IRSA), verified against Amazon's RDS CA bundle; the bootstrap Job as the master user with the RDS-managed master
secret, read at run time through its own IRSA role (``aws-secrets-manager``), so RDS may rotate it freely.

What it deliberately does not: create providers (the caller passes the AWS provider carrying the cost tags as
default tags) or anything inside the cluster except Karpenter.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .artifact_store import ArtifactStore, ArtifactStoreArgs
from .cluster import GPU_NODE_LABELS, GPU_TAINT, Cluster, ClusterArgs, validate_cluster_args
from .database import PORT, Database, DatabaseArgs, validate_database_args
from .karpenter import Karpenter, KarpenterArgs, validate_karpenter_args
from .network import Network, NetworkArgs, validate_network_args
from .workload_identity import WorkloadIdentity
from ..cloud_layer import (
    CloudLayer,
    DatabaseAccess,
    DatabaseAdmin,
    DatabaseRole,
    DatabaseTls,
    EgressTarget,
    GpuCapacity,
    RefreshedToken,
    ServiceAccountIdentity,
)
from ..tags import CostTags
from ..validation import ArgumentError, config_section

SECTIONS = ("network", "cluster", "database", "karpenter")
"""The stack config sections (``mlops:<section>``) this layer reads besides ``artifacts``."""
ECR_REGISTRY = r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
"""An ECR registry host, the only kind ``mlops:images.digests: registry`` can read digests from on AWS."""


@dataclass(frozen=True)
class AwsLayerSettings:
    """The validated sections, with derived names filled in, ready to become component args."""

    region: str
    network: Mapping[str, Any]
    cluster: Mapping[str, Any]
    database: Mapping[str, Any]
    karpenter: Mapping[str, Any]
    karpenter_enabled: bool
    instance_tags: Mapping[str, str]
    private_cidrs: tuple[str, ...]
    gpu: GpuCapacity | None
    """GPU nodes, from the managed GPU node group and/or Karpenter's GPU NodePool; None without either."""


def validate_aws_layer_args(sections: Mapping[str, Any], *, region: str, tags: CostTags, name: str,
                            prefix: str = "") -> AwsLayerSettings:
    """Check each section of ``sections`` (missing ones take defaults); errors name ``<prefix><section>.<key>``.
    ``name`` is the platform's stable base name: the cluster is ``<name>``, the database ``<name>-mlflow``."""
    copies = {section: config_section(sections, section, prefix) for section in SECTIONS}
    copies["cluster"].setdefault("name", name)
    copies["database"].setdefault("identifier", f"{name}-mlflow")
    network = validate_network_args({**copies["network"], "region": region}, f"{prefix}network", wiring=False)
    validate_cluster_args(copies["cluster"], f"{prefix}cluster", wiring=False)
    validate_database_args(copies["database"], f"{prefix}database", wiring=False)
    karpenter = validate_karpenter_args(copies["karpenter"], f"{prefix}karpenter", wiring=False)
    has_gpu_nodes = copies["cluster"].get("gpu_pool") is not None or (karpenter.enabled and karpenter.gpu_limit > 0)
    return AwsLayerSettings(
        region=region,
        network=copies["network"],
        cluster=copies["cluster"],
        database=copies["database"],
        karpenter={key: value for key, value in copies["karpenter"].items() if key != "enabled"},
        karpenter_enabled=karpenter.enabled,
        instance_tags=tags.for_aws(),
        private_cidrs=network.private_cidrs,
        gpu=GpuCapacity(node_labels=dict(GPU_NODE_LABELS), taints=(GPU_TAINT,)) if has_gpu_nodes else None,
    )


def validate_registry_lookup(registry: str, region: str, field: str) -> None:
    """Digests are read from the stack's own ECR registry: ``<account>.dkr.ecr.<region>.amazonaws.com``."""
    match = re.fullmatch(ECR_REGISTRY, registry)
    if match is None or match["region"] != region:
        raise ArgumentError(f"{field}: {registry!r} is not allowed with digests: registry; use the ECR registry of "
                            f"the stack's region, <account>.dkr.ecr.{region}.amazonaws.com")


def build_aws_layer(name: str, settings: AwsLayerSettings, artifacts: ArtifactStoreArgs, *,
                    parent: pulumi.Resource, aws_provider: aws.Provider) -> CloudLayer:
    """Create the AWS blocks beneath ``parent`` with ``aws_provider`` and return the cloud-layer contract."""
    on_aws = pulumi.ResourceOptions(parent=parent, providers={"aws": aws_provider})
    cluster_name = settings.cluster["name"]
    network = Network(f"{name}-network", NetworkArgs(**settings.network, region=settings.region,
                                                     cluster_name=cluster_name), opts=on_aws)
    cluster = Cluster(f"{name}-cluster", ClusterArgs(**settings.cluster, region=settings.region,
                                                     vpc_id=network.vpc_id, subnet_ids=network.private_subnet_ids,
                                                     instance_tags=settings.instance_tags), opts=on_aws)
    if settings.karpenter_enabled:
        Karpenter(
            f"{name}-karpenter",
            KarpenterArgs(**settings.karpenter, cluster_name=cluster.name, cluster_endpoint=cluster.endpoint,
                          oidc_provider_arn=cluster.oidc_provider_arn, oidc_issuer=cluster.oidc_issuer,
                          subnet_ids=network.private_subnet_ids, security_group_id=cluster.security_group_id,
                          region=settings.region, instance_tags=settings.instance_tags),
            opts=pulumi.ResourceOptions(parent=parent, providers={"aws": aws_provider, "kubernetes": cluster.provider}),
        )
    database = Database(f"{name}-database", DatabaseArgs(**settings.database, vpc_id=network.vpc_id,
                                                         subnet_ids=network.private_subnet_ids,
                                                         client_security_group_id=cluster.security_group_id),
                        opts=on_aws)
    store = ArtifactStore(f"{name}-artifacts", artifacts, opts=on_aws)

    def workload_identity(identity_name: str, namespace: str, service_account: str, *,
                          read_only: bool = False, database_user: bool = False) -> ServiceAccountIdentity:
        """An IRSA role for ``namespace/service_account`` on the artifact bucket (reads only, when ``read_only``);
        with ``database_user``, also ``rds-db:connect`` as MLflow's database user."""
        extra = {"database_user_arn": database.mlflow_user_arn} if database_user else {}
        identity = WorkloadIdentity(
            identity_name,
            {"oidc_provider_arn": cluster.oidc_provider_arn, "oidc_issuer": cluster.oidc_issuer,
             "namespace": namespace, "service_account": service_account, "bucket_arn": store.arn,
             "kms_key_arn": store.kms_key_arn, "read_only": read_only, **extra},
            opts=on_aws,
        )
        return ServiceAccountIdentity(annotations=identity.service_account_annotations,
                                      labels=identity.service_account_labels)

    def image_digest(registry: str, repository: str, tag: str) -> pulumi.Output[str]:
        """The digest ECR reports for ``repository:tag``; a tag that was never pushed fails the deployment."""
        match = re.fullmatch(ECR_REGISTRY, registry)
        if match is None:
            raise ArgumentError(f"images.registry: {registry!r} is not allowed with digests: registry; use an ECR "
                                f"registry, <account>.dkr.ecr.<region>.amazonaws.com")
        return aws.ecr.get_image_output(
            repository_name=repository, image_tag=tag, registry_id=match["account"],
            opts=pulumi.InvokeOutputOptions(parent=parent, provider=aws_provider)).image_digest

    def admin_identity(identity_name: str, namespace: str, service_account: str) -> ServiceAccountIdentity:
        """An IRSA role for the bootstrap Job that may read exactly the RDS-managed master secret."""
        identity = WorkloadIdentity(
            identity_name,
            {"oidc_provider_arn": cluster.oidc_provider_arn, "oidc_issuer": cluster.oidc_issuer,
             "namespace": namespace, "service_account": service_account, "secret_arn": database.master_secret_arn,
             "secret_kms_key_arn": database.key_arn},
            opts=on_aws,
        )
        return ServiceAccountIdentity(annotations=identity.service_account_annotations,
                                      labels=identity.service_account_labels)

    region_env = {"AWS_REGION": settings.region, "AWS_DEFAULT_REGION": settings.region}

    return CloudLayer(
        cluster_name=cluster.name,
        kubernetes_provider=cluster.provider,
        artifact_uri=store.uri,
        artifact_pod_env=store.pod_env,
        database=DatabaseAccess(
            host=database.host, port=database.port, database=database.database, username=database.mlflow_username,
            login=RefreshedToken(source="aws-rds-iam", settings=region_env),
            tls=DatabaseTls(mode="verify-full", ca_bundle="aws-rds"),
            role=DatabaseRole(create=("CREATE ROLE {role} LOGIN",), ensure=("GRANT rds_iam TO {role}",)),
            admin=DatabaseAdmin(
                username=database.username,
                login=RefreshedToken(source="aws-secrets-manager", settings=database.master_secret_arn.apply(
                    lambda arn: {**region_env, "MLOPS_DB_SECRET_ID": arn})),
                identity=admin_identity,
            ),
        ),
        workload_identity=workload_identity,
        database_egress=EgressTarget(ports=(PORT,), cidrs=settings.private_cidrs),
        # Secrets Manager (the admin's password): a public HTTPS endpoint without a stable range (or a VPC endpoint).
        credential_egress=EgressTarget(ports=(443,)),
        # IRSA: the SDK trades the projected token at STS (sts.<region>.amazonaws.com), HTTPS without a stable
        # range; pods never ask the instance metadata service.
        identity_egress=(EgressTarget(ports=(443,)),),
        # Spot capacity (the managed node group and Karpenter's spot NodePool) is labelled, never tainted.
        cpu_taints=(),
        cluster_endpoint=cluster.endpoint,
        kubeconfig=cluster.kubeconfig,
        oidc_issuer=cluster.oidc_issuer,
        artifact_name=store.name,
        gpu=settings.gpu,
        image_digest=image_digest,
    )
