"""The GCP layer as the platform loads it from ``mlops_platform.cloud_registry``: its provider, carrying the cost
tags as default labels, in the stack's project and region."""

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_gcp as gcp

from .layer import GcpLayerSettings, build_gcp_layer, validate_gcp_layer_args, validate_registry_lookup
from .regions import REGION_MEANING, REGION_PATTERN
from ..cloud_layer import CloudLayer, GpuCapacity
from ..tagging import gcp_default_labels
from ..tags import CostTags


class GcpLayerBuilder:
    region_pattern = REGION_PATTERN
    region_meaning = REGION_MEANING
    registry_lookup = staticmethod(validate_registry_lookup)

    def validate(self, args: Mapping[str, Any], *, region: str, tags: CostTags, name: str,
                 prefix: str, kubernetes_provider_given: bool = False) -> GcpLayerSettings:
        return validate_gcp_layer_args(args, region=region, tags=tags, name=name, prefix=prefix)

    def gpu(self, settings: GcpLayerSettings) -> GpuCapacity | None:
        return settings.gpu

    def build(self, name: str, settings: GcpLayerSettings, *, region: str, tags: CostTags,
              parent: pulumi.Resource, client_namespaces: list[str]) -> CloudLayer:
        provider = gcp.Provider(f"{name}-gcp", project=settings.project, region=region,
                                default_labels=gcp_default_labels(tags), opts=pulumi.ResourceOptions(parent=parent))
        return build_gcp_layer(name, settings, parent=parent, gcp_provider=provider)
