"""The ``local`` cloud layer: the cloud-layer contract inside an existing cluster, with no cloud account.

It uses a kubeconfig context that already exists on the machine (kind, k3d, minikube, Docker Desktop, or any
cluster), runs PostgreSQL and an S3-compatible store (MinIO) in a ``mlops-data`` namespace, and returns a
:class:`mlops_platform.cloud_layer.CloudLayer` like every cloud does, so the Kubernetes layer on top is the same.
Workload identity does not exist here: pods get the store's access keys from a Secret (``artifact_secret_env``),
and sign in to PostgreSQL with the static kind of the contract: MLflow as its own role (``mlflow_tracking``) with a
generated password, the bootstrap Job as the in-cluster superuser, each password kept only in a Kubernetes Secret.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from ..cloud_layer import (
    CloudLayer,
    DatabaseAccess,
    DatabaseAdmin,
    DatabaseRole,
    DatabaseTls,
    EgressTarget,
    ServiceAccountIdentity,
    StaticPassword,
)
from ..kubernetes.namespace import IsolatedNamespace, validate_namespace_name
from . import object_store, postgres
from .object_store import InClusterObjectStore
from .postgres import InClusterPostgres
from ..validation import STORAGE_SIZE, ArgumentError, pinned_image, reject_unknown_keys

_ARGS = frozenset({"context", "kubeconfig", "namespace", "postgres_image", "object_store_image",
                   "object_store_client_image", "bucket", "storage_size"})
DEFAULTS = {
    "namespace": "mlops-data",
    "postgres_image": "docker.io/library/postgres:17.6-bookworm",
    "object_store_image": "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
    "object_store_client_image": "quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z",
    "bucket": "mlflow-artifacts",
    "storage_size": "10Gi",
}
MLFLOW_ROLE = "mlflow_tracking"
"""The role MLflow signs in as; the superuser (``mlflow``) is the bootstrap Job's only."""


class LocalLayerArgs(TypedDict):
    """The ``mlops:local`` section of a stack."""

    context: str
    """The kubeconfig context to deploy into (it must already exist)."""
    kubeconfig: NotRequired[str]
    """Path of the kubeconfig file (default: ``$KUBECONFIG`` or ``~/.kube/config``, as kubectl)."""
    namespace: NotRequired[str]
    """Namespace of the database and the object store (default ``mlops-data``)."""
    postgres_image: NotRequired[str]
    object_store_image: NotRequired[str]
    object_store_client_image: NotRequired[str]
    bucket: NotRequired[str]
    """Artifact bucket (default ``mlflow-artifacts``)."""
    storage_size: NotRequired[str]
    """Volume size of the database and of the object store each (default ``10Gi``)."""


@dataclass(frozen=True)
class LocalLayerSettings:
    context: str
    kubeconfig: str | None
    namespace: str
    postgres_image: str
    object_store_image: str
    object_store_client_image: str
    bucket: str
    storage_size: str


