"""An S3 bucket for MLflow artifacts and model files: private, encrypted, versioned, TLS-only, protected.

What it gives: the bucket with all four public-access blocks, bucket-owner-enforced object ownership (ACLs off),
default encryption with SSE-KMS and a bucket key (a rotating, protected key of the store's own, whose policy lets
the account's principals use it through S3 only, or the ``kms_key_arn`` given), versioning, a bucket
policy that denies any request without TLS 1.2+, and lifecycle rules that expire replaced object versions and abort
incomplete multipart uploads. Server access logs go to a second bucket hardened the same way, which only the S3
logging service of this account may write to, for this bucket only; it uses SSE-S3, the only default encryption S3
server access logging can deliver to. Both buckets are protected from deletion, and none of their inputs depend on
tags, so a tag change never replaces them.

What it deliberately does not: grant anyone access. Workload access is the job of
``mlops_platform.aws.workload_identity``; the bucket policy only denies.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
from pulumi import Input

from . import iam_documents
from ..tagging import tagged_options
from ..validation import optional_bool, optional_int, optional_text, reject_unknown_keys, required_text

_ARGS = frozenset({"name_prefix", "kms_key_arn", "noncurrent_days", "incomplete_upload_days", "access_logging",
                   "access_log_days", "tags"})
ACCESS_LOG_PREFIX = "s3-access/"
_KMS_KEY_ARN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})"
"""A key ARN, not an alias: workload policies grant kms:Decrypt on it, and IAM does not authorise through aliases."""


class ArtifactStoreArgs(TypedDict):
    """Inputs of an artifact store. Every field has a safe default unless it names the workload."""

    name_prefix: str
    """Prefix of the bucket name (3-37 characters: lowercase letters, digits, '-'); AWS adds a unique suffix. A plain
    string, because the log bucket's name derives from it."""
    kms_key_arn: NotRequired[Input[str]]
    """Customer-managed KMS key ARN (not an alias) to use instead of the store's own key."""
    noncurrent_days: NotRequired[int]
    """Days a replaced or deleted object version is kept (1-3650, default 30)."""
    incomplete_upload_days: NotRequired[int]
    """Days after which an unfinished multipart upload is aborted (1-365, default 7)."""
    access_logging: NotRequired[bool]
    """Server access logs to a dedicated log bucket (default true); false is an explicit opt-out."""
    access_log_days: NotRequired[int]
    """Days access logs are kept (1-3650, default 365)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class ArtifactStoreSettings:
    name_prefix: str
    kms_key_arn: Any
    noncurrent_days: int
    incomplete_upload_days: int
    access_logging: bool
    access_log_days: int


def validate_artifact_store_args(args: ArtifactStoreArgs, field: str = "artifact_store") -> ArtifactStoreSettings:
    """Check ``args`` and fill defaults; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _ARGS, field)
    return ArtifactStoreSettings(
        name_prefix=required_text(
            args, "name_prefix", field, r"[a-z0-9][a-z0-9-]{1,35}[a-z0-9-]",
            "3 to 37 lowercase letters, digits or '-', starting with a letter or digit", plain=True,
        ),
        kms_key_arn=optional_text(
            args, "kms_key_arn", field, _KMS_KEY_ARN,
            "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>); aliases cannot be granted in IAM policies",
        ),
        noncurrent_days=optional_int(args, "noncurrent_days", field, 30, 1, 3650),
        incomplete_upload_days=optional_int(args, "incomplete_upload_days", field, 7, 1, 365),
        access_logging=optional_bool(args, "access_logging", field, True),
        access_log_days=optional_int(args, "access_log_days", field, 365, 1, 3650),
    )


