"""The whole MLOps platform as one component: a cloud layer and, on top of it, the cloud-neutral Kubernetes layer.

``MlopsPlatform`` takes the same settings a stack's config holds (see ``mlops_platform_offline.config``), validates
all of them before creating anything, creates the cloud providers with the cost tags as provider defaults, scopes
the cost-tag transform (Azure tags, Kubernetes labels) to everything beneath it and passes the tags down to the
layers, so a program that imports the platform gets complete tagging without registering anything itself. The
chosen cloud's layer is loaded through ``mlops_platform.cloud_registry``, so only that cloud's provider SDK is
imported. With ``cloud: local``, a Kubernetes provider in its options (``providers=[...]``) is the cluster the
platform deploys into, instead of ``local.context``.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi

from .cloud_layer import CloudLayer
from .cloud_registry import CLOUD_LAYERS, SUPPORTED_CLOUDS, CloudLayerBuilder, load_cloud_layer
from .kubernetes.layer import (
    MLFLOW_NAMESPACE,
    KubernetesLayer,
    KubernetesLayerSettings,
    validate_kubernetes_layer_args,
)
from .local.layer import given_kubernetes_provider
from .tagging import cost_tag_transform
from .tags import CostTags, TagError
from .validation import ArgumentError, reject_unknown_keys

KUBERNETES_SECTIONS = ("images", "mlflow", "monitoring", "endpoints")
"""Sections of the cloud-neutral Kubernetes layer, the same on every cloud."""

NAME_PATTERN = r"(?!.*--)[a-z][a-z0-9-]{0,22}[a-z0-9]"
NAME_MEANING = ("2 to 24 lowercase letters, digits and single '-', starting with a letter and ending with a letter or "
                "digit (it must make a legal EKS cluster, RDS identifier and S3 bucket name)")

_ARGS = frozenset({"name", "cloud", "region", "tags", *KUBERNETES_SECTIONS,
                   *(section for entry in CLOUD_LAYERS.values() for section in entry.sections)})


class MlopsPlatformArgs(TypedDict):
    """Everything a stack can set. Sections are validated by the component that owns them."""

    name: str
    """Base of the physical names (the cluster, ``<name>-mlflow`` database, ``<name>-artifacts-`` buckets): 2-24
    lowercase letters, digits and '-', starting with a letter. Choose it once: renaming replaces stateful resources,
    which is why it is its own setting and not derived from tags."""
    cloud: str
    """Which cloud layer to build: one of ``SUPPORTED_CLOUDS``."""
    region: str
    """The cloud region every regional resource lives in."""
    tags: Mapping[str, str]
    """The cost tags (see ``mlops_platform.tags``): `environment` and `project` are required to build, and the policy pack
    expects `cost-center` and `owner` too."""
    artifacts: NotRequired[Mapping[str, Any]]
    """Arguments of the cloud's artifact store, except ``name_prefix`` (derived from the tags when absent)."""
    network: NotRequired[Mapping[str, Any]]
    """The cloud's network (AWS: ``mlops_platform.aws.network.NetworkArgs`` without ``region``/``cluster_name``)."""
    cluster: NotRequired[Mapping[str, Any]]
    """The Kubernetes cluster and its node pools (AWS: ``mlops_platform.aws.cluster.ClusterArgs`` without the network
    wiring; ``name`` defaults to the platform's ``name``)."""
    database: NotRequired[Mapping[str, Any]]
    """The PostgreSQL database for MLflow (AWS: ``mlops_platform.aws.database.DatabaseArgs`` without the wiring)."""
    azure: NotRequired[Mapping[str, Any]]
    """Azure only: ``subscription_id`` (required), ``resource_group_name`` (default ``<name>-rg``) and
    ``log_retention_days`` of the stack's Log Analytics workspace (see ``mlops_platform.azure.layer``)."""
    gcp: NotRequired[Mapping[str, Any]]
    """GCP only: ``project``, the id of the project every resource lives in (required on GCP)."""
    karpenter: NotRequired[Mapping[str, Any]]
    """AWS only: Karpenter autoscaling (``enabled: true`` turns it on; see ``mlops_platform.aws.karpenter``)."""
    local: NotRequired[Mapping[str, Any]]
    """The ``local`` target only: ``context`` (an existing kubeconfig context) and the in-cluster data services
    (see ``mlops_platform.local.layer.LocalLayerArgs``)."""
    images: NotRequired[Mapping[str, Any]]
    """The platform's own images: ``registry``, ``tracking_tag``, ``serving_tag``, ``tracking_digest``,
    ``serving_digest``, ``digests`` (see ``mlops_platform.images``); required."""
    mlflow: NotRequired[Mapping[str, Any]]
    """The MLflow server: ``replicas``, ``workers``, ``compute``, ``probes``, ``route``, ``allowed_hosts`` (see
    ``mlops_platform.kubernetes.mlflow_server``); its image comes from ``images``."""
    monitoring: NotRequired[Mapping[str, Any]]
    """The Prometheus stack (see ``mlops_platform.kubernetes.prometheus_stack.PrometheusStackArgs``)."""
    endpoints: NotRequired[list[Mapping[str, Any]]]
    """The blue-green model endpoints, one mapping each (``mlops_platform.kubernetes.model_endpoint``
    ``BlueGreenModelEndpointArgs`` without the fields the platform wires: namespace, identity, storage, tracking)."""


