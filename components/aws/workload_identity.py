"""IAM Roles for Service Accounts (IRSA): cloud credentials for exactly one Kubernetes ServiceAccount, no keys.

What it gives: an IAM role whose trust policy admits a web identity token from the cluster's OIDC provider only when
its subject is ``system:serviceaccount:<namespace>:<name>`` and its audience is ``sts.amazonaws.com``, and an inline
policy (``iam_documents.artifact_access_policy``) that lets it list, read and (unless read-only) write objects of
one bucket under one prefix, plus use of the bucket's KMS key when it has one; optionally ``rds-db:connect`` as
exactly one database user (``database_user_arn``, the MLflow server's IAM database authentication) and reading
exactly one secret (``secret_arn``, the bootstrap Job's RDS-managed master secret). The output is the annotation to
put on the ServiceAccount.

What it deliberately does not: grant any bucket configuration, policy or IAM action, anything on other buckets,
other database users or other secrets.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
from pulumi import Input

from . import iam_documents
from ..service_account_binding import validate_service_account_binding
from ..tagging import tagged_options
from ..validation import (
    OBJECT_KEY_PREFIX,
    ArgumentError,
    field_path,
    optional_bool,
    reject_unknown_keys,
)

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
_ARGS = frozenset({"oidc_provider_arn", "oidc_issuer", "namespace", "service_account", "bucket_arn", "prefix",
                   "kms_key_arn", "read_only", "database_user_arn", "secret_arn", "secret_kms_key_arn", "tags"})


class WorkloadIdentityArgs(TypedDict):
    """Inputs of a workload identity: which ServiceAccount, and which bucket (and prefix) it may use."""

    oidc_provider_arn: Input[str]
    """The cluster's IAM OIDC provider."""
    oidc_issuer: Input[str]
    """The cluster's OIDC issuer URL (``https://oidc.eks...``)."""
    namespace: str
    """The ServiceAccount's namespace (a DNS label)."""
    service_account: str
    """The ServiceAccount's name (a DNS subdomain, at most 253 characters)."""
    bucket_arn: NotRequired[Input[str]]
    """The artifact bucket the workload may use; no other (absent: no artifact access, e.g. the bootstrap Job)."""
    prefix: NotRequired[str]
    """Key prefix the workload is confined to, ending in '/' (default: the whole bucket)."""
    kms_key_arn: NotRequired[Input[str] | None]
    """The bucket's customer-managed key, when it has one."""
    read_only: NotRequired[bool]
    """Read and list only (a model endpoint); default false (MLflow writes artifacts)."""
    database_user_arn: NotRequired[Input[str]]
    """``arn:aws:rds-db:...:dbuser:<resource id>/<user>``: sign in to RDS as that one user with IAM tokens."""
    secret_arn: NotRequired[Input[str]]
    """One Secrets Manager secret the workload may read (the RDS-managed master secret, for the bootstrap Job)."""
    secret_kms_key_arn: NotRequired[Input[str]]
    """The customer-managed key of ``secret_arn``."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class WorkloadIdentitySettings:
    oidc_provider_arn: Any
    oidc_issuer: Any
    namespace: str
    service_account: str
    bucket_arn: Any
    prefix: str
    kms_key_arn: Any
    read_only: bool
    database_user_arn: Any = None
    secret_arn: Any = None
    secret_kms_key_arn: Any = None


def validate_workload_identity_args(args: Mapping[str, Any], field: str = "workload_identity") -> WorkloadIdentitySettings:
    """Check ``args``; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _ARGS, field)
    for key in ("oidc_provider_arn", "oidc_issuer"):
        if args.get(key) is None:
            raise ArgumentError(f"{field_path(field, key)}: missing; it is required")
    if all(args.get(key) is None for key in ("bucket_arn", "database_user_arn", "secret_arn")):
        raise ArgumentError(f"{field_path(field, 'bucket_arn')}: missing; an identity needs at least one of "
                            f"bucket_arn, database_user_arn or secret_arn")
    for key, needs in (("prefix", "bucket_arn"), ("kms_key_arn", "bucket_arn"), ("secret_kms_key_arn", "secret_arn")):
        if args.get(key) is not None and args.get(needs) is None:
            raise ArgumentError(f"{field_path(field, key)}: {args[key]!r} is not allowed without {needs}")
    issuer = args["oidc_issuer"]
    if isinstance(issuer, str) and not issuer.startswith("https://"):
        raise ArgumentError(f"{field_path(field, 'oidc_issuer')}: {issuer!r} is not allowed; use the cluster's "
                            f"https:// OIDC issuer URL")
    namespace, account = validate_service_account_binding(args, field)
    prefix = args.get("prefix", "")
    if not isinstance(prefix, str) or (prefix and not re.fullmatch(OBJECT_KEY_PREFIX, prefix)):
        raise ArgumentError(f"{field_path(field, 'prefix')}: {prefix!r} is not allowed; use a key prefix ending in "
                            f"'/' such as models/ (letters, digits, !_.'()-, no wildcards), or leave it out for "
                            f"the whole bucket")
    return WorkloadIdentitySettings(
        oidc_provider_arn=args["oidc_provider_arn"],
        oidc_issuer=issuer,
        namespace=namespace,
        service_account=account,
        bucket_arn=args.get("bucket_arn"),
        prefix=prefix,
        kms_key_arn=args.get("kms_key_arn"),
        read_only=optional_bool(args, "read_only", field, False),
        database_user_arn=args.get("database_user_arn"),
        secret_arn=args.get("secret_arn"),
        secret_kms_key_arn=args.get("secret_kms_key_arn"),
    )


