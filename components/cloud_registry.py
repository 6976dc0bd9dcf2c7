"""Which cloud layers exist, and how the platform loads the one a stack chooses.

Each entry names the module and class of a cloud's :class:`CloudLayerBuilder` and the provider SDK it needs. The
module is imported only when its cloud is chosen, so a program that builds an AWS platform never imports
pulumi-gcp or pulumi-azure-native, and an installation without a cloud's extra gets a one-line error naming the
extra instead of an ``ImportError``.

The sections an entry lists are the top-level platform arguments only that cloud reads; the platform rejects them
for any other cloud without importing it.
"""

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pulumi

from .cloud_layer import CloudLayer, GpuCapacity
from .tags import CostTags
from .validation import ArgumentError

DISTRIBUTION = "pulumi-mlops-platform"
"""The name ``pip install`` knows the library by (its extras install the cloud SDKs)."""

Settings = TypeVar("Settings")


class CloudLayerBuilder(Protocol[Settings]):
    """What the platform asks of a cloud layer: validate its sections, then build the cloud-layer contract."""

    region_pattern: str
    """A regular expression every region (location) of the cloud matches."""
    region_meaning: str
    """What ``region_pattern`` allows, in words, for the error message."""
    registry_lookup: Callable[[str, str, str], None] | None
    """``(registry, region, field)``: raises ``ArgumentError`` unless the layer can read image digests from
    ``registry`` in ``region`` (``images.digests: registry``); None when the cloud has no registry to read."""

    def validate(self, args: Mapping[str, Any], *, region: str, tags: CostTags, name: str,
                 prefix: str, kubernetes_provider_given: bool = False) -> Settings:
        """Check the cloud's sections of the platform ``args``; errors name ``<prefix><section>.<field>``.
        ``kubernetes_provider_given``: the caller passed the platform a Kubernetes provider (an existing cluster);
        only a layer that deploys into an existing cluster (``local``) uses it, the others create their cluster."""
        ...

    def gpu(self, settings: Settings) -> GpuCapacity | None:
        """The GPU capacity the validated settings will provide, before anything is built."""
        ...

    def build(self, name: str, settings: Settings, *, region: str, tags: CostTags, parent: pulumi.Resource,
              client_namespaces: list[str]) -> CloudLayer:
        """Create the cloud's providers (carrying ``tags`` where the cloud has provider defaults) and its building
        blocks beneath ``parent``; ``client_namespaces`` are where the platform's pods run."""
        ...


@dataclass(frozen=True)
class CloudLayerEntry:
    module: str
    """Module of the builder, relative to this package (``.aws.layer``)."""
    builder: str
    """Class name of the builder in ``module``."""
    sections: tuple[str, ...]
    """Top-level platform arguments only this cloud reads."""
    sdk: str | None
    """Import name of the provider SDK the layer needs beyond the core dependencies; None when it needs none."""
    extra: str | None
    """The extra of the distribution that installs ``sdk``."""


CLOUD_LAYERS: Mapping[str, CloudLayerEntry] = {
    "aws": CloudLayerEntry(".aws.layer_builder", "AwsLayerBuilder",
                           ("artifacts", "network", "cluster", "database", "karpenter"), "pulumi_aws", "aws"),
    "azure": CloudLayerEntry(".azure.layer_builder", "AzureLayerBuilder",
                             ("artifacts", "azure", "network", "cluster", "database"), "pulumi_azure_native", "azure"),
    "gcp": CloudLayerEntry(".gcp.layer_builder", "GcpLayerBuilder",
                           ("artifacts", "gcp", "network", "cluster", "database"), "pulumi_gcp", "gcp"),
    "local": CloudLayerEntry(".local.layer_builder", "LocalLayerBuilder", ("local",), None, None),
}
"""Every cloud layer; each follows the same contract (``mlops_platform.cloud_layer``)."""

SUPPORTED_CLOUDS = tuple(CLOUD_LAYERS)


class MissingCloudSdk(ArgumentError):
    """The chosen cloud's provider SDK is not installed (its extra was left out)."""


def require_cloud_sdk(cloud: str, field: str) -> None:
    """Raise :class:`MissingCloudSdk`, naming the extra to install, when ``cloud``'s provider SDK is missing."""
    entry = CLOUD_LAYERS[cloud]
    if entry.sdk is None:
        return
    if importlib.util.find_spec(entry.sdk) is None:
        raise MissingCloudSdk(
            f"{field}: {cloud!r} needs the {entry.sdk} package, which is not installed; install the {entry.extra} "
            f"extra: pip install \"{DISTRIBUTION}[{entry.extra}]\""
        )


def load_cloud_layer(cloud: str, field: str = "cloud") -> CloudLayerBuilder[Any]:
    """The builder of ``cloud`` (a key of ``CLOUD_LAYERS``), importing its module now."""
    require_cloud_sdk(cloud, field)
    entry = CLOUD_LAYERS[cloud]
    module = importlib.import_module(entry.module, __package__)
    return getattr(module, entry.builder)()
