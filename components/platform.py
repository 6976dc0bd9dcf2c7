"""The whole MLOps platform as one component: a cloud layer and, on top of it, the cloud-neutral Kubernetes layer.

``MlopsPlatform`` takes the same settings a stack's config holds (see ``infra/config.py``), validates all of them
before creating anything, creates the cloud providers with the cost tags as provider defaults, and scopes the
cost-tag transform (Azure tags, Kubernetes labels) to everything beneath it, so a program that imports the platform
gets complete tagging without registering anything itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.artifact_store import (
    ArtifactStore,
    ArtifactStoreArgs,
    ArtifactStoreSettings,
    validate_artifact_store_args,
)
from components.tagging import aws_default_tags, cost_tag_transform
from components.tags import CostTags, TagError
from components.validation import ArgumentError, reject_unknown_keys

SUPPORTED_CLOUDS = ("aws",)
"""Clouds whose layer exists. GCP and Azure follow the same contract (DESIGN.md) and are not built yet."""

REGION_PATTERNS: Mapping[str, tuple[str, str]] = {
    "aws": (r"[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-\d",
            "an AWS region such as eu-west-1 or us-east-2"),
}

_ARGS = frozenset({"cloud", "region", "tags", "artifacts"})


class MlopsPlatformArgs(TypedDict):
    """Everything a stack can set. Sections are validated by the component that owns them."""

    cloud: str
    """Which cloud layer to build: one of ``SUPPORTED_CLOUDS``."""
    region: str
    """The cloud region every regional resource lives in."""
    tags: Mapping[str, str]
    """The cost tags (see ``components.tags``): `environment` and `project` are required to build, and the policy pack
    expects `cost-center` and `owner` too."""
    artifacts: NotRequired[Mapping[str, Any]]
    """Arguments of the cloud's artifact store, except ``name_prefix`` (derived from the tags when absent)."""


@dataclass(frozen=True)
class PlatformSettings:
    cloud: str
    region: str
    tags: CostTags
    artifacts: ArtifactStoreSettings


def validate_platform_args(args: Mapping[str, Any], prefix: str = "") -> PlatformSettings:
    """Check every section of ``args``; errors name fields as ``<prefix><section>.<field>``."""
    reject_unknown_keys(args, _ARGS, prefix or "platform")
    cloud = args.get("cloud")
    if cloud not in SUPPORTED_CLOUDS:
        raise ArgumentError(
            f"{prefix}cloud: {cloud!r} is not allowed; use one of {', '.join(SUPPORTED_CLOUDS)} "
            f"(the gcp and azure layers are not built yet)"
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
    artifacts_args = _section(args, "artifacts", prefix)
    artifacts_args.setdefault("name_prefix", default_name_prefix(tags, "artifacts"))
    artifacts = validate_artifact_store_args(artifacts_args, field=f"{prefix}artifacts")
    return PlatformSettings(cloud=cloud, region=region, tags=tags, artifacts=artifacts)


def _section(args: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any]:
    """A copy of one config section (a mapping; absent means empty)."""
    value = args.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{prefix}{key}: {value!r} is not allowed; use a mapping of {key} settings")
    return dict(value)


def default_name_prefix(tags: CostTags, role: str) -> str:
    """A readable, legal name prefix from the project and environment tags, e.g. ``mlops-dev-artifacts-``."""
    prefix = f"{tags.values['project']}-{tags.values['environment']}-{role}".replace("_", "-")
    return prefix[:36].rstrip("-") + "-"


class MlopsPlatform(pulumi.ComponentResource):
    """The MLOps platform of one stack."""

    artifact_bucket: pulumi.Output[str]
    artifact_uri: pulumi.Output[str]

    def __init__(self, name: str, args: MlopsPlatformArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_platform_args(args)
        tagged = pulumi.ResourceOptions(transforms=[cost_tag_transform(settings.tags)])
        super().__init__("mlops:index:MlopsPlatform", name, None, pulumi.ResourceOptions.merge(opts, tagged))

        provider = aws.Provider(
            f"{name}-aws",
            region=settings.region,
            default_tags=aws_default_tags(settings.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_aws = pulumi.ResourceOptions(parent=self, providers={"aws": provider})
        store = ArtifactStore(f"{name}-artifacts", _artifact_store_args(settings.artifacts), opts=on_aws)

        self.artifact_bucket = store.name
        self.artifact_uri = store.uri
        self.register_outputs({"artifact_bucket": self.artifact_bucket, "artifact_uri": self.artifact_uri})


def _artifact_store_args(settings: ArtifactStoreSettings) -> ArtifactStoreArgs:
    args: ArtifactStoreArgs = {
        "name_prefix": settings.name_prefix,
        "noncurrent_days": settings.noncurrent_days,
        "incomplete_upload_days": settings.incomplete_upload_days,
    }
    if settings.kms_key_arn is not None:
        args["kms_key_arn"] = settings.kms_key_arn
    return args
