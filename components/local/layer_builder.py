"""The ``local`` target as the platform loads it from ``mlops_platform.cloud_registry``: the in-cluster data
services beside the namespaces the platform's pods run in. It has no cloud region, only a label for one. The
cluster is the one ``local.context`` names, or the Kubernetes provider the caller gave the platform."""

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import pulumi

from .layer import LocalLayer, LocalLayerArgs, LocalLayerSettings, validate_local_layer_args
from ..cloud_layer import CloudLayer, GpuCapacity
from ..tags import CostTags


class LocalLayerBuilder:
    region_pattern = r"[a-z0-9][a-z0-9-]{0,62}"
    region_meaning = "a label such as local (the local target has no region; it only names it)"
    registry_lookup = None

    def validate(self, args: Mapping[str, Any], *, region: str, tags: CostTags, name: str,
                 prefix: str, kubernetes_provider_given: bool = False) -> LocalLayerSettings:
        return validate_local_layer_args(args.get("local"), field=f"{prefix}local",
                                         provider_given=kubernetes_provider_given)

    def gpu(self, settings: LocalLayerSettings) -> GpuCapacity | None:
        return None

    def build(self, name: str, settings: LocalLayerSettings, *, region: str, tags: CostTags,
              parent: pulumi.Resource, client_namespaces: list[str]) -> CloudLayer:
        # The caller's provider, if any, reaches the layer through its parent (the platform's options).
        return LocalLayer(f"{name}-local", {**_local_layer_args(settings), "client_namespaces": client_namespaces,
                                            "tags": dict(tags.values)},
                          opts=pulumi.ResourceOptions(parent=parent)).layer


def _local_layer_args(settings: LocalLayerSettings) -> LocalLayerArgs:
    """The validated local section as the layer's arguments (the caller's provider stands in for a None context)."""
    return LocalLayerArgs(**{key: value for key, value in asdict(settings).items() if value is not None})
