"""The ``local`` target as the platform loads it from ``mlops_platform.cloud_registry``: the in-cluster data
services beside the namespaces the platform's pods run in. It has no cloud region, only a label for one."""

from collections.abc import Mapping
from typing import Any

import pulumi

from .layer import LocalLayer, LocalLayerSettings, validate_local_layer_args
from ..cloud_layer import CloudLayer, GpuCapacity
from ..tags import CostTags


class LocalLayerBuilder:
    region_pattern = r"[a-z0-9][a-z0-9-]{0,62}"
    region_meaning = "a label such as local (the local target has no region; it only names it)"
    registry_lookup = None

    def validate(self, args: Mapping[str, Any], *, region: str, tags: CostTags, name: str,
                 prefix: str) -> LocalLayerSettings:
        return validate_local_layer_args(args.get("local"), field=f"{prefix}local")

    def gpu(self, settings: LocalLayerSettings) -> GpuCapacity | None:
        return None

    def build(self, name: str, settings: LocalLayerSettings, *, region: str, tags: CostTags,
              parent: pulumi.Resource, client_namespaces: list[str]) -> CloudLayer:
        return LocalLayer(f"{name}-local", settings, client_namespaces=client_namespaces,
                          opts=pulumi.ResourceOptions(parent=parent)).layer