class WorkloadIdentity(pulumi.ComponentResource):
    """An IAM role for one Kubernetes ServiceAccount, with access to its own bucket prefix only."""

    role_arn: pulumi.Output[str]
    service_account_annotations: pulumi.Output[dict[str, str]]
    """``{"eks.amazonaws.com/role-arn": <role arn>}``: put it on the ServiceAccount."""
    service_account_labels: pulumi.Output[dict[str, str]]
    """Empty on AWS (IRSA needs no label); present for the contract."""

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_workload_identity_args(args)
        super().__init__("mlops:aws:WorkloadIdentity", name, None,
                         tagged_options(args.get("tags"), opts, "workload_identity.tags"))
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            description=f"IRSA role of system:serviceaccount:{settings.namespace}:{settings.service_account}",
            assume_role_policy=pulumi.Output.all(settings.oidc_provider_arn, settings.oidc_issuer).apply(
                lambda values: iam_documents.irsa_trust_policy(values[0], values[1], settings.namespace,
                                                               settings.service_account)
            ),
            max_session_duration=3600,
            opts=child,
        )
        if settings.bucket_arn is not None:
            aws.iam.RolePolicy(
                f"{name}-artifacts",
                role=role.id,
                policy=pulumi.Output.all(settings.bucket_arn, settings.kms_key_arn).apply(
                    lambda values: iam_documents.artifact_access_policy(values[0], settings.prefix, values[1],
                                                                        settings.read_only)
                ),
                opts=child,
            )
        if settings.database_user_arn is not None:
            aws.iam.RolePolicy(
                f"{name}-database",
                role=role.id,
                policy=pulumi.Output.from_input(settings.database_user_arn).apply(
                    iam_documents.database_connect_policy),
                opts=child,
            )
        if settings.secret_arn is not None:
            aws.iam.RolePolicy(
                f"{name}-secret",
                role=role.id,
                policy=pulumi.Output.all(settings.secret_arn, settings.secret_kms_key_arn).apply(
                    lambda values: iam_documents.secret_read_policy(values[0], values[1])),
                opts=child,
            )
        self.role_arn = role.arn
        self.service_account_annotations = role.arn.apply(lambda arn: {ROLE_ARN_ANNOTATION: arn})
        self.service_account_labels = pulumi.Output.from_input({})
        self.register_outputs({"role_arn": self.role_arn,
                               "service_account_annotations": self.service_account_annotations,
                               "service_account_labels": self.service_account_labels})
