"""Keyless AWS credentials for the repository's GitHub Actions workflows: applied once, by hand, per account.

What it gives: the account's IAM OIDC provider for ``token.actions.githubusercontent.com`` (audience
``sts.amazonaws.com``), and two roles that trust it for exact token subjects of one repository
(``mlops_platform.github_oidc``):

- the preview role, for its pull requests (``repo:<owner>/<repo>:pull_request``): read-only managed policies
  (default ``ReadOnlyAccess``), plus reading the state bucket and writing only its lock files;
- the deploy role, for pushes to the deploy branch and jobs of the deploy environment: the managed policies the
  deployment needs (default ``PowerUserAccess``, which has no IAM), IAM limited to names with the platform's prefix
  (``iam_documents.platform_iam_policy``), and reading and writing the state bucket.

What it deliberately does not: trust any other repository, branch, environment or fork, use a wildcard subject,
create an access key, or give the deploy role ``AdministratorAccess``. The roles' ARNs go into the repository's
variables (``AWS_PREVIEW_ROLE_ARN``, ``AWS_DEPLOY_ROLE_ARN``), not secrets: they are not credentials.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from . import iam_documents
from ..github_oidc import ISSUER, GitHubTrust, validate_github_trust
from ..tagging import tagged_options, validated_tags
from ..validation import ArgumentError, field_path, optional_bool, optional_int, reject_unknown_keys

AUDIENCE = "sts.amazonaws.com"
DEFAULT_PREVIEW_POLICY_ARNS = ("arn:aws:iam::aws:policy/ReadOnlyAccess",)
DEFAULT_DEPLOY_POLICY_ARNS = ("arn:aws:iam::aws:policy/PowerUserAccess",)
_MANAGED_POLICY_ARN = r"arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[A-Za-z0-9+=,.@_/-]+"
_ADMIN_POLICY = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/AdministratorAccess")
_BUCKET_ARN = r"arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_KEY_ARN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+"
_NAME_PREFIX = r"[A-Za-z0-9+=,.@_-]{1,32}"
_ARGS = frozenset({"repository", "deploy_branch", "deploy_environment", "preview_policy_arns", "deploy_policy_arns",
                   "platform_name_prefix", "state_bucket_arn", "secrets_key_arn", "create_oidc_provider",
                   "oidc_provider_arn", "max_session_seconds", "tags"})


class CiIdentityArgs(TypedDict):
    """Inputs of the GitHub Actions identities of one repository in one AWS account."""

    repository: str
    """The GitHub repository, ``owner/name``; no other repository can use the roles."""
    deploy_branch: NotRequired[str]
    """The branch whose pushes deploy (default ``main``)."""
    deploy_environment: NotRequired[str]
    """The GitHub environment production deployments run in (default ``production``)."""
    preview_policy_arns: NotRequired[list[str]]
    """Managed policies of the preview role (default ``ReadOnlyAccess``)."""
    deploy_policy_arns: NotRequired[list[str]]
    """Managed policies of the deploy role (default ``PowerUserAccess``); ``AdministratorAccess`` is refused."""
    platform_name_prefix: NotRequired[str]
    """Prefix of the IAM names the platform creates, which the deploy role may manage (default ``mlops-``)."""
    state_bucket_arn: NotRequired[str]
    """The S3 bucket of a self-managed Pulumi backend, when the stacks keep their state there."""
    secrets_key_arn: NotRequired[str]
    """The KMS key of the ``awskms://`` secrets provider, when the stacks use one."""
    create_oidc_provider: NotRequired[bool]
    """Create the account's GitHub OIDC provider (default true); an account has at most one per issuer, so set
    false and pass ``oidc_provider_arn`` when it already exists."""
    oidc_provider_arn: NotRequired[str]
    """The existing GitHub OIDC provider, with ``create_oidc_provider: false``."""
    max_session_seconds: NotRequired[int]
    """How long a role session lasts (900-43200, default 3600)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for the provider and the roles (canonical rules, ``mlops_platform.tags``)."""


@dataclass(frozen=True)
class CiIdentitySettings:
    trust: GitHubTrust
    preview_policy_arns: tuple[str, ...]
    deploy_policy_arns: tuple[str, ...]
    platform_name_prefix: str
    state_bucket_arn: str | None
    secrets_key_arn: str | None
    create_oidc_provider: bool
    oidc_provider_arn: str | None
    max_session_seconds: int


