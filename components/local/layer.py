"""The ``local`` cloud layer: the cloud-layer contract inside an existing cluster, with no cloud account.

It uses a kubeconfig context that already exists on the machine (kind, k3d, minikube, Docker Desktop, or any
cluster), or the caller's own Kubernetes provider (``opts=ResourceOptions(providers=[provider])``, passed to it or to
an enclosing component such as ``MlopsPlatform``), runs PostgreSQL and an S3-compatible store (MinIO) in a
``mlops-data`` namespace, and returns a :class:`mlops_platform.cloud_layer.CloudLayer` like every cloud does, so
the Kubernetes layer on top is the same.
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
from ..tagging import tagged_options
from ..validation import STORAGE_SIZE, ArgumentError, pinned_image, reject_unknown_keys, shown

_ARGS = frozenset({"context", "kubeconfig", "namespace", "postgres_image", "object_store_image",
                   "object_store_client_image", "bucket", "storage_size"})
_COMPONENT_ARGS = frozenset({*_ARGS, "client_namespaces", "tags"})
"""The component's inputs: the stack section's, plus what a program wires."""
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
    """Inputs of the local layer; the ``mlops:local`` section of a stack holds all but the last two."""

    context: NotRequired[str]
    """The kubeconfig context to deploy into (it must already exist). Required unless a Kubernetes provider comes
    with the options, and not allowed then (the provider names the cluster)."""
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
    client_namespaces: NotRequired[list[str]]
    """Namespaces whose pods may reach the database and the object store (MLflow's, the models')."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the layer creates (canonical rules, ``mlops_platform.tags``)."""


@dataclass(frozen=True)
class LocalLayerSettings:
    context: str | None
    """None when the caller's Kubernetes provider is used."""
    kubeconfig: str | None
    namespace: str
    postgres_image: str
    object_store_image: str
    object_store_client_image: str
    bucket: str
    storage_size: str


def validate_local_layer_args(args: Mapping[str, Any] | None, field: str = "local", *,
                              provider_given: bool = False, allowed: frozenset[str] = _ARGS) -> LocalLayerSettings:
    """Check ``args`` (``provider_given``: a Kubernetes provider comes with the options) and fill defaults."""
    if args is None and not provider_given:
        raise ArgumentError(f"{field}: missing; the local target needs at least {{context: <kubeconfig context>}} "
                            f"or a Kubernetes provider in the options")
    args = args or {}
    reject_unknown_keys(args, allowed, field)
    context = args.get("context")
    if provider_given:
        for key in ("context", "kubeconfig"):
            if args.get(key) is not None:
                raise ArgumentError(f"{field}.{key}: {shown(args[key])} is not allowed with a Kubernetes provider in "
                                    f"the "
                                    f"options; the provider names the cluster, so leave {key} out")
    elif not isinstance(context, str) or not context.strip():
        raise ArgumentError(f"{field}.context: {shown(context)} is not allowed; use the name of an existing kubeconfig "
                            f"context (kubectl config get-contexts), or pass a Kubernetes provider in the options")
    values = {**DEFAULTS, **{k: v for k, v in args.items() if k in DEFAULTS}}
    for key in ("postgres_image", "object_store_image", "object_store_client_image"):
        pinned_image(values[key], f"{field}.{key}", tag_required=True)
    if not isinstance(values["bucket"], str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", values["bucket"]):
        raise ArgumentError(f"{field}.bucket: {shown(values['bucket'])} is not allowed; use an S3 bucket name")
    if not isinstance(values["storage_size"], str) or not re.fullmatch(STORAGE_SIZE, values["storage_size"]):
        raise ArgumentError(f"{field}.storage_size: {shown(values['storage_size'])} is not allowed; use a size like "
                            f"'10Gi'")
    kubeconfig = args.get("kubeconfig")
    if kubeconfig is not None and (not isinstance(kubeconfig, str) or not kubeconfig):
        raise ArgumentError(f"{field}.kubeconfig: {shown(kubeconfig)} is not allowed; use a file path")
    return LocalLayerSettings(
        context=context, kubeconfig=kubeconfig,
        namespace=validate_namespace_name(values["namespace"], f"{field}.namespace"),
        postgres_image=values["postgres_image"], object_store_image=values["object_store_image"],
        object_store_client_image=values["object_store_client_image"], bucket=values["bucket"],
        storage_size=values["storage_size"],
    )


def given_kubernetes_provider(opts: pulumi.ResourceOptions | None) -> pulumi.ProviderResource | None:
    """The Kubernetes provider a component created with ``opts`` would use: its own ``provider`` or ``providers``,
    else its parent's (as Pulumi resolves it for the component's children)."""
    if opts is None:
        return None
    if isinstance(opts.provider, pulumi.ProviderResource) and opts.provider.package == "kubernetes":
        return opts.provider
    providers = opts.providers
    found = providers.get("kubernetes") if isinstance(providers, Mapping) else \
        next((p for p in providers or [] if p.package == "kubernetes"), None)
    if found is not None:
        return found
    return opts.parent.get_provider("kubernetes::") if opts.parent is not None else None


class LocalLayer(pulumi.ComponentResource):
    """The data services of the ``local`` target; ``layer`` is what the Kubernetes layer builds on."""

    layer: CloudLayer

    def __init__(self, name: str, args: LocalLayerArgs, opts: pulumi.ResourceOptions | None = None):
        given = given_kubernetes_provider(opts)
        settings = validate_local_layer_args(args, name, provider_given=given is not None, allowed=_COMPONENT_ARGS)
        client_namespaces = [validate_namespace_name(n, f"{name}.client_namespaces[{i}]")
                             for i, n in enumerate(args.get("client_namespaces") or [])]
        super().__init__("mlops:local:LocalLayer", name, None, tagged_options(args.get("tags"), opts, f"{name}.tags"))
        if given is None:
            provider_args: dict[str, Any] = {"context": settings.context}
            if settings.kubeconfig:
                provider_args["kubeconfig"] = settings.kubeconfig
            provider = k8s.Provider(f"{name}-kubernetes", **provider_args, opts=pulumi.ResourceOptions(parent=self))
        else:
            provider = given
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
            # The context names the cluster; a caller's provider, by its own resource name.
            cluster_name=pulumi.Output.from_input(settings.context) if settings.context else
            provider.urn.apply(lambda urn: urn.rsplit("::", 1)[-1]),
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