def validate_local_layer_args(args: Mapping[str, Any] | None, field: str = "local") -> LocalLayerSettings:
    if args is None:
        raise ArgumentError(f"{field}: missing; the local target needs at least {{context: <kubeconfig context>}}")
    reject_unknown_keys(args, _ARGS, field)
    context = args.get("context")
    if not isinstance(context, str) or not context.strip():
        raise ArgumentError(f"{field}.context: {context!r} is not allowed; use the name of an existing kubeconfig "
                            f"context (kubectl config get-contexts)")
    values = {**DEFAULTS, **{k: v for k, v in args.items() if k in DEFAULTS}}
    for key in ("postgres_image", "object_store_image", "object_store_client_image"):
        pinned_image(values[key], f"{field}.{key}", tag_required=True)
    if not isinstance(values["bucket"], str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", values["bucket"]):
        raise ArgumentError(f"{field}.bucket: {values['bucket']!r} is not allowed; use an S3 bucket name")
    if not isinstance(values["storage_size"], str) or not re.fullmatch(STORAGE_SIZE, values["storage_size"]):
        raise ArgumentError(f"{field}.storage_size: {values['storage_size']!r} is not allowed; use a size like '10Gi'")
    kubeconfig = args.get("kubeconfig")
    if kubeconfig is not None and (not isinstance(kubeconfig, str) or not kubeconfig):
        raise ArgumentError(f"{field}.kubeconfig: {kubeconfig!r} is not allowed; use a file path")
    return LocalLayerSettings(
        context=context, kubeconfig=kubeconfig,
        namespace=validate_namespace_name(values["namespace"], f"{field}.namespace"),
        postgres_image=values["postgres_image"], object_store_image=values["object_store_image"],
        object_store_client_image=values["object_store_client_image"], bucket=values["bucket"],
        storage_size=values["storage_size"],
    )


class LocalLayer(pulumi.ComponentResource):
    """The data services of the ``local`` target; ``layer`` is what the Kubernetes layer builds on."""

    layer: CloudLayer

    def __init__(self, name: str, settings: LocalLayerSettings, client_namespaces: list[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:local:LocalLayer", name, None, opts)
        provider_args: dict[str, Any] = {"context": settings.context}
        if settings.kubeconfig:
            provider_args["kubeconfig"] = settings.kubeconfig
        provider = k8s.Provider(f"{name}-kubernetes", **provider_args, opts=pulumi.ResourceOptions(parent=self))
        on_cluster = pulumi.ResourceOptions(parent=self, providers={"kubernetes": provider})
        ns = settings.namespace
        namespace = IsolatedNamespace(f"{name}-data-namespace", {"name": ns}, opts=on_cluster)
        inside = on_cluster.merge(pulumi.ResourceOptions(depends_on=[namespace]))
        database = InClusterPostgres(f"{name}-postgres", {
            "namespace": ns, "image": settings.postgres_image, "database": "mlflow", "username": "mlflow",
            "storage_size": settings.storage_size, "client_namespaces": client_namespaces}, opts=inside)
        store = InClusterObjectStore(f"{name}-object-store", {
            "namespace": ns, "image": settings.object_store_image, "client_image": settings.object_store_client_image,
            "bucket": settings.bucket, "storage_size": settings.storage_size,
            "client_namespaces": client_namespaces}, opts=inside)

        mlflow_password = pulumi.Output.secret(random.RandomPassword(
            f"{name}-mlflow-database-password", length=32, special=False,
            opts=pulumi.ResourceOptions(parent=self)).result)

        def no_identity(_name: str, _namespace: str, _service_account: str, *,
                        read_only: bool = False, database_user: bool = False) -> ServiceAccountIdentity:
            """The local store has no workload identity; pods use the access keys of ``artifact_secret_env``."""
            return ServiceAccountIdentity(annotations=pulumi.Output.from_input({}),
                                          labels=pulumi.Output.from_input({}))

        self.layer = CloudLayer(
            cluster_name=pulumi.Output.from_input(settings.context),
            kubernetes_provider=provider,
            artifact_uri=store.uri,
            artifact_pod_env=store.endpoint.apply(lambda endpoint: {
                "MLFLOW_S3_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}),
            database=DatabaseAccess(
                host=database.host, port=database.port, database=database.database,
                username=pulumi.Output.from_input(MLFLOW_ROLE),
                login=StaticPassword(password=mlflow_password),
                # In-cluster traffic to a development database without a certificate; clouds verify-full.
                tls=DatabaseTls(mode="disable"),
                role=DatabaseRole(create=("CREATE ROLE {role} LOGIN",),
                                  ensure=("ALTER ROLE {role} PASSWORD %(password)s",),
                                  secret_parameters=mlflow_password.apply(lambda password: {"password": password})),
                admin=DatabaseAdmin(username=database.username, login=StaticPassword(password=database.password)),
            ),
            workload_identity=no_identity,
            database_egress=EgressTarget(ports=(postgres.PORT,), namespace=ns, pod_labels=postgres.LABELS),
            storage_egress=EgressTarget(ports=(object_store.PORT,), namespace=ns, pod_labels=object_store.LABELS),
            # No pod has a cloud identity, and whatever nodes the cluster has, the platform adds no toleration.
            identity_egress=(),
            cpu_taints=(),
            artifact_secret_env=pulumi.Output.secret(pulumi.Output.all(store.access_key, store.secret_key).apply(
                lambda keys: {"AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]})),
        )
        self.register_outputs({"cluster_name": self.layer.cluster_name, "artifact_uri": self.layer.artifact_uri})