class ArtifactStore(pulumi.ComponentResource):
    """A private, encrypted, versioned, TLS-only S3 bucket for MLflow artifacts and model files."""

    name: pulumi.Output[str]
    """The bucket name."""
    arn: pulumi.Output[str]
    uri: pulumi.Output[str]
    """``s3://<bucket>``: the MLflow artifact destination."""
    kms_key_arn: pulumi.Output[str]
    """The key that encrypts the objects; workload identities need kms use on it (``WorkloadIdentity`` grants it)."""
    pod_env: pulumi.Output[dict[str, str]]
    """Environment a pod needs, besides its workload identity, to reach the bucket."""

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_artifact_store_args(args)
        super().__init__("mlops:aws:ArtifactStore", name, None,
                         tagged_options(args.get("tags"), opts, "artifact_store.tags"))

        key_arn = settings.kms_key_arn if settings.kms_key_arn is not None else self._own_key(name).arn
        bucket = _hardened_bucket(
            name, self, settings.name_prefix, _encryption_rule(key_arn),
            _lifecycle_rules(settings.noncurrent_days, settings.incomplete_upload_days), tls_only_policy,
        )
        if settings.access_logging:
            self._log_access(name, bucket, settings)

        self.name = bucket.bucket
        self.arn = bucket.arn
        self.uri = bucket.bucket.apply(lambda bucket_name: f"s3://{bucket_name}")
        self.kms_key_arn = pulumi.Output.from_input(key_arn)
        self.pod_env = bucket.region.apply(lambda region: {"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
        self.register_outputs(
            {"name": self.name, "arn": self.arn, "uri": self.uri, "kms_key_arn": self.kms_key_arn,
             "pod_env": self.pod_env}
        )

    def _own_key(self, name: str) -> aws.kms.Key:
        """The store's own key: administered through IAM, used by the account's principals through S3 only (their
        IAM policies, such as a workload identity's, decide which of them may)."""
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        return aws.kms.Key(
            f"{name}-key",
            description="Encrypts the MLflow artifacts and model files",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(account, partition, region).apply(
                lambda values: iam_documents.service_key_policy(values[0], values[1], [f"s3.{values[2]}.amazonaws.com"])),
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )

    def _log_access(self, name: str, source: aws.s3.Bucket, settings: ArtifactStoreSettings) -> None:
        """A log bucket that only S3's logging service may write to, for ``source`` only, and the logging itself."""
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        log_prefix = f"{settings.name_prefix.rstrip('-')[:28]}-logs-"

        def log_bucket_policy(log_bucket_arn: str) -> pulumi.Output[str]:
            return pulumi.Output.all(source.arn, account).apply(
                lambda values: access_log_bucket_policy(log_bucket_arn, values[0], values[1])
            )

        logs = _hardened_bucket(
            f"{name}-access-logs", self, log_prefix, _encryption_rule(None),
            [*_lifecycle_rules(settings.access_log_days, settings.incomplete_upload_days),
             _expire_current_rule(settings.access_log_days)],
            log_bucket_policy,
        )
        aws.s3.BucketLogging(
            f"{name}-access-logging",
            bucket=source.id,
            target_bucket=logs.id,
            target_prefix=ACCESS_LOG_PREFIX,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )


def _hardened_bucket(
    name: str,
    parent: pulumi.Resource,
    name_prefix: Any,
    encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleArgs,
    lifecycle: list[aws.s3.BucketLifecycleConfigurationRuleArgs],
    policy: Callable[[str], Any],
) -> aws.s3.Bucket:
    """A protected bucket with every public-access block, ACLs off, default encryption, versioning, lifecycle rules
    and the bucket policy ``policy(bucket_arn)``, applied once the public-access block is in place."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(f"{name}-bucket", bucket_prefix=name_prefix, force_destroy=False,
                           opts=child.merge(pulumi.ResourceOptions(protect=True)))
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=child,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(f"{name}-encryption", bucket=bucket.id, rules=[encryption],
                                                   opts=child)
    aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=child,
    )
    aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket.id, rules=lifecycle, opts=child)
    aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.id,
        policy=bucket.arn.apply(policy),
        opts=child.merge(pulumi.ResourceOptions(depends_on=[public_access])),
    )
    return bucket


def tls_only_policy(bucket_arn: str) -> str:
    """A bucket policy that denies every request made without TLS, or with TLS older than 1.2."""
    return json.dumps({"Version": "2012-10-17", "Statement": _tls_only_statements(bucket_arn)}, sort_keys=True)


def access_log_bucket_policy(log_bucket_arn: str, source_bucket_arn: str, account_id: str) -> str:
    """The log bucket's policy: TLS only, and S3's logging service may write the logs of ``source_bucket_arn`` of
    ``account_id`` under the access-log prefix, and nothing else."""
    allow_logging = {
        "Sid": "AllowServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{log_bucket_arn}/{ACCESS_LOG_PREFIX}*",
        "Condition": {"ArnLike": {"aws:SourceArn": source_bucket_arn}, "StringEquals": {"aws:SourceAccount": account_id}},
    }
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [*_tls_only_statements(log_bucket_arn), allow_logging]}, sort_keys=True
    )


def _tls_only_statements(bucket_arn: str) -> list[dict[str, Any]]:
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyOutdatedTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ]


def _encryption_rule(kms_key_arn: Any) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgs:
    if kms_key_arn is None:
        default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="AES256"
        )
        return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(apply_server_side_encryption_by_default=default)
    default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
        sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
    )
    return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
        apply_server_side_encryption_by_default=default, bucket_key_enabled=True
    )


def _lifecycle_rules(noncurrent_days: int, incomplete_upload_days: int) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    return [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-noncurrent-versions",
            status="Enabled",
            filter=_WHOLE_BUCKET,
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=noncurrent_days
            ),
        ),
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-uploads",
            status="Enabled",
            filter=_WHOLE_BUCKET,
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=incomplete_upload_days
            ),
        ),
    ]


def _expire_current_rule(days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="expire-logs",
        status="Enabled",
        filter=_WHOLE_BUCKET,
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
    )


_WHOLE_BUCKET = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