@dataclass(frozen=True)
class PlatformSettings:
    cloud: str
    region: str
    tags: CostTags
    cloud_layer: Any
    """The validated sections of the chosen cloud layer, as its builder returned them."""
    builder: CloudLayerBuilder[Any]
    """The chosen cloud layer's builder (``mlops_platform.cloud_registry``)."""
    kubernetes: KubernetesLayerSettings
    """The Kubernetes layer's sections (mlflow, monitoring, endpoints), validated."""


def validate_platform_args(args: Mapping[str, Any], prefix: str = "", *,
                           kubernetes_provider_given: bool = False) -> PlatformSettings:
    """Check every section of ``args``; errors name fields as ``<prefix><section>.<field>``.
    ``kubernetes_provider_given``: the caller's Kubernetes provider replaces ``local.context`` (local target)."""
    reject_unknown_keys(args, _ARGS, prefix or "platform")
    cloud = args.get("cloud")
    if cloud not in SUPPORTED_CLOUDS:
        raise ArgumentError(
            f"{prefix}cloud: {cloud!r} is not allowed; use one of {', '.join(SUPPORTED_CLOUDS)}"
        )
    builder = load_cloud_layer(cloud, field=f"{prefix}cloud")
    region = args.get("region")
    if region is None:
        raise ArgumentError(f"{prefix}region: missing; use {builder.region_meaning}")
    if not isinstance(region, str) or not re.fullmatch(builder.region_pattern, region):
        raise ArgumentError(f"{prefix}region: {region!r} is not allowed; use {builder.region_meaning}")
    try:
        tags = CostTags.from_mapping(args.get("tags", {}), field=f"{prefix}tags")
    except TagError as error:
        raise ArgumentError(str(error)) from None
    name = args.get("name")
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ArgumentError(f"{prefix}name: {name!r} is not allowed; use {NAME_MEANING}")
    _reject_other_clouds_sections(args, cloud, prefix)
    cloud_layer = builder.validate(args, region=region, tags=tags, name=name, prefix=prefix,
                                   kubernetes_provider_given=kubernetes_provider_given)
    kubernetes = validate_kubernetes_layer_args(args.get("mlflow"), args.get("monitoring"), args.get("endpoints"),
                                                args.get("images"), prefix=prefix, gpu=builder.gpu(cloud_layer))
    if kubernetes.images.digests_from_registry:
        if builder.registry_lookup is None:
            raise ArgumentError(f"{prefix}images.digests: 'registry' is not allowed with cloud {cloud!r}; it has no "
                                f"registry to read digests from, so write tracking_digest and serving_digest instead")
        builder.registry_lookup(kubernetes.images.registry, region, f"{prefix}images.registry")
    return PlatformSettings(cloud=cloud, region=region, tags=tags, cloud_layer=cloud_layer, builder=builder,
                            kubernetes=kubernetes)


