"""The whole MLOps platform as one component: a cloud layer and, on top of it, the cloud-neutral Kubernetes layer.

``MlopsPlatform`` takes the same settings a stack's config holds (see ``infra/config.py``), validates all of them
before creating anything, creates the cloud providers with the cost tags as provider defaults, and scopes the
cost-tag transform (Azure tags, Kubernetes labels) to everything beneath it, so a program that imports the platform
gets complete tagging without registering anything itself.
"""

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp

from .aws.artifact_store import (
    ArtifactStoreArgs,
    ArtifactStoreSettings,
    validate_artifact_store_args,
)
from .aws.layer import SECTIONS as AWS_SECTIONS
from .aws.layer import AwsLayerSettings, build_aws_layer, validate_aws_layer_args, validate_registry_lookup
from .azure.layer import LOCATION_MEANING, LOCATION_PATTERN
from .azure.layer import SECTIONS as AZURE_SECTIONS
from .azure.layer import AzureLayerSettings, azure_provider, build_azure_layer, validate_azure_layer_args
from .cloud_layer import CloudLayer
from .gcp.layer import REGION_MEANING as GCP_REGION_MEANING
from .gcp.layer import REGION_PATTERN as GCP_REGION_PATTERN
from .gcp.layer import SECTIONS as GCP_SECTIONS
from .gcp.layer import GcpLayerSettings, build_gcp_layer, validate_gcp_layer_args
from .gcp.layer import validate_registry_lookup as validate_gcp_registry_lookup
from .kubernetes.layer import (
    MLFLOW_NAMESPACE,
    KubernetesLayer,
    KubernetesLayerSettings,
    validate_kubernetes_layer_args,
)
from .local.layer import LocalLayer, LocalLayerSettings, validate_local_layer_args
from .tagging import aws_default_tags, cost_tag_transform, gcp_default_labels
from .tags import CostTags, TagError
from .validation import ArgumentError, config_section, reject_unknown_keys

KUBERNETES_SECTIONS = ("images", "mlflow", "monitoring", "endpoints")
"""Sections of the cloud-neutral Kubernetes layer, the same on every cloud."""

SUPPORTED_CLOUDS = ("aws", "azure", "gcp", "local")
"""Clouds whose layer exists; each follows the same contract (DESIGN.md)."""

REGION_PATTERNS: Mapping[str, tuple[str, str]] = {
    "aws": (r"[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-\d",
            "an AWS region such as eu-west-1 or us-east-2"),
    "gcp": (GCP_REGION_PATTERN, GCP_REGION_MEANING),
    "azure": (LOCATION_PATTERN, LOCATION_MEANING),
    "local": (r"[a-z0-9][a-z0-9-]{0,62}", "a label such as local (the local target has no region; it only names it)"),
}

NAME_PATTERN = r"(?!.*--)[a-z][a-z0-9-]{0,22}[a-z0-9]"
NAME_MEANING = ("2 to 24 lowercase letters, digits and single '-', starting with a letter and ending with a letter or "
                "digit (it must make a legal EKS cluster, RDS identifier and S3 bucket name)")

_ARGS = frozenset({"name", "cloud", "region", "tags", "artifacts", *AWS_SECTIONS, *AZURE_SECTIONS, *GCP_SECTIONS,
                   *KUBERNETES_SECTIONS, "local"})


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
class AwsSettings:
    """The AWS cloud layer's sections, validated."""

    artifacts: ArtifactStoreSettings
    layer: AwsLayerSettings


@dataclass(frozen=True)
class PlatformSettings:
    cloud: str
    region: str
    tags: CostTags
    cloud_layer: AwsSettings | AzureLayerSettings | GcpLayerSettings | LocalLayerSettings
    """The validated sections of the chosen cloud layer."""
    kubernetes: KubernetesLayerSettings
    """The Kubernetes layer's sections (mlflow, monitoring, endpoints), validated."""


