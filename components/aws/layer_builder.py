"""The AWS layer as the platform loads it from ``mlops_platform.cloud_registry``: its provider, carrying the cost
tags as default tags, and the artifact store's arguments, named after the platform unless the stack names them."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from .artifact_store import ArtifactStoreArgs, ArtifactStoreSettings, validate_artifact_store_args
from .layer import AwsLayerSettings, build_aws_layer, validate_aws_layer_args, validate_registry_lookup
from .regions import REGION_MEANING, REGION_PATTERN
from ..cloud_layer import CloudLayer, GpuCapacity
from ..tagging import aws_default_tags
from ..tags import CostTags
from ..validation import config_section


@dataclass(frozen=True)
class AwsPlatformSettings:
    """The AWS sections of the platform's arguments, validated."""

    artifacts: ArtifactStoreSettings
    layer: AwsLayerSettings


class AwsLayerBuilder:
    region_pattern = REGION_PATTERN
    region_meaning = REGION_MEANING
    registry_lookup = staticmethod(validate_registry_lookup)

    def validate(self, args: Mapping[str, Any], *, region: str, tags: CostTags, name: str,
                 prefix: str, kubernetes_provider_given: bool = False) -> AwsPlatformSettings:
        artifacts = config_section(args, "artifacts", prefix)
        artifacts.setdefault("name_prefix", f"{name}-artifacts-")
        return AwsPlatformSettings(
            artifacts=validate_artifact_store_args(artifacts, field=f"{prefix}artifacts"),
            layer=validate_aws_layer_args(args, region=region, tags=tags, name=name, prefix=prefix),
        )

    def gpu(self, settings: AwsPlatformSettings) -> GpuCapacity | None:
        return settings.layer.gpu

    def build(self, name: str, settings: AwsPlatformSettings, *, region: str, tags: CostTags,
              parent: pulumi.Resource, client_namespaces: list[str]) -> CloudLayer:
        provider = aws.Provider(f"{name}-aws", region=region, default_tags=aws_default_tags(tags),
                                opts=pulumi.ResourceOptions(parent=parent))
        return build_aws_layer(name, settings.layer, _artifact_store_args(settings.artifacts), parent=parent,
                               aws_provider=provider)


def _artifact_store_args(settings: ArtifactStoreSettings) -> ArtifactStoreArgs:
    """The validated settings as the store's arguments: every field the stack set or defaulted, none dropped."""
    return ArtifactStoreArgs(**{key: value for key, value in asdict(settings).items() if value is not None})
