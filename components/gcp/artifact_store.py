"""A GCS bucket for MLflow artifacts and model files: private, versioned, soft-deleting, logged, protected.

What it gives: the bucket with uniform bucket-level access (IAM only, no object ACLs), public access prevention
enforced, object versioning, soft delete (deleted objects stay restorable for ``soft_delete_days``), lifecycle rules
that delete replaced object versions and abort abandoned multipart uploads, optional encryption with a
customer-managed Cloud KMS key (an existing one, or one created here with GCS's service agent granted on it), and
usage logs delivered to a second bucket hardened the same way, which only Cloud Storage's analytics group may write
to. Its name is ``<name_prefix><random suffix>`` (bucket names are global); no input depends on tags, so a tag
change never replaces it. Neither bucket can be force-destroyed, and both are protected.

GCS serves only HTTPS (TLS 1.2+), so there is no transport policy to write, unlike S3.

What it deliberately does not: grant any workload access. That is ``mlops_platform.gcp.workload_identity``.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random
from pulumi import Input

from .encryption_key import service_encryption_key
from .regions import REGION_PATTERN
from ..tagging import tagged_options
from ..validation import (
    ArgumentError,
    field_path,
    optional_bool,
    optional_int,
    optional_text,
    reject_unknown_keys,
    required_text,
)

_CONFIG_KEYS = frozenset({"name_prefix", "kms_key_name", "customer_managed_key", "noncurrent_days",
                          "incomplete_upload_days", "soft_delete_days", "access_logging", "access_log_days",
                          "location"})
_WIRING_KEYS = frozenset({"project"})
SUFFIX_LENGTH = 8
ACCESS_LOG_PREFIX = "gcs-usage/"
LOG_WRITER = "group:cloud-storage-analytics@google.com"
"""The group Cloud Storage delivers usage logs as; it needs only to create objects in the log bucket."""
_KMS_KEY_NAME = r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[\w-]+/cryptoKeys/[\w-]+"
_LOCATION = r"[A-Za-z]+(-[A-Za-z]+\d+)?\d*"


class ArtifactStoreArgs(TypedDict):
    """Inputs of an artifact store. Every field has a safe default unless it names the workload."""

    name_prefix: str
    """Prefix of the bucket name (3-54 characters: lowercase letters, digits, '-', not containing "google"); a random
    suffix of 8 characters makes it globally unique. A plain string, because the log bucket's name derives from it."""
    project: NotRequired[Input[str]]
    """The project that owns the bucket (default: the provider's)."""
    location: str
    """The bucket's location: a region such as europe-west1 (the platform's region), or a multi-region such as EU;
    with ``customer_managed_key`` it is also the key's location."""
    kms_key_name: NotRequired[Input[str]]
    """An existing Cloud KMS key (``projects/.../cryptoKeys/<key>``) in the bucket's location; GCS's service agent
    must already be allowed to use it. Absent: Google-managed keys, unless ``customer_managed_key``."""
    customer_managed_key: NotRequired[bool]
    """Create a rotated, protected Cloud KMS key for the bucket and grant GCS's service agent on it (default false)."""
    noncurrent_days: NotRequired[int]
    """Days a replaced or deleted object version is kept (1-3650, default 30)."""
    incomplete_upload_days: NotRequired[int]
    """Days after which an unfinished multipart upload is aborted (1-365, default 7)."""
    soft_delete_days: NotRequired[int]
    """Days a deleted object stays restorable, 7-90 (default 7); 0 is the explicit opt-out."""
    access_logging: NotRequired[bool]
    """Usage logs to a dedicated log bucket (default true); false is an explicit opt-out."""
    access_log_days: NotRequired[int]
    """Days usage logs are kept (1-3650, default 365)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class ArtifactStoreSettings:
    name_prefix: str
    project: Any
    location: str
    kms_key_name: Any
    customer_managed_key: bool
    noncurrent_days: int
    incomplete_upload_days: int
    soft_delete_days: int
    access_logging: bool
    access_log_days: int


def validate_artifact_store_args(args: Mapping[str, Any], field: str = "artifact_store", *,
                                 wiring: bool = True) -> ArtifactStoreSettings:
    """Check ``args`` and fill defaults; raises ``ArgumentError`` naming the field, the value and what is allowed.
    With ``wiring=False`` only the keys a stack config may set are accepted."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    prefix = required_text(args, "name_prefix", field, r"[a-z0-9][a-z0-9-]{1,52}[a-z0-9-]",
                           "3 to 54 lowercase letters, digits or '-', starting with a letter or digit", plain=True)
    if "google" in prefix or prefix.startswith("goog"):
        raise ArgumentError(f"{field_path(field, 'name_prefix')}: {prefix!r} is not allowed; GCS refuses bucket "
                            f"names that start with goog or contain google")
    location = required_text(args, "location", field, _LOCATION, "a GCS location such as europe-west1 or EU",
                             plain=True)
    kms_key_name = optional_text(args, "kms_key_name", field, _KMS_KEY_NAME,
                                 "a Cloud KMS key name (projects/<project>/locations/<location>/keyRings/<ring>/"
                                 "cryptoKeys/<key>)")
    customer_managed = optional_bool(args, "customer_managed_key", field, False)
    if customer_managed and kms_key_name is not None:
        raise ArgumentError(f"{field_path(field, 'customer_managed_key')}: True is not allowed with kms_key_name; "
                            f"either bring a key or let the store create one")
    if customer_managed and not re.fullmatch(REGION_PATTERN, location.lower()):
        raise ArgumentError(f"{field_path(field, 'customer_managed_key')}: True is not allowed with location "
                            f"{location!r}; a created key needs a regional bucket (location such as europe-west1), "
                            f"or bring a multi-region key with kms_key_name")
    soft_delete = optional_int(args, "soft_delete_days", field, 7, 0, 90)
    if 0 < soft_delete < 7:
        raise ArgumentError(f"{field_path(field, 'soft_delete_days')}: {soft_delete} is not allowed; use 0 (off) or "
                            f"an integer from 7 to 90")
    return ArtifactStoreSettings(
        name_prefix=prefix,
        project=args.get("project"),
        location=location,
        kms_key_name=kms_key_name,
        customer_managed_key=customer_managed,
        noncurrent_days=optional_int(args, "noncurrent_days", field, 30, 1, 3650),
        incomplete_upload_days=optional_int(args, "incomplete_upload_days", field, 7, 1, 365),
        soft_delete_days=soft_delete,
        access_logging=optional_bool(args, "access_logging", field, True),
        access_log_days=optional_int(args, "access_log_days", field, 365, 1, 3650),
    )