def validate_platform_args(args: Mapping[str, Any], prefix: str = "") -> PlatformSettings:
    """Check every section of ``args``; errors name fields as ``<prefix><section>.<field>``."""
    reject_unknown_keys(args, _ARGS, prefix or "platform")
    cloud = args.get("cloud")
    if cloud not in SUPPORTED_CLOUDS:
        raise ArgumentError(
            f"{prefix}cloud: {cloud!r} is not allowed; use one of {', '.join(SUPPORTED_CLOUDS)}"
        )
    pattern, meaning = REGION_PATTERNS[cloud]
    region = args.get("region")
    if region is None:
        raise ArgumentError(f"{prefix}region: missing; use {meaning}")
    if not isinstance(region, str) or not re.fullmatch(pattern, region):
        raise ArgumentError(f"{prefix}region: {region!r} is not allowed; use {meaning}")
    try:
        tags = CostTags.from_mapping(args.get("tags", {}), field=f"{prefix}tags")
    except TagError as error:
        raise ArgumentError(str(error)) from None
    name = args.get("name")
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ArgumentError(f"{prefix}name: {name!r} is not allowed; use {NAME_MEANING}")
    _reject_other_clouds_sections(args, cloud, prefix)
    cloud_layer: AwsSettings | AzureLayerSettings | GcpLayerSettings | LocalLayerSettings
    if cloud == "local":
        cloud_layer = validate_local_layer_args(args.get("local"), field=f"{prefix}local")
    elif cloud == "gcp":
        cloud_layer = validate_gcp_layer_args(args, region=region, tags=tags, name=name, prefix=prefix)
    elif cloud == "azure":
        cloud_layer = validate_azure_layer_args(args, location=region, name=name, prefix=prefix)
    else:
        artifacts_args = config_section(args, "artifacts", prefix)
        artifacts_args.setdefault("name_prefix", f"{name}-artifacts-")
        cloud_layer = AwsSettings(
            artifacts=validate_artifact_store_args(artifacts_args, field=f"{prefix}artifacts"),
            layer=validate_aws_layer_args(args, region=region, tags=tags, name=name, prefix=prefix),
        )
    gpu = cloud_layer.layer.gpu if isinstance(cloud_layer, AwsSettings) else getattr(cloud_layer, "gpu", None)
    kubernetes = validate_kubernetes_layer_args(args.get("mlflow"), args.get("monitoring"), args.get("endpoints"),
                                                args.get("images"), prefix=prefix, gpu=gpu)
    if kubernetes.images.digests_from_registry:
        if cloud == "aws":
            validate_registry_lookup(kubernetes.images.registry, region, f"{prefix}images.registry")
        elif cloud == "gcp":
            validate_gcp_registry_lookup(kubernetes.images.registry, region, f"{prefix}images.registry")
        else:
            raise ArgumentError(f"{prefix}images.digests: 'registry' is not allowed with cloud {cloud!r}; it has no "
                                f"registry to read digests from, so write tracking_digest and serving_digest instead")
    return PlatformSettings(cloud=cloud, region=region, tags=tags, cloud_layer=cloud_layer, kubernetes=kubernetes)


_CLOUD_SECTIONS: Mapping[str, tuple[str, ...]] = {"aws": ("artifacts", *AWS_SECTIONS),
                                                  "gcp": ("artifacts", *GCP_SECTIONS),
                                                  "azure": ("artifacts", *AZURE_SECTIONS), "local": ("local",)}
"""The sections only one cloud reads; setting one for another cloud would be silently ignored, so it is an error."""


def _reject_other_clouds_sections(args: Mapping[str, Any], cloud: str, prefix: str) -> None:
    readers: dict[str, list[str]] = {}
    for other, sections in _CLOUD_SECTIONS.items():
        for section in sections:
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
        settings = validate_platform_args(args)
        tagged = pulumi.ResourceOptions(transforms=[cost_tag_transform(settings.tags)])
        super().__init__("mlops:index:MlopsPlatform", name, None, pulumi.ResourceOptions.merge(opts, tagged))

        layer = self._cloud_layer(name, settings)
        platform_layer = KubernetesLayer(f"{name}-kubernetes", layer, settings.kubernetes,
                                         opts=pulumi.ResourceOptions(parent=self))
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
        if isinstance(settings.cloud_layer, LocalLayerSettings):
            namespaces = [MLFLOW_NAMESPACE, settings.kubernetes.models_namespace]
            return LocalLayer(f"{name}-local", settings.cloud_layer, client_namespaces=namespaces,
                              opts=pulumi.ResourceOptions(parent=self)).layer
        if isinstance(settings.cloud_layer, AzureLayerSettings):
            return build_azure_layer(name, settings.cloud_layer, parent=self,
                                     provider=azure_provider(f"{name}-azure", settings.cloud_layer, parent=self))
        if isinstance(settings.cloud_layer, GcpLayerSettings):
            gcp_provider = gcp.Provider(
                f"{name}-gcp",
                project=settings.cloud_layer.project,
                region=settings.region,
                default_labels=gcp_default_labels(settings.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            return build_gcp_layer(name, settings.cloud_layer, parent=self, gcp_provider=gcp_provider)
        provider = aws.Provider(
            f"{name}-aws",
            region=settings.region,
            default_tags=aws_default_tags(settings.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return build_aws_layer(name, settings.cloud_layer.layer, _artifact_store_args(settings.cloud_layer.artifacts),
                               parent=self, aws_provider=provider)


def _artifact_store_args(settings: ArtifactStoreSettings) -> ArtifactStoreArgs:
    """The validated settings as the store's arguments: every field the stack set or defaulted, none dropped."""
    return ArtifactStoreArgs(**{key: value for key, value in asdict(settings).items() if value is not None})
