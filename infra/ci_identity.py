"""The program's second mode: a stack whose config has ``mlops:ci_identity`` builds the cloud identities the CI
workflows sign in with, instead of a platform.

A team applies such a stack once per cloud account, with its own administrator credentials (the CI's identities
cannot grant themselves trust), then copies its outputs into the repository's variables (README, "CI from zero").
The section names the cloud and holds that cloud's ``CiIdentityArgs`` (``components/<cloud>/ci_identity.py``);
``mlops:tags`` is the only other key read. The mode is chosen by the section, so ``infra/`` stays one program.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pulumi

from mlops_platform.cloud_registry import require_cloud_sdk
from mlops_platform.tagging import aws_default_tags, gcp_default_labels
from mlops_platform.tags import CostTags, TagError
from mlops_platform.validation import ArgumentError
from .config import NAMESPACE, ConfigError

KEY = f"{NAMESPACE}:ci_identity"
CLOUDS = ("aws", "gcp", "azure")
_READ_KEYS = (KEY, f"{NAMESPACE}:tags")


def is_ci_identity_stack(config: Mapping[str, str]) -> bool:
    return KEY in config


def run_ci_identity(config: Mapping[str, str]) -> None:
    """Build the CI identities the stack's ``mlops:ci_identity`` section describes, and export what the
    repository's variables need."""
    for full_key in sorted(config):
        if full_key.startswith(f"{NAMESPACE}:") and full_key not in _READ_KEYS:
            raise ConfigError(f"{full_key}: not read by a CI identity stack; it sets only {', '.join(_READ_KEYS)}")
    section = _decoded(KEY, config[KEY])
    tags_value = _decoded(f"{NAMESPACE}:tags", config.get(f"{NAMESPACE}:tags", "{}"))
    try:
        tags = CostTags.from_mapping(tags_value, field=f"{NAMESPACE}:tags")
    except TagError as error:
        raise ConfigError(str(error)) from None
    cloud = section.pop("cloud", None)
    if cloud not in CLOUDS:
        raise ConfigError(f"{KEY}.cloud: {cloud!r} is not allowed; use one of {', '.join(CLOUDS)}")
    args = {**section, "tags": dict(tags.values)}
    try:
        require_cloud_sdk(cloud, f"{KEY}.cloud")
        _BUILDERS[cloud](args, tags)
    except ArgumentError as error:
        raise ConfigError(str(error)) from None


# Each cloud's SDK and components are imported only when a stack asks for that cloud: an installation with one
# cloud's extra builds that cloud's identities without the others' SDKs.

def _aws(args: dict[str, Any], tags: CostTags) -> None:
    import pulumi_aws as aws

    from mlops_platform.aws.ci_identity import CiIdentity as AwsCiIdentity
    from mlops_platform.aws.ci_identity import validate_ci_identity_args as validate_aws
    from mlops_platform.aws.regions import REGION_MEANING, REGION_PATTERN

    region = args.pop("region", None)
    if not isinstance(region, str) or not re.fullmatch(REGION_PATTERN, region):
        raise ConfigError(f"{KEY}.region: {region!r} is not allowed; use {REGION_MEANING}")
    validate_aws(args, field=KEY)
    provider = aws.Provider("ci-aws", region=region, default_tags=aws_default_tags(tags))
    identity = AwsCiIdentity("ci", args, opts=pulumi.ResourceOptions(providers=[provider]))
    pulumi.export("AWS_PREVIEW_ROLE_ARN", identity.preview_role_arn)
    pulumi.export("AWS_DEPLOY_ROLE_ARN", identity.deploy_role_arn)
    pulumi.export("AWS_REGION", region)


def _gcp(args: dict[str, Any], tags: CostTags) -> None:
    import pulumi_gcp as gcp

    from mlops_platform.gcp.ci_identity import CiIdentity as GcpCiIdentity
    from mlops_platform.gcp.ci_identity import validate_ci_identity_args as validate_gcp

    settings = validate_gcp(args, field=KEY)
    provider = gcp.Provider("ci-gcp", project=settings.project, default_labels=gcp_default_labels(tags))
    identity = GcpCiIdentity("ci", args, opts=pulumi.ResourceOptions(providers=[provider]))
    pulumi.export("GCP_WORKLOAD_IDENTITY_PROVIDER", identity.workload_identity_provider)
    pulumi.export("GCP_PREVIEW_SERVICE_ACCOUNT", identity.preview_service_account)
    pulumi.export("GCP_DEPLOY_SERVICE_ACCOUNT", identity.deploy_service_account)


def _azure(args: dict[str, Any], tags: CostTags) -> None:
    import pulumi_azure_native as azure

    from mlops_platform.azure.ci_identity import CiIdentity as AzureCiIdentity
    from mlops_platform.azure.ci_identity import validate_ci_identity_args as validate_azure

    settings = validate_azure(args, field=KEY)
    provider = azure.Provider("ci-azure", subscription_id=settings.subscription_id, location=settings.location)
    identity = AzureCiIdentity("ci", args, opts=pulumi.ResourceOptions(providers=[provider]))
    pulumi.export("AZURE_PREVIEW_CLIENT_ID", identity.preview_client_id)
    pulumi.export("AZURE_DEPLOY_CLIENT_ID", identity.deploy_client_id)
    pulumi.export("AZURE_TENANT_ID", identity.tenant_id)
    pulumi.export("AZURE_SUBSCRIPTION_ID", settings.subscription_id)


_BUILDERS = {"aws": _aws, "gcp": _gcp, "azure": _azure}


def _decoded(key: str, raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as error:
        raise ConfigError(f"{key}: {raw!r} is not allowed; it is not valid JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: {value!r} is not allowed; use a mapping")
    return dict(value)