class ArtifactStore(pulumi.ComponentResource):
    """A private, versioned, soft-deleting GCS bucket for MLflow artifacts and model files."""

    name: pulumi.Output[str]
    """The bucket name."""
    self_link: pulumi.Output[str]
    uri: pulumi.Output[str]
    """``gs://<bucket>``: the MLflow artifact destination."""
    kms_key_name: pulumi.Output[str | None]
    """The customer-managed key that encrypts the objects, or None for Google-managed keys."""
    pod_env: pulumi.Output[dict[str, str]]
    """Environment a pod needs, besides its workload identity, to reach the bucket."""

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_artifact_store_args(args)
        super().__init__("mlops:gcp:ArtifactStore", name, None,
                         tagged_options(args.get("tags"), opts, "artifact_store.tags"))
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        agent = gcp.storage.get_project_service_account_output(project=settings.project, opts=invoke)
        suffix = random.RandomString(f"{name}-suffix", length=SUFFIX_LENGTH, upper=False, special=False, opts=child)

        kms_key_name: Input[str] | None = settings.kms_key_name
        after: list[pulumi.Resource] = []
        if settings.customer_managed_key:
            key = service_encryption_key(
                f"{name}-key", parent=self, location=settings.location, project=agent.project,
                agent_member=agent.member)
            kms_key_name, after = key.key.id, [key.grant]

        logging, after_logging = None, []
        if settings.access_logging:
            logs = _hardened_bucket(
                f"{name}-access-logs", self,
                suffix.result.apply(lambda tail: f"{settings.name_prefix.rstrip('-')[:45]}-logs-{tail}"),
                settings, None,
                [*_lifecycle_rules(settings.access_log_days, settings.incomplete_upload_days),
                 _expire_rule(settings.access_log_days)],
            )
            writer = gcp.storage.BucketIAMMember(f"{name}-access-logs-writer", bucket=logs.name,
                                                 role="roles/storage.objectCreator", member=LOG_WRITER, opts=child)
            logging = gcp.storage.BucketLoggingArgs(log_bucket=logs.name, log_object_prefix=ACCESS_LOG_PREFIX)
            after_logging = [writer]
        bucket = _hardened_bucket(
            name, self, suffix.result.apply(lambda tail: f"{settings.name_prefix}{tail}"), settings, kms_key_name,
            _lifecycle_rules(settings.noncurrent_days, settings.incomplete_upload_days),
            logging=logging, after=[*after, *after_logging],
        )
        self.name = bucket.name
        self.self_link = bucket.self_link
        self.uri = bucket.name.apply(lambda bucket_name: f"gs://{bucket_name}")
        self.kms_key_name = pulumi.Output.from_input(kms_key_name)
        self.pod_env = bucket.project.apply(lambda project: {"GOOGLE_CLOUD_PROJECT": project})
        self.register_outputs({"name": self.name, "self_link": self.self_link, "uri": self.uri,
                               "kms_key_name": self.kms_key_name, "pod_env": self.pod_env})


def _hardened_bucket(name: str, parent: pulumi.Resource, bucket_name: Input[str], settings: ArtifactStoreSettings,
                     kms_key_name: Input[str] | None, lifecycle: list[gcp.storage.BucketLifecycleRuleArgs], *,
                     logging: gcp.storage.BucketLoggingArgs | None = None,
                     after: list[pulumi.Resource] | None = None) -> gcp.storage.Bucket:
    """A protected bucket with uniform access, public access prevention, versioning, soft delete and
    ``lifecycle``; encrypted with ``kms_key_name`` when given."""
    return gcp.storage.Bucket(
        f"{name}-bucket",
        name=bucket_name,
        project=settings.project,
        location=settings.location.upper(),
        storage_class="STANDARD",
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        versioning=gcp.storage.BucketVersioningArgs(enabled=True),
        soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(
            retention_duration_seconds=settings.soft_delete_days * 86400),
        lifecycle_rules=lifecycle,
        encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=kms_key_name) if kms_key_name else None,
        logging=logging,
        force_destroy=False,
        opts=pulumi.ResourceOptions(parent=parent, protect=True, depends_on=after or []),
    )


def _lifecycle_rules(noncurrent_days: int, incomplete_upload_days: int) -> list[gcp.storage.BucketLifecycleRuleArgs]:
    return [
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(days_since_noncurrent_time=noncurrent_days,
                                                                   with_state="ARCHIVED"),
        ),
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=incomplete_upload_days),
        ),
    ]


def _expire_rule(days: int) -> gcp.storage.BucketLifecycleRuleArgs:
    return gcp.storage.BucketLifecycleRuleArgs(
        action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
        condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=days, with_state="LIVE"),
    )