def validate_ci_identity_args(args: Mapping[str, Any], field: str = "ci_identity") -> CiIdentitySettings:
    """Check ``args``; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _ARGS, field)
    trust = validate_github_trust(args, field)
    preview = _policy_arns(args, "preview_policy_arns", field, DEFAULT_PREVIEW_POLICY_ARNS)
    deploy = _policy_arns(args, "deploy_policy_arns", field, DEFAULT_DEPLOY_POLICY_ARNS)
    for key, arns in (("preview_policy_arns", preview), ("deploy_policy_arns", deploy)):
        for index, arn in enumerate(arns):
            if _ADMIN_POLICY.fullmatch(arn):
                raise ArgumentError(f"{field_path(field, key)}[{index}]: {arn!r} is not allowed; a CI role never "
                                    f"gets AdministratorAccess (the deploy role manages IAM under "
                                    f"platform_name_prefix instead)")
    prefix = args.get("platform_name_prefix", "mlops-")
    if not isinstance(prefix, str) or not re.fullmatch(_NAME_PREFIX, prefix):
        raise ArgumentError(f"{field_path(field, 'platform_name_prefix')}: {prefix!r} is not allowed; use 1-32 "
                            f"characters of an IAM name, such as mlops-")
    bucket = _optional_match(args, "state_bucket_arn", field, _BUCKET_ARN, "an S3 bucket ARN (arn:aws:s3:::name)")
    key = _optional_match(args, "secrets_key_arn", field, _KEY_ARN, "a KMS key or alias ARN")
    create = optional_bool(args, "create_oidc_provider", field, True)
    existing = _optional_match(args, "oidc_provider_arn", field,
                               r"arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com",
                               "the ARN of the account's token.actions.githubusercontent.com OIDC provider")
    if create == (existing is not None):
        raise ArgumentError(f"{field_path(field, 'oidc_provider_arn')}: {existing!r} is not allowed with "
                            f"create_oidc_provider {str(create).lower()}; pass it exactly when "
                            f"create_oidc_provider is false")
    if "tags" in args:
        validated_tags(args["tags"], field_path(field, "tags"))
    return CiIdentitySettings(
        trust=trust, preview_policy_arns=preview, deploy_policy_arns=deploy, platform_name_prefix=prefix,
        state_bucket_arn=bucket, secrets_key_arn=key, create_oidc_provider=create, oidc_provider_arn=existing,
        max_session_seconds=optional_int(args, "max_session_seconds", field, 3600, 900, 43200))


class CiIdentity(pulumi.ComponentResource):
    """The GitHub OIDC provider of an AWS account and the preview and deploy roles of one repository."""

    oidc_provider_arn: pulumi.Output[str]
    preview_role_arn: pulumi.Output[str]
    """For ``AWS_PREVIEW_ROLE_ARN``: pull requests of the repository."""
    deploy_role_arn: pulumi.Output[str]
    """For ``AWS_DEPLOY_ROLE_ARN``: the deploy branch and the deploy environment."""

    def __init__(self, name: str, args: CiIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_ci_identity_args(args)
        super().__init__("mlops:aws:CiIdentity", name, None,
                         tagged_options(args.get("tags"), opts, "ci_identity.tags"))
        child = pulumi.ResourceOptions(parent=self)
        if settings.create_oidc_provider:
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github", url=ISSUER, client_id_lists=[AUDIENCE],
                opts=child.merge(pulumi.ResourceOptions(protect=True)))
            provider_arn: pulumi.Output[str] = provider.arn
        else:
            provider_arn = pulumi.Output.from_input(settings.oidc_provider_arn)
        caller = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        roles = {}
        for role_name, subjects, policies, write in (
                ("preview", settings.trust.preview_subjects, settings.preview_policy_arns, False),
                ("deploy", settings.trust.deploy_subjects, settings.deploy_policy_arns, True)):
            role = aws.iam.Role(
                f"{name}-{role_name}",
                description=f"GitHub Actions {role_name} of {settings.trust.repository}: {', '.join(subjects)}",
                assume_role_policy=provider_arn.apply(
                    lambda arn, subjects=subjects: iam_documents.github_actions_trust_policy(arn, subjects)),
                max_session_duration=settings.max_session_seconds,
                opts=child,
            )
            for index, policy_arn in enumerate(policies):
                aws.iam.RolePolicyAttachment(f"{name}-{role_name}-managed-{index}", role=role.name,
                                             policy_arn=policy_arn, opts=child)
            if settings.state_bucket_arn:
                aws.iam.RolePolicy(f"{name}-{role_name}-state", role=role.id,
                                   policy=iam_documents.state_access_policy(settings.state_bucket_arn,
                                                                            settings.secrets_key_arn, write=write),
                                   opts=child)
            roles[role_name] = role
        aws.iam.RolePolicy(
            f"{name}-deploy-platform-iam", role=roles["deploy"].id,
            policy=pulumi.Output.all(caller.account_id, partition.partition).apply(
                lambda values: iam_documents.platform_iam_policy(values[0], values[1],
                                                                 settings.platform_name_prefix)),
            opts=child)
        self.oidc_provider_arn = provider_arn
        self.preview_role_arn = roles["preview"].arn
        self.deploy_role_arn = roles["deploy"].arn
        self.register_outputs({"oidc_provider_arn": self.oidc_provider_arn,
                               "preview_role_arn": self.preview_role_arn, "deploy_role_arn": self.deploy_role_arn})


def _policy_arns(args: Mapping[str, Any], key: str, field: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = args.get(key, list(default))
    if not isinstance(value, list) or not value:
        raise ArgumentError(f"{field_path(field, key)}: {value!r} is not allowed; use a non-empty list of managed "
                            f"policy ARNs")
    for index, arn in enumerate(value):
        if not isinstance(arn, str) or not re.fullmatch(_MANAGED_POLICY_ARN, arn):
            raise ArgumentError(f"{field_path(field, key)}[{index}]: {arn!r} is not allowed; use a managed policy "
                                f"ARN such as arn:aws:iam::aws:policy/ReadOnlyAccess")
    return tuple(value)


def _optional_match(args: Mapping[str, Any], key: str, field: str, pattern: str, meaning: str) -> str | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ArgumentError(f"{field_path(field, key)}: {value!r} is not allowed; use {meaning}")
    return value