def _reject_other_clouds_sections(args: Mapping[str, Any], cloud: str, prefix: str) -> None:
    readers: dict[str, list[str]] = {}
    for other, entry in CLOUD_LAYERS.items():
        for section in entry.sections:
            readers.setdefault(section, []).append(other)
    for section, clouds in readers.items():
        if cloud not in clouds and args.get(section) is not None:
            layers = f"{' and '.join(clouds)} layer{'s' if len(clouds) > 1 else ''}"
            raise ArgumentError(f"{prefix}{section}: not allowed with cloud {cloud!r}; it configures the {layers} only")


class MlopsPlatform(pulumi.ComponentResource):
    """The MLOps platform of one stack."""

    artifact_bucket: pulumi.Output[str]
    artifact_uri: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    cluster_endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """A secret."""
    oidc_issuer: pulumi.Output[str]
    database_host: pulumi.Output[str]
    mlflow_tracking_uri: pulumi.Output[str]
    mlflow_admin_password: pulumi.Output[str]
    """A secret."""
    grafana_admin_password: pulumi.Output[str]
    """A secret."""
    endpoint_urls: pulumi.Output[Mapping[str, str]]
    """Cluster-internal URL of each model endpoint's live Service."""

    def __init__(self, name: str, args: MlopsPlatformArgs, opts: pulumi.ResourceOptions | None = None):
        # Each cloud's builder decides what a caller's Kubernetes provider means (only ``local`` deploys into one).
        settings = validate_platform_args(args, kubernetes_provider_given=given_kubernetes_provider(opts) is not None)
        tagged = pulumi.ResourceOptions(transforms=[cost_tag_transform(settings.tags)])
        super().__init__("mlops:index:MlopsPlatform", name, None, pulumi.ResourceOptions.merge(opts, tagged))

        layer = self._cloud_layer(name, settings)
        platform_layer = KubernetesLayer(f"{name}-kubernetes", {
            "cloud_layer": layer, "images": args.get("images"), "mlflow": args.get("mlflow") or {},
            "monitoring": args.get("monitoring") or {}, "endpoints": list(args.get("endpoints") or []),
            "models_namespace": settings.kubernetes.models_namespace, "tags": dict(settings.tags.values),
        }, opts=pulumi.ResourceOptions(parent=self))
        self.mlflow_tracking_uri = platform_layer.mlflow_tracking_uri
        self.mlflow_admin_password = platform_layer.mlflow_admin_password
        self.grafana_admin_password = platform_layer.grafana_admin_password
        self.endpoint_urls = platform_layer.endpoint_urls

        self.artifact_bucket = layer.artifact_name
        self.artifact_uri = layer.artifact_uri
        self.cluster_name = layer.cluster_name
        self.cluster_endpoint = layer.cluster_endpoint
        self.kubeconfig = layer.kubeconfig
        self.oidc_issuer = layer.oidc_issuer
        self.database_host = layer.database.host if layer.database.address is None else layer.database.address
        self.register_outputs({"artifact_bucket": self.artifact_bucket, "artifact_uri": self.artifact_uri,
                               "cluster_name": self.cluster_name, "cluster_endpoint": self.cluster_endpoint,
                               "kubeconfig": self.kubeconfig, "oidc_issuer": self.oidc_issuer,
                               "database_host": self.database_host, "mlflow_tracking_uri": self.mlflow_tracking_uri,
                               "endpoint_urls": self.endpoint_urls})


    def _cloud_layer(self, name: str, settings: PlatformSettings) -> CloudLayer:
        """The chosen cloud's five building blocks, as the contract the Kubernetes layer reads."""
        return settings.builder.build(name, settings.cloud_layer, region=settings.region, tags=settings.tags,
                                      parent=self,
                                      client_namespaces=[MLFLOW_NAMESPACE, settings.kubernetes.models_namespace])
