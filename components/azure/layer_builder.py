"""The Azure layer as the platform loads it from ``mlops_platform.cloud_registry``: the stack's one azure-native
provider (Azure Native has no default tags; the platform's cost-tag transform tags each resource)."""

from collections.abc import Mapping
from typing import Any

import pulumi

from .layer import (
    LOCATION_MEANING,
    LOCATION_PATTERN,
    AzureLayerSettings,
    azure_provider,
    build_azure_layer,
    validate_azure_layer_args,
)
from ..cloud_layer import CloudLayer, GpuCapacity
from ..tags import CostTags


class AzureLayerBuilder:
    region_pattern = LOCATION_PATTERN
    region_meaning = LOCATION_MEANING
    registry_lookup = None

    def validate(self, args: Mapping[str, Any], *, region: str, tags: CostTags, name: str,
                 prefix: str, kubernetes_provider_given: bool = False) -> AzureLayerSettings:
        return validate_azure_layer_args(args, location=region, name=name, prefix=prefix)

    def gpu(self, settings: AzureLayerSettings) -> GpuCapacity | None:
        return settings.gpu

    def build(self, name: str, settings: AzureLayerSettings, *, region: str, tags: CostTags,
              parent: pulumi.Resource, client_namespaces: list[str]) -> CloudLayer:
        return build_azure_layer(name, settings, parent=parent,
                                 provider=azure_provider(f"{name}-azure", settings, parent=parent))
